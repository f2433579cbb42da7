// The pass interface and the context passes share. A pass rewrites the
// logical Graph in place; passes hold no state between runs and read every
// option from the context (no global mutable state in the compiler).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compiler/ir/graph.h"
#include "ops/op_schema.h"

namespace ofl::compiler {

/// Options of one compilation; every pass reads what it needs from here.
struct CompileOptions {
  /// Run the fusion pass (off in tests that count unfused ops).
  bool enable_fusion = true;
  /// Run autograd and optimizer insertion when the graph has a loss.
  bool enable_training = true;
};

/// Wall time of one pass, for `ofl compile` and the compile benchmark.
struct PassTiming {
  std::string pass;
  double milliseconds = 0;
  int64_t nodes_after = 0;
};

/// What every pass sees besides the graph.
struct PassContext {
  const OpRegistry& ops;
  CompileOptions options;
  std::vector<PassTiming> timings;
};

/// One rewrite of the logical graph.
class Pass {
 public:
  virtual ~Pass() = default;
  /// Short snake_case name ("sbp_deduction"), used in timings and errors.
  virtual std::string name() const = 0;
  virtual Status Run(Graph& graph, PassContext& context) = 0;
};

}  // namespace ofl::compiler

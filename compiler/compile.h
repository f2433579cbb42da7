// The compiler's entry point: a logical Graph in, a Plan out.
#pragma once

#include <vector>

#include "compiler/ir/graph.h"
#include "compiler/passes/pass.h"
#include "runtime/plan.h"

namespace ofl::compiler {

/// Everything one compilation produces.
struct CompileResult {
  Graph graph;                      ///< the logical graph after all passes
  Plan plan;                        ///< the physical plan
  std::vector<PassTiming> timings;  ///< per pass, then "physical_lowering"
};

/// Runs DefaultPipeline(options) on `graph`, then physical lowering.
StatusOr<CompileResult> Compile(Graph graph, const OpRegistry& ops, const CompileOptions& options = {});

}  // namespace ofl::compiler

// The pass list, as one explicit function (tinygrad style): reading it
// tells the order of compilation.
#pragma once

#include <memory>
#include <vector>

#include "compiler/passes/pass.h"

namespace ofl::compiler {

/// shape_inference -> autograd -> optimizer_insertion ->
/// dead_node_elimination -> sbp_deduction -> boxing_insertion -> fusion ->
/// dead_node_elimination (training passes and fusion only when the options
/// ask for them).
std::vector<std::unique_ptr<Pass>> DefaultPipeline(const CompileOptions& options);

/// Runs `passes` in order, timing each into context.timings. An error is
/// prefixed with the pass name: "[sbp_deduction] ...".
Status RunPasses(const std::vector<std::unique_ptr<Pass>>& passes, Graph& graph, PassContext& context);

}  // namespace ofl::compiler

#include "compiler/passes/pipeline.h"

#include <chrono>

#include "compiler/passes/autograd.h"
#include "compiler/passes/boxing_insertion.h"
#include "compiler/passes/dead_node_elimination.h"
#include "compiler/passes/fusion.h"
#include "compiler/passes/micro_batching.h"
#include "compiler/passes/optimizer_insertion.h"
#include "compiler/passes/sbp_deduction.h"
#include "compiler/passes/shape_inference.h"

namespace ofl::compiler {

std::vector<std::unique_ptr<Pass>> DefaultPipeline(const CompileOptions& options) {
  std::vector<std::unique_ptr<Pass>> passes;
  passes.push_back(MakeShapeInferencePass());
  passes.push_back(MakeMicroBatchingPass());
  if (options.enable_training) {
    passes.push_back(MakeAutogradPass());
    passes.push_back(MakeOptimizerInsertionPass());
  }
  // Dead nodes go before deduction so that they neither cost time nor pull
  // layouts; the second run removes what fusion left unused.
  passes.push_back(MakeDeadNodeEliminationPass());
  passes.push_back(MakeSbpDeductionPass());
  passes.push_back(MakeBoxingInsertionPass());
  if (options.enable_fusion) passes.push_back(MakeFusionPass());
  passes.push_back(MakeDeadNodeEliminationPass());
  return passes;
}

Status RunPasses(const std::vector<std::unique_ptr<Pass>>& passes, Graph& graph, PassContext& context) {
  for (const std::unique_ptr<Pass>& pass : passes) {
    const auto start = std::chrono::steady_clock::now();
    Status status = pass->Run(graph, context);
    const auto stop = std::chrono::steady_clock::now();
    if (!status.ok()) return Status::Error("[" + pass->name() + "] " + status.message());
    context.timings.push_back(PassTiming{
        pass->name(), std::chrono::duration<double, std::milli>(stop - start).count(), graph.NumLiveNodes()});
  }
  return Status::Ok();
}

}  // namespace ofl::compiler

#include "compiler/compile.h"

#include <chrono>

#include "compiler/lower/physical_lowering.h"
#include "compiler/passes/pipeline.h"

namespace ofl::compiler {

StatusOr<CompileResult> Compile(Graph graph, const OpRegistry& ops, const CompileOptions& options) {
  PassContext context{ops, options, {}};
  OFL_RETURN_IF_ERROR(RunPasses(DefaultPipeline(options), graph, context));
  const auto start = std::chrono::steady_clock::now();
  StatusOr<Plan> plan = LowerToPlan(graph, ops);
  const auto stop = std::chrono::steady_clock::now();
  if (!plan.ok()) return Status::Error("[physical_lowering] " + plan.status().message());
  context.timings.push_back(PassTiming{"physical_lowering",
                                       std::chrono::duration<double, std::milli>(stop - start).count(),
                                       graph.NumLiveNodes()});
  return CompileResult{std::move(graph), std::move(plan).value(), std::move(context.timings)};
}

}  // namespace ofl::compiler

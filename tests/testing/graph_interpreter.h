// GraphInterpreter: runs a logical compiler::Graph on whole tensors, one op
// at a time with the EagerExecutor, ignoring placements and SBP. Tests use
// it as the reference for passes (a rewrite must not change the results)
// and for the compiled runtime (the plan must compute the same step).
//
// One Run is one training/inference step:
//   - input nodes read `feeds` by node name (desc must match);
//   - variable nodes read `variables` by node name; a variable not in the
//     map is first initialised from its attrs (initializer = zeros | ones |
//     constant{value} | normal{mean, std, seed} | uniform{low, high, seed},
//     absent = zeros; normal/uniform run the random_normal/random_uniform
//     ops, so values equal what the runtime's initialisers give);
//   - boxing nodes are identities;
//   - registry ops run in topological order, except those that write inputs
//     in place (updates, increment): they run last, in topological order,
//     after every reader of the step, as the runtime orders them. Their
//     writes land in `variables`.
// The result holds every computed value by ValueId, as read during the step
// (a variable's value is its value before this step's updates).
#pragma once

#include <map>
#include <string>

#include "compiler/ir/graph.h"
#include "oneflow_like/host_tensor.h"
#include "ops/eager.h"
#include "ops/registry.h"

namespace ofl::testing {

/// The tensors of one step, by value id.
using ValueTensors = std::map<compiler::ValueId, HostTensor>;

/// Runs compiler::Graphs on whole host tensors (see the file comment).
class GraphInterpreter {
 public:
  /// Uses the ops and kernels of DefaultRegistries().
  GraphInterpreter();
  GraphInterpreter(const OpRegistry& ops, const KernelRegistry& kernels);

  /// Runs one step of `graph`; errors name the node that failed.
  StatusOr<ValueTensors> Run(const compiler::Graph& graph, const std::map<std::string, HostTensor>& feeds,
                             std::map<std::string, HostTensor>& variables) const;

  /// The initial value of variable node `node` of description `desc`.
  StatusOr<HostTensor> InitialValue(const compiler::Node& node, const TensorDesc& desc) const;

 private:
  EagerExecutor executor_;
};

/// The tensor of fetch `name` in `result`, or an error naming the fetch.
StatusOr<HostTensor> FetchedTensor(const compiler::Graph& graph, const ValueTensors& result,
                                   const std::string& name);

}  // namespace ofl::testing

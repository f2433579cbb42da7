#include "compiler/ir/graph_emitter.h"

namespace ofl::compiler {

GraphEmitter::GraphEmitter(Graph& graph, const OpRegistry& ops, Placement placement, NodeRole role,
                           std::string name_prefix)
    : graph_(graph),
      ops_(ops),
      placement_(std::move(placement)),
      role_(role),
      name_prefix_(std::move(name_prefix)) {}

std::string GraphEmitter::UniqueName(const std::string& base) {
  const std::string stem = name_prefix_.empty() ? base : name_prefix_ + "/" + base;
  // Names are checked against a per-emitter counter first: scanning the
  // graph for every emitted op would make building quadratic.
  int& count = counters_[stem];
  std::string name = count == 0 ? stem : stem + "_" + std::to_string(count);
  ++count;
  while (graph_.FindNode(name) >= 0) name = stem + "_" + std::to_string(count++);
  return name;
}

StatusOr<std::vector<ValueRef>> GraphEmitter::Emit(const std::string& op, const std::vector<ValueRef>& inputs,
                                                   const AttrMap& attrs) {
  return EmitNamed(UniqueName(op), op, inputs, attrs);
}

StatusOr<std::vector<ValueRef>> GraphEmitter::EmitNamed(const std::string& name, const std::string& op,
                                                        const std::vector<ValueRef>& inputs,
                                                        const AttrMap& attrs) {
  std::vector<ValueId> input_ids;
  input_ids.reserve(inputs.size());
  for (const ValueRef& input : inputs) input_ids.push_back(input.id);
  OFL_ASSIGN_OR_RETURN(NodeId id,
                       graph_.AddOp(ops_, op, name, std::move(input_ids), attrs, placement_, role_));
  emitted_.push_back(id);
  std::vector<ValueRef> outputs;
  for (ValueId output : graph_.node(id).outputs) outputs.push_back(ValueRef{output});
  return outputs;
}

}  // namespace ofl::compiler

#include "compiler/passes/boxing_insertion.h"

#include <string>
#include <unordered_map>
#include <vector>

#include "compiler/boxing/boxing_kind.h"

namespace ofl::compiler {

std::vector<NdSbp> BoxingSteps(const Placement& from_placement, const NdSbp& from,
                               const Placement& to_placement, const NdSbp& to) {
  if (from_placement != to_placement || from.size() != to.size() ||
      ClassifyBoxing(from_placement, from, to_placement, to) != BoxingKind::kGeneral) {
    return {to};
  }
  // Convert the differing mesh axes one at a time, first to last (the order
  // the cost model charges) or else last to first; each step must be a
  // single-axis fast path.
  const int rank = static_cast<int>(from.size());
  for (const bool forward : {true, false}) {
    std::vector<NdSbp> steps;
    NdSbp current = from;
    bool fast = true;
    for (int k = 0; k < rank && fast; ++k) {
      const int axis = forward ? k : rank - 1 - k;
      if (current[axis] == to[axis]) continue;
      NdSbp next = current;
      next[axis] = to[axis];
      fast = ClassifyBoxing(from_placement, current, to_placement, next) != BoxingKind::kGeneral;
      steps.push_back(next);
      current = std::move(next);
    }
    if (fast && steps.size() >= 2) return steps;
  }
  return {to};
}

namespace {

// A boxed copy of one value already made in this run.
struct BoxedCopy {
  Placement placement;
  NdSbp sbp;
  ValueId value = -1;
};

// The boxing nodes of one run: reuses copies, names new nodes.
class BoxingBuilder {
 public:
  explicit BoxingBuilder(Graph& graph) : graph_(graph) {}

  // The copy of `source` as (placement, target), made from `from` (source
  // itself or an earlier step of a chain) unless one exists already.
  ValueId BoxedOrAdd(ValueId source, ValueId from, const Placement& placement, const NdSbp& target,
                     NodeRole role) {
    for (const BoxedCopy& copy : copies_[source]) {
      if (copy.sbp == target && copy.placement == placement) return copy.value;
    }
    const ValueId boxed = AddBoxing(source, from, placement, target, role);
    copies_[source].push_back(BoxedCopy{placement, target, boxed});
    return boxed;
  }

 private:
  // Adds the boxing node that gives `from` as (placement, target); it is
  // named after `source`'s producer. Returns its output value.
  ValueId AddBoxing(ValueId source, ValueId from, const Placement& placement, const NdSbp& target,
                    NodeRole role) {
    Graph& graph = graph_;
    const Value& value = graph.value(from);
    int mesh_axis = -1;
    const BoxingKind kind = ClassifyBoxing(value.placement, value.sbp, placement, target, &mesh_axis);
    AttrMap attrs;
    attrs.Set("kind", BoxingKindName(kind));
    if (placement.hierarchy().rank() >= 2 && mesh_axis >= 0)
      attrs.Set("mesh_axis", static_cast<int64_t>(mesh_axis));
    const Node& producer = graph.producer(source);
    const std::string base =
        (producer.name.empty() ? "value" + std::to_string(source) : producer.name) + ".boxing_";
    int& index = next_index_[producer.id];
    std::string name = base + std::to_string(index++);
    while (graph.FindNode(name) >= 0) name = base + std::to_string(index++);
    // Copies: AddNode may move what `value` refers to.
    const TensorDesc desc = value.desc;
    const NdSbp source_sbp = value.sbp;
    const NodeId boxing = graph.AddNode(kBoxingOp, name, {from}, std::move(attrs), {desc}, placement, role);
    graph.mutable_node(boxing).input_sbps = {source_sbp};
    const ValueId output = graph.node(boxing).outputs[0];
    graph.mutable_value(output).sbp = target;
    return output;
  }

  Graph& graph_;
  std::unordered_map<ValueId, std::vector<BoxedCopy>> copies_;  // by source value
  std::unordered_map<NodeId, int> next_index_;                  // next name index per producer
};

class BoxingInsertionPass final : public Pass {
 public:
  std::string name() const override { return "boxing_insertion"; }

  Status Run(Graph& graph, PassContext& /*context*/) override {
    OFL_ASSIGN_OR_RETURN(const std::vector<NodeId> order, graph.TopologicalOrder());
    BoxingBuilder builder(graph);
    for (NodeId id : order) {
      if (graph.node(id).IsBoxing()) continue;
      const size_t num_inputs = graph.node(id).inputs.size();
      OFL_CHECK_OR_RETURN(graph.node(id).input_sbps.size() == num_inputs)
          << Describe(graph.node(id)) << ": expected a deduced layout for each of its " << num_inputs
          << " inputs, got " << graph.node(id).input_sbps.size() << " (run sbp_deduction first)";
      for (size_t i = 0; i < num_inputs; ++i) {
        // Re-read on every input: AddNode below may move the node arrays.
        const Node& node = graph.node(id);
        const Value& value = graph.value(node.inputs[i]);
        OFL_CHECK_OR_RETURN(!value.sbp.empty())
            << Describe(node) << ": input " << i << " from " << Describe(graph.producer(value.id))
            << " has no layout (run sbp_deduction first)";
        if (value.placement == node.placement && value.sbp == node.input_sbps[i]) continue;
        // Copies: adding nodes may move the node and value arrays.
        const ValueId source = value.id;
        const Placement placement = node.placement;
        const NdSbp target = node.input_sbps[i];
        const NodeRole role = node.role;
        ValueId current = source;
        for (const NdSbp& step : BoxingSteps(value.placement, value.sbp, placement, target)) {
          current = builder.BoxedOrAdd(source, current, placement, step, role);
        }
        graph.mutable_node(id).inputs[i] = current;
      }
    }
    return Status::Ok();
  }
};

}  // namespace

std::unique_ptr<Pass> MakeBoxingInsertionPass() { return std::make_unique<BoxingInsertionPass>(); }

}  // namespace ofl::compiler

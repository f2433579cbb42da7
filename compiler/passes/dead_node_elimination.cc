#include "compiler/passes/dead_node_elimination.h"

namespace ofl::compiler {
namespace {

// A node whose effect is not (only) its outputs.
bool HasSideEffect(const OpRegistry& ops, const Node& node) {
  if (node.IsInput() || node.IsVariable()) return true;
  if (node.IsBoxing()) return false;
  const OpSchema* schema = ops.Find(node.op);
  return schema == nullptr || !schema->mutated_inputs.empty() || node.outputs.empty();
}

class DeadNodeEliminationPass final : public Pass {
 public:
  std::string name() const override { return "dead_node_elimination"; }

  Status Run(Graph& graph, PassContext& context) override {
    std::vector<bool> live(graph.num_node_slots(), false);
    std::vector<NodeId> stack;
    auto keep_value = [&](ValueId value) {
      const NodeId producer = graph.value(value).producer;
      if (producer >= 0 && !live[producer] && !graph.node(producer).removed) {
        live[producer] = true;
        stack.push_back(producer);
      }
    };
    for (const Fetch& fetch : graph.fetches()) keep_value(fetch.value);
    if (graph.loss() >= 0) keep_value(graph.loss());
    for (NodeId id : graph.LiveNodes()) {
      if (HasSideEffect(context.ops, graph.node(id)) && !live[id]) {
        live[id] = true;
        stack.push_back(id);
      }
    }
    while (!stack.empty()) {
      const NodeId id = stack.back();
      stack.pop_back();
      for (ValueId input : graph.node(id).inputs) keep_value(input);
    }
    for (NodeId id : graph.LiveNodes()) {
      if (!live[id]) graph.RemoveNode(id);
    }
    std::map<ValueId, ValueId>& gradients = graph.gradients();
    for (auto it = gradients.begin(); it != gradients.end();) {
      it = graph.producer(it->second).removed ? gradients.erase(it) : std::next(it);
    }
    return Status::Ok();
  }
};

}  // namespace

std::unique_ptr<Pass> MakeDeadNodeEliminationPass() { return std::make_unique<DeadNodeEliminationPass>(); }

}  // namespace ofl::compiler

#include "compiler/ir/graph.h"

#include <deque>

#include "compiler/ir/graph_text.h"

namespace ofl::compiler {

std::string NodeRoleName(NodeRole role) {
  switch (role) {
    case NodeRole::kForward:
      return "forward";
    case NodeRole::kBackward:
      return "backward";
    case NodeRole::kOptimizer:
      return "optimizer";
  }
  return "unknown";
}

StatusOr<NodeRole> ParseNodeRole(const std::string& text) {
  if (text == "forward") return NodeRole::kForward;
  if (text == "backward") return NodeRole::kBackward;
  if (text == "optimizer") return NodeRole::kOptimizer;
  return Status::Error("[graph] expected a role forward|backward|optimizer, got '" + text + "'");
}

std::string Describe(const Node& node) {
  if (node.name.empty()) return "node " + std::to_string(node.id) + " (" + node.op + ")";
  return "'" + node.name + "' (" + node.op + ")";
}

NodeId Graph::AddNode(std::string op, std::string name, std::vector<ValueId> inputs, AttrMap attrs,
                      const std::vector<TensorDesc>& output_descs, Placement placement, NodeRole role) {
  Node node;
  node.id = static_cast<NodeId>(nodes_.size());
  node.op = std::move(op);
  node.name = std::move(name);
  node.attrs = std::move(attrs);
  node.inputs = std::move(inputs);
  node.placement = std::move(placement);
  node.role = role;
  for (size_t i = 0; i < output_descs.size(); ++i) {
    Value value;
    value.id = static_cast<ValueId>(values_.size());
    value.desc = output_descs[i];
    value.placement = node.placement;
    value.producer = node.id;
    value.output_index = static_cast<int>(i);
    node.outputs.push_back(value.id);
    values_.push_back(std::move(value));
  }
  if (!node.name.empty()) names_[node.name] = node.id;
  nodes_.push_back(std::move(node));
  return nodes_.back().id;
}

StatusOr<NodeId> Graph::AddOp(const OpRegistry& ops, const std::string& op, std::string name,
                              std::vector<ValueId> inputs, const AttrMap& attrs, Placement placement,
                              NodeRole role) {
  std::vector<TensorDesc> input_descs;
  input_descs.reserve(inputs.size());
  for (ValueId input : inputs) {
    if (input < 0 || input >= num_value_slots()) {
      return Status::Error("[graph] '" + name + "' (" + op + "): input value " + std::to_string(input) +
                           " does not exist");
    }
    input_descs.push_back(values_[input].desc);
  }
  StatusOr<InferredOp> inferred = ops.Infer(op, input_descs, attrs);
  if (!inferred.ok()) return inferred.status().WithContext("'" + name + "'");
  return AddNode(op, std::move(name), std::move(inputs), std::move(inferred.value().attrs),
                 inferred.value().outputs, std::move(placement), role);
}

ValueId Graph::AddInput(std::string name, TensorDesc desc, Placement placement, NdSbp sbp) {
  const NodeId id =
      AddNode(kInputOp, std::move(name), {}, {}, {desc}, std::move(placement), NodeRole::kForward);
  Value& value = values_[nodes_[id].outputs[0]];
  if (!sbp.empty()) value.sbp_hint = std::move(sbp);
  return value.id;
}

ValueId Graph::AddVariable(std::string name, TensorDesc desc, Placement placement, NdSbp sbp,
                           AttrMap initializer) {
  if (!initializer.Has("trainable")) initializer.Set("trainable", true);
  const NodeId id = AddNode(kVariableOp, std::move(name), {}, std::move(initializer), {desc},
                            std::move(placement), NodeRole::kForward);
  Value& value = values_[nodes_[id].outputs[0]];
  if (!sbp.empty()) value.sbp_hint = std::move(sbp);
  return value.id;
}

std::vector<NodeId> Graph::LiveNodes() const {
  std::vector<NodeId> live;
  live.reserve(nodes_.size());
  for (const Node& node : nodes_) {
    if (!node.removed) live.push_back(node.id);
  }
  return live;
}

int64_t Graph::NumLiveNodes() const {
  int64_t count = 0;
  for (const Node& node : nodes_) count += node.removed ? 0 : 1;
  return count;
}

StatusOr<std::vector<NodeId>> Graph::TopologicalOrder() const {
  // Kahn's algorithm; ready nodes leave in creation order (a min-queue on
  // ids would cost a log factor; a FIFO seeded in id order keeps most
  // graphs, which are built in order, in creation order anyway).
  std::vector<int64_t> pending(nodes_.size(), 0);
  std::vector<Uses> uses = ComputeUses();
  std::deque<NodeId> ready;
  int64_t live = 0;
  for (const Node& node : nodes_) {
    if (node.removed) continue;
    ++live;
    for (ValueId input : node.inputs) {
      if (!nodes_[values_[input].producer].removed) ++pending[node.id];
    }
    if (pending[node.id] == 0) ready.push_back(node.id);
  }
  std::vector<NodeId> order;
  order.reserve(live);
  while (!ready.empty()) {
    const NodeId id = ready.front();
    ready.pop_front();
    order.push_back(id);
    for (ValueId output : nodes_[id].outputs) {
      for (const auto& [consumer, position] : uses[output]) {
        if (--pending[consumer] == 0) ready.push_back(consumer);
      }
    }
  }
  if (static_cast<int64_t>(order.size()) != live) {
    for (const Node& node : nodes_) {
      if (!node.removed && pending[node.id] > 0) {
        return Status::Error("[graph] cycle: " + Describe(node) + " depends on its own output");
      }
    }
  }
  return order;
}

std::vector<Uses> Graph::ComputeUses() const {
  std::vector<Uses> uses(values_.size());
  for (const Node& node : nodes_) {
    if (node.removed) continue;
    for (size_t i = 0; i < node.inputs.size(); ++i)
      uses[node.inputs[i]].emplace_back(node.id, static_cast<int>(i));
  }
  return uses;
}

NodeId Graph::FindNode(const std::string& name) const {
  auto it = names_.find(name);
  if (it == names_.end() || nodes_[it->second].removed) return -1;
  return it->second;
}

void Graph::ReplaceAllUses(ValueId from, ValueId to) {
  for (Node& node : nodes_) {
    if (node.removed) continue;
    for (ValueId& input : node.inputs) {
      if (input == from) input = to;
    }
  }
  for (Fetch& fetch : fetches_) {
    if (fetch.value == from) fetch.value = to;
  }
  if (loss_ == from) loss_ = to;
}

std::string Graph::ToText() const { return PrintGraph(*this); }

}  // namespace ofl::compiler

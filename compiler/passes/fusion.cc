#include "compiler/passes/fusion.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ofl::compiler {
namespace {

// What the pass reads of the graph, computed once. Uses are not updated
// while rewriting, and need not be: a rewrite clears the uses of the value
// it removes (t, g2) and adds uses to the chain's inputs (x, b, g, scale).
// A chain input that is itself a candidate (the output of another bias_add
// or mul) already had a use by this chain's bias_add or mul, which is not
// a gelu or an adam_update, so it was rejected before and stays rejected:
// stale lists never change a decision.
struct FusionState {
  Graph& graph;
  const OpRegistry& ops;
  std::vector<Uses> uses;
  /// Values something outside the nodes needs: fetches, the loss, gradients.
  std::vector<bool> pinned;
};

std::string StringAttr(const Node& node, const std::string& name, const std::string& fallback) {
  return node.attrs.Has(name) ? node.attrs.GetString(name) : fallback;
}

int64_t IntAttr(const Node& node, const std::string& name, int64_t fallback) {
  return node.attrs.Has(name) ? node.attrs.GetInt(name) : fallback;
}

// Whether the chain's nodes carry deduced input sbps: all of them (true),
// none (false: the pass runs before SBP deduction, as in tests), or only
// some (nullopt: an inconsistent graph; the chain is left alone).
std::optional<bool> Deduced(const Graph& graph, const std::vector<NodeId>& nodes) {
  int with_sbps = 0;
  for (NodeId id : nodes) {
    const Node& node = graph.node(id);
    if (node.input_sbps.size() == node.inputs.size() && !node.inputs.empty()) ++with_sbps;
  }
  if (with_sbps == 0) return false;
  if (with_sbps == static_cast<int>(nodes.size())) return true;
  return std::nullopt;
}

// The sbps with which the rewritten node reads its inputs: input i as
// parts[i] = (node, position) of the chain read it.
std::vector<NdSbp> ReadSbps(const Graph& graph, bool deduced,
                            const std::vector<std::pair<NodeId, int>>& parts) {
  std::vector<NdSbp> sbps;
  if (!deduced) return sbps;
  for (const auto& [id, position] : parts) sbps.push_back(graph.node(id).input_sbps[position]);
  return sbps;
}

// A node reads `value` at `position` without boxing in between: after
// boxing insertion the value carries exactly the layout the node reads.
bool ReadsUnboxed(const Graph& graph, const Node& node, int position) {
  if (node.input_sbps.empty()) return true;
  return node.input_sbps[position] == graph.value(node.inputs[position]).sbp;
}

// Turns `node` into `op` with `inputs` and `attrs`, checked by inference:
// the fused op must produce exactly the outputs the node had.
Status RewriteNode(FusionState& state, NodeId id, const std::string& op, std::vector<ValueId> inputs,
                   const AttrMap& attrs, std::vector<NdSbp> input_sbps) {
  Node& node = state.graph.mutable_node(id);
  std::vector<TensorDesc> descs;
  for (ValueId input : inputs) descs.push_back(state.graph.value(input).desc);
  StatusOr<InferredOp> inferred = state.ops.Infer(op, descs, attrs);
  if (!inferred.ok()) {
    return Status::Error(Describe(node) + ": expected the fused " + op + " to infer, got " +
                         inferred.status().message());
  }
  bool same = inferred.value().outputs.size() == node.outputs.size();
  for (size_t o = 0; same && o < node.outputs.size(); ++o) {
    same = inferred.value().outputs[o] == state.graph.value(node.outputs[o]).desc;
  }
  if (!same) {
    return Status::Error(Describe(node) + ": expected " + op +
                         " to produce the outputs of the node it replaces");
  }
  node.op = op;
  node.inputs = std::move(inputs);
  node.attrs = std::move(inferred.value().attrs);
  node.input_sbps = std::move(input_sbps);
  return Status::Ok();
}

// Rewrite 1 (fusion.h) around `gelu_id`.
Status TryFuseBiasAddGelu(FusionState& state, NodeId gelu_id) {
  Graph& graph = state.graph;
  const Node& gelu = graph.node(gelu_id);
  if (gelu.inputs.size() != 1 || gelu.outputs.size() != 1) return Status::Ok();
  const ValueId t = gelu.inputs[0];
  if (state.pinned[t]) return Status::Ok();
  const NodeId bias_add_id = graph.value(t).producer;
  if (bias_add_id < 0) return Status::Ok();
  const Node& bias_add = graph.node(bias_add_id);
  if (bias_add.removed || bias_add.op != "bias_add" || bias_add.inputs.size() != 2 ||
      bias_add.outputs.size() != 1 || bias_add.placement != gelu.placement || !ReadsUnboxed(graph, gelu, 0)) {
    return Status::Ok();
  }
  const std::string approximate = StringAttr(gelu, "approximate", "none");
  std::vector<NodeId> backward;
  for (const auto& [consumer, position] : state.uses[t]) {
    if (consumer == gelu_id) continue;
    const Node& user = graph.node(consumer);
    const bool is_its_backward = user.op == "gelu_grad" && position == 0 && user.inputs.size() == 2 &&
                                 user.inputs[1] != t &&
                                 StringAttr(user, "approximate", "none") == approximate &&
                                 user.placement == bias_add.placement && ReadsUnboxed(graph, user, 0);
    if (!is_its_backward) return Status::Ok();
    backward.push_back(consumer);
  }

  std::vector<NodeId> chain = backward;
  chain.push_back(gelu_id);
  chain.push_back(bias_add_id);
  const std::optional<bool> deduced = Deduced(graph, chain);
  if (!deduced) return Status::Ok();

  AttrMap attrs;
  attrs.Set("axis", IntAttr(bias_add, "axis", -1));
  attrs.Set("approximate", approximate);
  const ValueId x = bias_add.inputs[0];
  const ValueId bias = bias_add.inputs[1];
  // x and b are read as bias_add read them: that gives t's layout, the one
  // gelu and gelu_grad read t with.
  OFL_RETURN_IF_ERROR(RewriteNode(state, gelu_id, "bias_add_gelu", {x, bias}, attrs,
                                  ReadSbps(graph, *deduced, {{bias_add_id, 0}, {bias_add_id, 1}})));
  for (NodeId grad : backward) {
    const ValueId dy = graph.node(grad).inputs[1];
    OFL_RETURN_IF_ERROR(
        RewriteNode(state, grad, "bias_add_gelu_grad", {dy, x, bias}, attrs,
                    ReadSbps(graph, *deduced, {{grad, 1}, {bias_add_id, 0}, {bias_add_id, 1}})));
  }
  graph.RemoveNode(bias_add_id);
  return Status::Ok();
}

// Rewrite 2 (fusion.h) around `adam_id`.
Status TryFuseScaledAdam(FusionState& state, NodeId adam_id) {
  Graph& graph = state.graph;
  const Node& adam = graph.node(adam_id);
  if (adam.inputs.size() != 6) return Status::Ok();
  const ValueId g2 = adam.inputs[1];
  if (state.pinned[g2] || state.uses[g2].size() != 1) return Status::Ok();
  const NodeId mul_id = graph.value(g2).producer;
  if (mul_id < 0) return Status::Ok();
  const Node& mul = graph.node(mul_id);
  if (mul.removed || mul.op != "mul" || mul.inputs.size() != 2 || mul.placement != adam.placement ||
      !ReadsUnboxed(graph, adam, 1)) {
    return Status::Ok();
  }
  // Which mul operand is the gradient: shaped like g2 (no broadcast), the
  // other a [] scale. mul is commutative, so either order fuses.
  int grad_position = -1;
  for (int k : {0, 1}) {
    const TensorDesc& grad = graph.value(mul.inputs[k]).desc;
    const TensorDesc& scale = graph.value(mul.inputs[1 - k]).desc;
    if (grad == graph.value(g2).desc && scale.shape.rank() == 0) {
      grad_position = k;
      break;
    }
  }
  if (grad_position < 0) return Status::Ok();
  const int scale_position = 1 - grad_position;
  const std::optional<bool> deduced = Deduced(graph, {adam_id, mul_id});
  if (!deduced) return Status::Ok();
  std::vector<NdSbp> sbps = ReadSbps(graph, *deduced,
                                     {{adam_id, 0},
                                      {mul_id, grad_position},
                                      {adam_id, 2},
                                      {adam_id, 3},
                                      {adam_id, 4},
                                      {adam_id, 5},
                                      {mul_id, scale_position}});
  std::vector<ValueId> inputs = {
      adam.inputs[0], mul.inputs[grad_position], adam.inputs[2], adam.inputs[3], adam.inputs[4],
      adam.inputs[5], mul.inputs[scale_position]};
  const AttrMap attrs = adam.attrs;
  OFL_RETURN_IF_ERROR(
      RewriteNode(state, adam_id, "adam_update_scaled", std::move(inputs), attrs, std::move(sbps)));
  graph.RemoveNode(mul_id);
  return Status::Ok();
}

class FusionPass final : public Pass {
 public:
  std::string name() const override { return "fusion"; }

  Status Run(Graph& graph, PassContext& context) override {
    FusionState state{graph, context.ops, graph.ComputeUses(),
                      std::vector<bool>(graph.num_value_slots(), false)};
    for (const Fetch& fetch : graph.fetches()) state.pinned[fetch.value] = true;
    if (graph.loss() >= 0) state.pinned[graph.loss()] = true;
    for (const auto& [variable, gradient] : graph.gradients()) state.pinned[gradient] = true;
    for (NodeId id : graph.LiveNodes()) {
      // A rewrite removes only producers (bias_add, mul), never a gelu or
      // an adam_update, but a producer may come later in creation order.
      const Node& node = graph.node(id);
      if (node.removed) continue;
      if (node.op == "gelu") {
        OFL_RETURN_IF_ERROR(TryFuseBiasAddGelu(state, id));
      } else if (node.op == "adam_update") {
        OFL_RETURN_IF_ERROR(TryFuseScaledAdam(state, id));
      }
    }
    return Status::Ok();
  }
};

}  // namespace

std::unique_ptr<Pass> MakeFusionPass() { return std::make_unique<FusionPass>(); }

}  // namespace ofl::compiler

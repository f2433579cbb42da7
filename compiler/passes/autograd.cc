#include "compiler/passes/autograd.h"

#include <map>
#include <vector>

#include "compiler/ir/graph_emitter.h"
#include "compiler/passes/micro_batching.h"
#include "ops/common/grad_helpers.h"

namespace ofl::compiler {
namespace {

// The attr trainable of a variable node (true when absent).
StatusOr<bool> IsTrainable(const Node& node) {
  if (!node.attrs.Has("trainable")) return true;
  const AttrValue& value = node.attrs.Get("trainable");
  OFL_CHECK_OR_RETURN(std::holds_alternative<bool>(value))
      << Describe(node) << ": attribute trainable: expected bool, got " << AttrTypeName(value) << " "
      << AttrValueToString(value);
  return std::get<bool>(value);
}

// The gradient of `value` from its contributions: the one contribution, one
// add_n of all, or zeros when there is none.
StatusOr<ValueId> SumContributions(GraphEmitter& emitter, ValueId value, const std::vector<ValueId>& parts) {
  if (parts.size() == 1) return parts[0];
  if (parts.empty()) {
    OFL_ASSIGN_OR_RETURN(ValueRef zeros, ZerosLike(emitter, ValueRef{value}));
    return zeros.id;
  }
  std::vector<ValueRef> refs;
  refs.reserve(parts.size());
  for (ValueId part : parts) refs.push_back(ValueRef{part});
  OFL_ASSIGN_OR_RETURN(ValueRef sum, emitter.Emit1("add_n", refs));
  return sum.id;
}

// A layout hint on a forward value also constrains its gradient: the
// gradient of a value hinted S(k) is hinted S(k), of B (or P) hinted B. This
// is what turns a user's B hints at the boundaries of a Megatron block into
// its f/g operators: all-reduce of the block output in forward, of the
// block input's gradient in backward, and nothing else. A gradient value
// that already carries another hint gets an identity op to carry this one.
StatusOr<ValueId> CarryHint(GraphEmitter& emitter, ValueId forward, ValueId grad) {
  Graph& graph = emitter.graph();
  const std::optional<NdSbp>& hint = graph.value(forward).sbp_hint;
  if (!hint || graph.producer(forward).IsVariable()) return grad;
  NdSbp grad_hint = *hint;
  for (Sbp& sbp : grad_hint) {
    if (sbp.IsPartial()) sbp = Sbp::Broadcast();
  }
  if (graph.value(grad).sbp_hint && *graph.value(grad).sbp_hint != grad_hint) {
    OFL_ASSIGN_OR_RETURN(ValueRef carried, emitter.Emit1("identity", {ValueRef{grad}}));
    grad = carried.id;
  }
  graph.mutable_value(grad).sbp_hint = grad_hint;
  return grad;
}

class AutogradPass final : public Pass {
 public:
  std::string name() const override { return "autograd"; }

  Status Run(Graph& graph, PassContext& context) override {
    if (graph.loss() < 0 || !context.options.enable_training || !graph.gradients().empty()) {
      return Status::Ok();
    }
    const OpRegistry& ops = context.ops;
    const ValueId loss = graph.loss();
    OFL_CHECK_OR_RETURN(loss < graph.num_value_slots()) << "loss: value " << loss << " does not exist";
    {
      const Value& loss_value = graph.value(loss);
      OFL_CHECK_OR_RETURN(IsFloatingPoint(loss_value.desc.dtype) && loss_value.desc.shape.rank() == 0)
          << "loss " << Describe(graph.producer(loss))
          << ": expected a floating-point scalar (shape []), found " << loss_value.desc.ToString()
          << " (reduce it, e.g. with reduce_mean)";
    }
    OFL_ASSIGN_OR_RETURN(const std::vector<NodeId> order, graph.TopologicalOrder());

    // from_variable: the value depends on a trainable variable through
    // floating-point values; to_loss: the loss depends on the value.
    const int64_t num_values = graph.num_value_slots();
    std::vector<bool> from_variable(num_values, false);
    std::vector<bool> to_loss(num_values, false);
    std::vector<ValueId> trainable;
    for (NodeId id : order) {
      const Node& node = graph.node(id);
      if (node.IsVariable()) {
        OFL_ASSIGN_OR_RETURN(const bool is_trainable, IsTrainable(node));
        const ValueId out = node.outputs[0];
        if (is_trainable && IsFloatingPoint(graph.value(out).desc.dtype)) {
          from_variable[out] = true;
          trainable.push_back(out);
        }
        continue;
      }
      bool any = false;
      for (ValueId input : node.inputs) any = any || from_variable[input];
      if (!any) continue;
      for (ValueId output : node.outputs)
        from_variable[output] = IsFloatingPoint(graph.value(output).desc.dtype);
    }
    to_loss[loss] = true;
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      const Node& node = graph.node(*it);
      bool any = false;
      for (ValueId output : node.outputs) any = any || to_loss[output];
      if (!any) continue;
      for (ValueId input : node.inputs) to_loss[input] = true;
    }
    auto needed = [&](ValueId value) { return from_variable[value] && to_loss[value]; };
    // Minimising a loss that no trainable variable influences would compile
    // into a job that silently never learns.
    OFL_CHECK_OR_RETURN(needed(loss))
        << "loss " << Describe(graph.producer(loss))
        << ": expected it to depend on a trainable variable (minimize has nothing to update), found none";

    // Gradient contributions per value, filled by the consumers (which come
    // later in topological order, so they are visited first going back).
    std::map<ValueId, std::vector<ValueId>> contributions;
    {
      const Node& loss_node = graph.producer(loss);
      GraphEmitter seed(graph, ops, loss_node.placement, NodeRole::kBackward, loss_node.name + ".grad");
      // With M micro-batches the loss is each micro-batch's mean and the
      // gradients are summed over micro-batches (acc): seeding 1/M makes the
      // sum the gradient of the mean over the whole batch.
      OFL_ASSIGN_OR_RETURN(const int64_t micro_batches, MicroBatchesOf(graph));
      OFL_ASSIGN_OR_RETURN(ValueRef ones,
                           seed.Emit1("fill", {},
                                      {{"shape", Shape{}},
                                       {"dtype", graph.value(loss).desc.dtype},
                                       {"value", 1.0 / static_cast<double>(micro_batches)}}));
      contributions[loss].push_back(ones.id);
    }

    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      {
        const Node& forward = graph.node(*it);
        if (forward.IsVariable() || forward.IsInput()) continue;
        bool active = false;
        for (ValueId output : forward.outputs) active = active || needed(output);
        if (!active) continue;
      }
      // A copy: emitting grows the node array and invalidates references.
      const Node node = graph.node(*it);

      GraphEmitter emitter(graph, ops, node.placement, NodeRole::kBackward, node.name + ".grad");
      std::vector<ValueRef> output_grads;
      for (ValueId output : node.outputs) {
        OFL_ASSIGN_OR_RETURN(ValueId grad, SumContributions(emitter, output, contributions[output]));
        OFL_ASSIGN_OR_RETURN(grad, CarryHint(emitter, output, grad));
        output_grads.push_back(ValueRef{grad});
      }
      std::vector<ValueRef> input_grads(node.inputs.size());
      std::vector<bool> needs_input_grad(node.inputs.size());
      for (size_t i = 0; i < node.inputs.size(); ++i) needs_input_grad[i] = needed(node.inputs[i]);

      if (node.IsBoxing()) {
        // Boxing moves a tensor without changing it: the gradient passes.
        input_grads[0] = output_grads[0];
      } else {
        const OpSchema* schema = ops.Find(node.op);
        OFL_CHECK_OR_RETURN(schema != nullptr) << Describe(node) << ": unknown op '" << node.op << "'";
        OFL_CHECK_OR_RETURN(schema->grad != nullptr)
            << Describe(node) << ": expected a gradient rule for op '" << node.op
            << "' (the loss depends on a trainable variable through it), found none";
        GradContext grad_context;
        grad_context.emitter = &emitter;
        grad_context.attrs = &node.attrs;
        for (ValueId input : node.inputs) grad_context.inputs.push_back(ValueRef{input});
        for (ValueId output : node.outputs) grad_context.outputs.push_back(ValueRef{output});
        grad_context.output_grads = output_grads;
        grad_context.needs_input_grad = needs_input_grad;
        grad_context.input_grads.assign(node.inputs.size(), ValueRef{});
        const Status status = schema->grad(grad_context);
        if (!status.ok()) return status.WithContext(Describe(node) + ": gradient rule");
        input_grads = grad_context.input_grads;
      }

      for (size_t i = 0; i < node.inputs.size(); ++i) {
        if (!needs_input_grad[i]) continue;
        const ValueId input = node.inputs[i];
        OFL_CHECK_OR_RETURN(input_grads[i].valid())
            << Describe(node) << ": gradient rule: expected a gradient for input " << i << ", found none";
        const TensorDesc& expected = graph.value(input).desc;
        const TensorDesc& found = graph.value(input_grads[i].id).desc;
        OFL_CHECK_OR_RETURN(expected == found)
            << Describe(node) << ": gradient rule: input " << i << ": expected a gradient of "
            << expected.ToString() << ", found " << found.ToString();
        contributions[input].push_back(input_grads[i].id);
      }
    }

    for (ValueId variable : trainable) {
      auto found = contributions.find(variable);
      if (found == contributions.end() || !needed(variable)) continue;
      const Node& variable_node = graph.producer(variable);
      GraphEmitter emitter(graph, ops, variable_node.placement, NodeRole::kBackward,
                           variable_node.name + ".grad");
      OFL_ASSIGN_OR_RETURN(const ValueId grad, SumContributions(emitter, variable, found->second));
      graph.gradients()[variable] = grad;
    }
    return Status::Ok();
  }
};

}  // namespace

std::unique_ptr<Pass> MakeAutogradPass() { return std::make_unique<AutogradPass>(); }

}  // namespace ofl::compiler

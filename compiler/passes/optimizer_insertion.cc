#include "compiler/passes/optimizer_insertion.h"

#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "compiler/ir/graph_emitter.h"

namespace ofl::compiler {
namespace {

constexpr const char* kStepName = "optimizer.step";

/// graph.optimizer() read, checked and completed with defaults.
struct OptimizerConfig {
  std::string kind = "sgd";
  double learning_rate = 1e-3;
  double momentum = 0.0;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;
  double weight_decay = 0.0;
  double clip_norm = 0.0;
  int64_t warmup_steps = 0;
  int64_t decay_steps = 0;
  double min_learning_rate = 0.0;

  bool has_schedule() const { return warmup_steps > 0 || decay_steps > 0; }
  bool is_adam() const { return kind == "adam" || kind == "adamw"; }
};

StatusOr<double> ReadNumber(const AttrMap& attrs, const std::string& key, double fallback) {
  if (!attrs.Has(key)) return fallback;
  const AttrValue& value = attrs.Get(key);
  if (std::holds_alternative<double>(value)) return std::get<double>(value);
  if (std::holds_alternative<int64_t>(value)) return static_cast<double>(std::get<int64_t>(value));
  return ErrorBuilder() << "optimizer " << key << ": expected a number, got " << AttrTypeName(value) << " "
                        << AttrValueToString(value);
}

StatusOr<int64_t> ReadCount(const AttrMap& attrs, const std::string& key) {
  if (!attrs.Has(key)) return int64_t{0};
  const AttrValue& value = attrs.Get(key);
  double number = 0;
  if (std::holds_alternative<int64_t>(value)) {
    number = static_cast<double>(std::get<int64_t>(value));
  } else if (std::holds_alternative<double>(value)) {
    number = std::get<double>(value);
  } else {
    return ErrorBuilder() << "optimizer " << key << ": expected an integer, got " << AttrTypeName(value)
                          << " " << AttrValueToString(value);
  }
  OFL_CHECK_OR_RETURN(std::isfinite(number) && number == std::trunc(number) && number >= 0 && number < 9e18)
      << "optimizer " << key << ": expected an integer >= 0, got " << AttrValueToString(value);
  return static_cast<int64_t>(number);
}

Status CheckRange(const std::string& key, double value, double low, bool low_open, double high,
                  bool high_open) {
  const bool above = low_open ? value > low : value >= low;
  const bool below = high_open ? value < high : value <= high;
  OFL_CHECK_OR_RETURN(std::isfinite(value) && above && below)
      << "optimizer " << key << ": expected a value in " << (low_open ? "(" : "[") << low << ", " << high
      << (high_open ? ")" : "]") << ", got " << value;
  return Status::Ok();
}

StatusOr<OptimizerConfig> ReadConfig(const AttrMap& attrs) {
  static const std::set<std::string> kKeys = {
      "kind",         "learning_rate", "momentum",         "beta1",
      "beta2",        "epsilon",       "weight_decay",     "clip_norm",
      "warmup_steps", "decay_steps",   "min_learning_rate", "micro_batches", "max_in_flight"};
  for (const auto& [key, value] : attrs.values()) {
    OFL_CHECK_OR_RETURN(kKeys.count(key) != 0)
        << "optimizer " << key << ": expected one of kind, learning_rate, momentum, beta1, beta2, epsilon, "
        << "weight_decay, clip_norm, warmup_steps, decay_steps, min_learning_rate, micro_batches, "
        << "max_in_flight, got unknown key '" << key
        << "'";
  }
  OptimizerConfig config;
  if (attrs.Has("kind")) {
    const AttrValue& kind = attrs.Get("kind");
    OFL_CHECK_OR_RETURN(std::holds_alternative<std::string>(kind))
        << "optimizer kind: expected a string sgd|adam|adamw, got " << AttrValueToString(kind);
    config.kind = std::get<std::string>(kind);
  }
  OFL_CHECK_OR_RETURN(config.kind == "sgd" || config.kind == "adam" || config.kind == "adamw")
      << "optimizer kind: expected sgd|adam|adamw, got '" << config.kind << "'";
  const double infinity = std::numeric_limits<double>::infinity();
  OFL_ASSIGN_OR_RETURN(config.learning_rate, ReadNumber(attrs, "learning_rate", config.learning_rate));
  // The same ranges as api/optimizer.h validates, so hand-written IR cannot
  // ask for what the API refuses.
  OFL_RETURN_IF_ERROR(CheckRange("learning_rate", config.learning_rate, 0, true, infinity, true));
  OFL_ASSIGN_OR_RETURN(config.momentum, ReadNumber(attrs, "momentum", config.momentum));
  OFL_RETURN_IF_ERROR(CheckRange("momentum", config.momentum, 0, false, 1, true));
  OFL_ASSIGN_OR_RETURN(config.beta1, ReadNumber(attrs, "beta1", config.beta1));
  OFL_RETURN_IF_ERROR(CheckRange("beta1", config.beta1, 0, false, 1, true));
  OFL_ASSIGN_OR_RETURN(config.beta2, ReadNumber(attrs, "beta2", config.beta2));
  OFL_RETURN_IF_ERROR(CheckRange("beta2", config.beta2, 0, false, 1, true));
  OFL_ASSIGN_OR_RETURN(config.epsilon, ReadNumber(attrs, "epsilon", config.epsilon));
  OFL_RETURN_IF_ERROR(CheckRange("epsilon", config.epsilon, 0, true, infinity, true));
  OFL_ASSIGN_OR_RETURN(config.weight_decay, ReadNumber(attrs, "weight_decay", config.weight_decay));
  OFL_RETURN_IF_ERROR(CheckRange("weight_decay", config.weight_decay, 0, false, infinity, true));
  OFL_ASSIGN_OR_RETURN(config.clip_norm, ReadNumber(attrs, "clip_norm", config.clip_norm));
  OFL_RETURN_IF_ERROR(CheckRange("clip_norm", config.clip_norm, 0, false, infinity, true));
  OFL_ASSIGN_OR_RETURN(config.warmup_steps, ReadCount(attrs, "warmup_steps"));
  OFL_ASSIGN_OR_RETURN(config.decay_steps, ReadCount(attrs, "decay_steps"));
  OFL_ASSIGN_OR_RETURN(config.min_learning_rate, ReadNumber(attrs, "min_learning_rate", 0.0));
  OFL_RETURN_IF_ERROR(
      CheckRange("min_learning_rate", config.min_learning_rate, 0, false, config.learning_rate, false));
  return config;
}

// A zero-initialised, non-trainable variable of the optimizer.
StatusOr<ValueId> AddStateVariable(Graph& graph, const std::string& name, const TensorDesc& desc,
                                   const Placement& placement, const std::optional<NdSbp>& hint) {
  OFL_CHECK_OR_RETURN(graph.FindNode(name) < 0)
      << "optimizer state '" << name << "': expected an unused node name, found one already in the graph";
  const ValueId value =
      graph.AddVariable(name, desc, placement, hint.value_or(NdSbp{}),
                        AttrMap{{"initializer", std::string("zeros")}, {"trainable", false}});
  graph.mutable_node(graph.value(value).producer).role = NodeRole::kOptimizer;
  return value;
}

// ClipByGlobalNorm's ops, with each gradient's share on its own placement.
StatusOr<std::vector<ValueId>> ClipGradients(Graph& graph, GraphEmitter& emitter, const Placement& helper,
                                             const std::vector<ValueId>& grads, double max_norm) {
  const DType dtype = graph.value(grads[0]).desc.dtype;
  std::vector<ValueRef> sums;
  for (ValueId grad : grads) {
    const TensorDesc desc = graph.value(grad).desc;
    OFL_CHECK_OR_RETURN(desc.dtype == dtype)
        << "optimizer clip_norm: expected every gradient of dtype " << DTypeName(dtype)
        << " (one global norm), found " << DTypeName(desc.dtype) << " for the gradient of "
        << Describe(graph.producer(grad));
    emitter.set_placement(graph.value(grad).placement);
    OFL_ASSIGN_OR_RETURN(ValueRef squares, emitter.Emit1("mul", {ValueRef{grad}, ValueRef{grad}}));
    OFL_ASSIGN_OR_RETURN(
        ValueRef sum,
        emitter.Emit1("reduce_sum", {squares}, {{"axes", std::vector<int64_t>{}}, {"keepdims", false}}));
    sums.push_back(sum);
  }
  emitter.set_placement(helper);
  OFL_ASSIGN_OR_RETURN(ValueRef total, emitter.Emit1("add_n", sums));
  OFL_ASSIGN_OR_RETURN(ValueRef scale, emitter.Emit1("clip_scale", {total}, {{"max_norm", max_norm}}));
  std::vector<ValueId> clipped;
  for (ValueId grad : grads) {
    emitter.set_placement(graph.value(grad).placement);
    OFL_ASSIGN_OR_RETURN(ValueRef scaled, emitter.Emit1("mul", {ValueRef{grad}, scale}));
    clipped.push_back(scaled.id);
  }
  return clipped;
}

class OptimizerInsertionPass final : public Pass {
 public:
  std::string name() const override { return "optimizer_insertion"; }

  Status Run(Graph& graph, PassContext& context) override {
    if (graph.gradients().empty()) return Status::Ok();
    for (NodeId id : graph.LiveNodes()) {
      if (graph.node(id).role == NodeRole::kOptimizer) return Status::Ok();  // inserted already
    }
    OFL_ASSIGN_OR_RETURN(const OptimizerConfig config, ReadConfig(graph.optimizer()));
    const OpRegistry& ops = context.ops;

    std::vector<ValueId> params;
    std::vector<ValueId> grads;
    for (const auto& [param, grad] : graph.gradients()) {
      params.push_back(param);
      grads.push_back(grad);
      const DType dtype = graph.value(param).desc.dtype;
      OFL_CHECK_OR_RETURN(dtype == DType::kF32 || dtype == DType::kF64)
          << "optimizer: variable " << Describe(graph.producer(param))
          << ": expected dtype f32 or f64 (what the update ops take), found " << DTypeName(dtype);
    }
    const Placement helper = graph.value(params[0]).placement;
    GraphEmitter emitter(graph, ops, helper, NodeRole::kOptimizer, "optimizer");

    OFL_CHECK_OR_RETURN(graph.FindNode(kStepName) < 0)
        << "optimizer: expected no node named '" << kStepName << "' (the step counter), found "
        << Describe(graph.node(graph.FindNode(kStepName)));
    const ValueId step =
        graph.AddVariable(kStepName, TensorDesc{Shape{}, DType::kI64}, helper, NdSbp{},
                          AttrMap{{"initializer", std::string("zeros")}, {"trainable", false}});
    graph.mutable_node(graph.value(step).producer).role = NodeRole::kOptimizer;
    OFL_ASSIGN_OR_RETURN(const ValueRef step1,
                         emitter.Emit1("scalar_add", {ValueRef{step}}, {{"scalar", 1.0}}));

    // One learning rate per parameter dtype: update ops take it in param's dtype.
    std::map<DType, ValueRef> learning_rates;
    for (ValueId param : params) {
      const DType dtype = graph.value(param).desc.dtype;
      if (learning_rates.count(dtype) != 0) continue;
      ValueRef rate;
      if (config.has_schedule()) {
        OFL_ASSIGN_OR_RETURN(rate, emitter.Emit1("learning_rate_schedule", {step1},
                                                 {{"learning_rate", config.learning_rate},
                                                  {"warmup_steps", config.warmup_steps},
                                                  {"decay_steps", config.decay_steps},
                                                  {"min_learning_rate", config.min_learning_rate},
                                                  {"dtype", dtype}}));
      } else {
        OFL_ASSIGN_OR_RETURN(
            rate, emitter.Emit1("fill", {},
                                {{"shape", Shape{}}, {"dtype", dtype}, {"value", config.learning_rate}}));
      }
      learning_rates[dtype] = rate;
    }

    std::vector<ValueId> used_grads = grads;
    if (config.clip_norm > 0) {
      OFL_ASSIGN_OR_RETURN(used_grads, ClipGradients(graph, emitter, helper, grads, config.clip_norm));
    }

    for (size_t k = 0; k < params.size(); ++k) {
      const ValueId param = params[k];
      // Copies: adding nodes invalidates references into the graph.
      const std::string name = graph.producer(param).name;
      const TensorDesc desc = graph.value(param).desc;
      const Placement placement = graph.value(param).placement;
      const std::optional<NdSbp> hint = graph.value(param).sbp_hint;
      const ValueRef rate = learning_rates.at(desc.dtype);
      GraphEmitter update(graph, ops, placement, NodeRole::kOptimizer, name + ".optimizer");
      if (config.kind == "sgd") {
        OFL_ASSIGN_OR_RETURN(const ValueId buffer,
                             AddStateVariable(graph, name + ".momentum", desc, placement, hint));
        OFL_RETURN_IF_ERROR(update
                                .Emit("sgd_update",
                                      {ValueRef{param}, ValueRef{used_grads[k]}, ValueRef{buffer}, rate},
                                      {{"momentum", config.momentum}, {"weight_decay", config.weight_decay}})
                                .status());
      } else {
        OFL_ASSIGN_OR_RETURN(const ValueId m,
                             AddStateVariable(graph, name + ".adam_m", desc, placement, hint));
        OFL_ASSIGN_OR_RETURN(const ValueId v,
                             AddStateVariable(graph, name + ".adam_v", desc, placement, hint));
        OFL_RETURN_IF_ERROR(
            update
                .Emit("adam_update",
                      {ValueRef{param}, ValueRef{used_grads[k]}, ValueRef{m}, ValueRef{v}, rate, step1},
                      {{"beta1", config.beta1},
                       {"beta2", config.beta2},
                       {"epsilon", config.epsilon},
                       {"weight_decay", config.weight_decay},
                       {"decoupled_weight_decay", config.kind == "adamw"}})
                .status());
      }
    }
    emitter.set_placement(helper);
    return emitter.Emit("increment", {ValueRef{step}}, {}).status();
  }
};

}  // namespace

std::unique_ptr<Pass> MakeOptimizerInsertionPass() { return std::make_unique<OptimizerInsertionPass>(); }

}  // namespace ofl::compiler

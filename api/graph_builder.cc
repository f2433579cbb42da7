#include "api/graph_builder.h"

#include "api/optimizer.h"
#include "ops/registry.h"
#include "sbp/slicing.h"

namespace ofl::api {

namespace {

// FNV-1a over the name, then a SplitMix64 finaliser with the builder seed:
// stable across platforms and runs, and names differing in one character
// get unrelated seeds.
uint64_t MixSeed(uint64_t seed, const std::string& name) {
  uint64_t hash = 1469598103934665603ull;
  for (unsigned char c : name) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  uint64_t z = hash + seed * 0x9E3779B97F4A7C15ull + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

Status CheckShape(const std::string& who, const Shape& shape) {
  for (int axis = 0; axis < shape.rank(); ++axis) {
    OFL_CHECK_OR_RETURN(shape[axis] >= 0)
        << who << ": expected non-negative extents, got shape " << shape.ToString();
  }
  return Status::Ok();
}

Status CheckInitializer(const std::string& who, const Initializer& init) {
  const std::string& kind = init.kind;
  OFL_CHECK_OR_RETURN(kind == "zeros" || kind == "ones" || kind == "constant" || kind == "normal" ||
                      kind == "uniform")
      << who << ": initializer kind: expected zeros, ones, constant, normal or uniform, got '" << kind << "'";
  if (kind == "normal") {
    OFL_CHECK_OR_RETURN(init.stddev >= 0) << who << ": initializer std: expected >= 0, got " << init.stddev;
  }
  if (kind == "uniform") {
    OFL_CHECK_OR_RETURN(init.high > init.low)
        << who << ": initializer uniform: expected high > low, got low=" << init.low << " high=" << init.high;
  }
  return Status::Ok();
}

}  // namespace

// ---- Tensor -------------------------------------------------------------

Shape Tensor::shape() const { return valid() ? builder_->graph_.value(id_).desc.shape : Shape(); }

DType Tensor::dtype() const { return valid() ? builder_->graph_.value(id_).desc.dtype : DType::kF32; }

int64_t Tensor::dim(int axis) const {
  const Shape s = shape();
  const int resolved = axis < 0 ? axis + s.rank() : axis;
  return resolved >= 0 && resolved < s.rank() ? s[resolved] : 0;
}

std::string Tensor::name() const {
  if (!valid()) return "<empty>";
  const compiler::Value& value = builder_->graph_.value(id_);
  const std::string& node_name = builder_->graph_.node(value.producer).name;
  return value.output_index == 0 ? node_name : node_name + ":" + std::to_string(value.output_index);
}

Placement Tensor::placement() const {
  if (!valid()) return builder_ != nullptr ? builder_->default_placement() : Placement();
  return builder_->graph_.value(id_).placement;
}

std::optional<NdSbp> Tensor::sbp_hint() const {
  if (!valid()) return std::nullopt;
  return builder_->graph_.value(id_).sbp_hint;
}

Tensor Tensor::WithSbp(const NdSbp& nd_sbp) const {
  if (builder_ == nullptr) return *this;
  return builder_->Hint(*this, nd_sbp);
}

Tensor Tensor::WithSbp(const std::string& nd_sbp) const {
  if (builder_ == nullptr || !builder_->ok()) return *this;
  StatusOr<NdSbp> parsed = ParseNdSbp(nd_sbp);
  if (!parsed.ok()) {
    builder_->Record(Status::Error("[api] tensor '" + name() + "': hint: " + parsed.status().message()));
    return builder_->Empty();
  }
  return builder_->Hint(*this, parsed.value());
}

Tensor Tensor::To(const Placement& placement, const NdSbp& nd_sbp) const {
  if (builder_ == nullptr || !builder_->ok()) return *this;
  GraphBuilder& builder = *builder_;
  if (!builder.Record(builder.CheckOperands("to", {*this}))) return builder.Empty();
  StatusOr<std::vector<compiler::ValueId>> outputs =
      builder.EmitChecked("identity", {id_}, {}, placement, /*explicit_move=*/true);
  if (!builder.Record(outputs.status())) return builder.Empty();
  Tensor moved(builder_, outputs.value()[0]);
  return nd_sbp.empty() ? moved : builder.Hint(moved, nd_sbp);
}

// ---- Scope --------------------------------------------------------------

Scope::Scope(GraphBuilder& builder, std::string name, ScopeOptions options)
    : builder_(builder), token_(builder.PushScope(std::move(name), std::move(options))) {}

Scope::~Scope() { builder_.PopScope(token_); }

int64_t GraphBuilder::PushScope(std::string name, ScopeOptions options) {
  const int64_t token = next_scope_token_++;
  if (options.pipeline_stage.has_value()) {
    if (*options.pipeline_stage < 0) {
      Record(Status::Error("[api] scope '" + name + "': pipeline_stage: expected an index >= 0, got " +
                           std::to_string(*options.pipeline_stage)));
    } else if (!options.placement.has_value()) {
      Record(Status::Error("[api] scope '" + name + "': pipeline_stage " +
                           std::to_string(*options.pipeline_stage) +
                           " without a placement: expected the stage's devices in the same scope"));
    }
  }
  scopes_.push_back(ScopeEntry{token, std::move(name), std::move(options)});
  return token;
}

void GraphBuilder::PopScope(int64_t token) {
  if (!scopes_.empty() && scopes_.back().token == token) {
    scopes_.pop_back();
    return;
  }
  for (auto it = scopes_.begin(); it != scopes_.end(); ++it) {
    if (it->token != token) continue;
    Record(Status::Error("[api] scope '" + it->name +
                         "': ended before the scopes opened inside it; scopes must end in reverse order"));
    scopes_.erase(it);
    return;
  }
}

int GraphBuilder::current_pipeline_stage() const {
  for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
    if (it->options.pipeline_stage.has_value()) return *it->options.pipeline_stage;
  }
  return -1;
}

const Placement& GraphBuilder::current_placement() const {
  for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
    if (it->options.placement.has_value()) return *it->options.placement;
  }
  return default_placement_;
}

bool GraphBuilder::HasScopePlacement() const {
  for (const ScopeEntry& entry : scopes_) {
    if (entry.options.placement.has_value()) return true;
  }
  return false;
}

Placement GraphBuilder::PlacementFor(const std::vector<Tensor>& inputs) const {
  // The rule of the header: innermost scope placement, else the inputs'
  // common placement, else the default.
  if (HasScopePlacement()) return current_placement();
  std::optional<Placement> common;
  for (const Tensor& input : inputs) {
    if (!input.valid() || input.builder() != this) continue;
    const Placement& where = graph_.value(input.id()).placement;
    if (!common.has_value()) {
      common = where;
    } else if (*common != where) {
      return default_placement_;
    }
  }
  return common.value_or(default_placement_);
}

TensorParallel GraphBuilder::current_linear_parallel() const {
  for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
    if (it->options.linear_parallel.has_value()) return *it->options.linear_parallel;
  }
  return TensorParallel::kNone;
}

std::optional<NdSbp> GraphBuilder::CurrentVariableSbp() const {
  for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
    if (it->options.variable_sbp.has_value()) return it->options.variable_sbp;
  }
  return std::nullopt;
}

std::string GraphBuilder::current_prefix() const {
  std::string prefix;
  for (const ScopeEntry& entry : scopes_) {
    if (entry.name.empty()) continue;
    if (!prefix.empty()) prefix += "/";
    prefix += entry.name;
  }
  return prefix;
}

std::string GraphBuilder::ScopedName(const std::string& name) const {
  const std::string prefix = current_prefix();
  return prefix.empty() ? name : prefix + "/" + name;
}

int64_t GraphBuilder::DerivedSeed(const std::string& full_name) const {
  return static_cast<int64_t>(MixSeed(options_.seed, full_name) & 0x7fffffffffffffffull);
}

// ---- GraphBuilder ----------------------------------------------------------

GraphBuilder::GraphBuilder(Placement default_placement, BuilderOptions options)
    : ops_(options.ops != nullptr ? *options.ops : DefaultRegistries().ops),
      default_placement_(std::move(default_placement)),
      options_(options),
      emitter_(graph_, ops_, default_placement_, compiler::NodeRole::kForward),
      emitter_adapter_(*this) {}

bool GraphBuilder::Record(const Status& status) {
  if (!status.ok() && status_.ok()) status_ = status;
  return status_.ok();
}

std::string GraphBuilder::DescribeValue(compiler::ValueId id) const {
  const Tensor tensor(const_cast<GraphBuilder*>(this), id);
  const compiler::Value& value = graph_.value(id);
  return "'" + tensor.name() + "' " + value.desc.ToString() + " on " + value.placement.ToString();
}

Status GraphBuilder::CheckOperands(const std::string& who, const std::vector<Tensor>& inputs) const {
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& input = inputs[i];
    OFL_CHECK_OR_RETURN(input.builder_ == this || input.builder_ == nullptr)
        << "[api] " << who << ": input " << i << " '" << input.name()
        << "' belongs to another GraphBuilder; tensors of different builders cannot be used together";
    OFL_CHECK_OR_RETURN(input.valid())
        << "[api] " << who << ": input " << i
        << " is an empty Tensor (default-constructed, or the result of a failed call)";
  }
  return Status::Ok();
}

StatusOr<std::vector<compiler::ValueId>> GraphBuilder::EmitChecked(
    const std::string& op, const std::vector<compiler::ValueId>& inputs, const AttrMap& attrs,
    const std::optional<Placement>& placement, bool explicit_move) {
  emitter_.set_name_prefix(current_prefix());
  const std::string name = emitter_.UniqueName(op);
  const std::string who = "op '" + name + "' (" + op + ")";
  for (compiler::ValueId input : inputs) {
    OFL_CHECK_OR_RETURN(input >= 0 && input < graph_.num_value_slots())
        << "[api] " << who << ": input value " << input << " does not exist";
  }

  std::vector<Tensor> operands;
  operands.reserve(inputs.size());
  for (compiler::ValueId input : inputs) operands.push_back(Tensor(this, input));
  const Placement op_placement = placement.has_value() ? *placement : PlacementFor(operands);

  if (!explicit_move) {
    // Boxing moves values between placements of one device type; between
    // cpu and cuda the user moves explicitly (Tensor::To).
    for (size_t i = 0; i < inputs.size(); ++i) {
      for (size_t j = i + 1; j < inputs.size(); ++j) {
        const Placement& a = graph_.value(inputs[i]).placement;
        const Placement& b = graph_.value(inputs[j]).placement;
        OFL_CHECK_OR_RETURN(a.device_type() == b.device_type())
            << "[api] " << who << ": " << DescribeValue(inputs[i]) << " and " << DescribeValue(inputs[j])
            << " are on different device types (" << DeviceTypeName(a.device_type()) << " and "
            << DeviceTypeName(b.device_type())
            << ") and cannot be used together; move one with Tensor::To(placement)";
      }
    }
    for (compiler::ValueId input : inputs) {
      const Placement& from = graph_.value(input).placement;
      OFL_CHECK_OR_RETURN(from.device_type() == op_placement.device_type())
          << "[api] " << who << " runs on " << op_placement.ToString() << " but reads "
          << DescribeValue(input) << ": expected a " << DeviceTypeName(op_placement.device_type())
          << " tensor, got a " << DeviceTypeName(from.device_type())
          << " one; move it with Tensor::To(placement)";
    }
  }

  // Infer here (not only inside the emitter) so that the message names the
  // user's tensors as well as the op.
  std::vector<TensorDesc> descs;
  descs.reserve(inputs.size());
  for (compiler::ValueId input : inputs) descs.push_back(graph_.value(input).desc);
  StatusOr<InferredOp> inferred = ops_.Infer(op, descs, attrs);
  if (!inferred.ok()) {
    std::string reading;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (i > 0) reading += ", ";
      const Tensor tensor(this, inputs[i]);
      reading += "'" + tensor.name() + "' " + graph_.value(inputs[i]).desc.ToString();
    }
    return Status::Error("[api] " + who + (inputs.empty() ? "" : " reading " + reading) + ": " +
                         inferred.status().message());
  }

  emitter_.set_placement(op_placement);
  std::vector<ValueRef> refs;
  refs.reserve(inputs.size());
  for (compiler::ValueId input : inputs) refs.push_back(ValueRef{input});
  StatusOr<std::vector<ValueRef>> outputs = emitter_.EmitNamed(name, op, refs, attrs);
  if (!outputs.ok()) return Status::Error("[api] " + who + ": " + outputs.status().message());
  std::vector<compiler::ValueId> ids;
  ids.reserve(outputs.value().size());
  for (const ValueRef& output : outputs.value()) ids.push_back(output.id);
  if (!ids.empty()) graph_.mutable_node(graph_.value(ids[0]).producer).stage = current_pipeline_stage();
  return ids;
}

std::vector<Tensor> GraphBuilder::Op(const std::string& op, const std::vector<Tensor>& inputs,
                                     const AttrMap& attrs) {
  // On error: as many empty Tensors as the op has outputs (when fixed), so
  // that callers unpacking outputs stay safe.
  auto failed = [&] {
    const OpSchema* schema = ops_.Find(op);
    const size_t count = schema != nullptr && !schema->variadic_outputs ? schema->outputs.size() : 0;
    return std::vector<Tensor>(count, Empty());
  };
  if (!ok()) return failed();
  if (!Record(CheckOperands("op " + op, inputs))) return failed();
  std::vector<compiler::ValueId> ids;
  ids.reserve(inputs.size());
  for (const Tensor& input : inputs) ids.push_back(input.id_);
  StatusOr<std::vector<compiler::ValueId>> outputs = EmitChecked(op, ids, attrs, std::nullopt, false);
  if (!Record(outputs.status())) return failed();
  std::vector<Tensor> tensors;
  tensors.reserve(outputs.value().size());
  for (compiler::ValueId id : outputs.value()) tensors.push_back(Tensor(this, id));
  return tensors;
}

Tensor GraphBuilder::Op1(const std::string& op, const std::vector<Tensor>& inputs, const AttrMap& attrs) {
  std::vector<Tensor> outputs = Op(op, inputs, attrs);
  if (!ok()) return Empty();
  if (outputs.size() != 1) {
    Record(Status::Error("[api] op " + op + ": expected exactly one output, got " +
                         std::to_string(outputs.size()) + "; use Op()"));
    return Empty();
  }
  return outputs[0];
}

Tensor GraphBuilder::Input(const std::string& name, const Shape& shape, DType dtype,
                           const std::optional<Placement>& placement, const NdSbp& sbp) {
  if (!ok()) return Empty();
  const std::string who = "[api] input '" + name + "'";
  if (!Record(name.empty() ? Status::Error("[api] input: expected a non-empty name") : Status::Ok())) {
    return Empty();
  }
  const compiler::NodeId existing = graph_.FindNode(name);
  if (existing >= 0) {
    Record(Status::Error(who + ": the name is already used by " + compiler::Describe(graph_.node(existing))));
    return Empty();
  }
  if (!Record(CheckShape(who, shape))) return Empty();
  const Placement where = placement.value_or(current_placement());
  if (!sbp.empty() && !Record(CheckNdSbp(who + " sbp", sbp, where.hierarchy(), shape))) return Empty();
  const compiler::ValueId input = graph_.AddInput(name, TensorDesc{shape, dtype}, where, sbp);
  graph_.mutable_node(graph_.value(input).producer).stage = current_pipeline_stage();
  return Tensor(this, input);
}

Tensor GraphBuilder::Variable(const std::string& name, const Shape& shape, const Initializer& initializer,
                              const std::optional<Placement>& placement, const NdSbp& sbp,
                              const VariableOptions& options) {
  if (!ok()) return Empty();
  if (!Record(name.empty() ? Status::Error("[api] variable: expected a non-empty name") : Status::Ok())) {
    return Empty();
  }
  const std::string full_name = ScopedName(name);
  const std::string who = "[api] variable '" + full_name + "'";
  const compiler::NodeId existing = graph_.FindNode(full_name);
  if (existing >= 0) {
    Record(Status::Error(who + ": the name is already used by " + compiler::Describe(graph_.node(existing))));
    return Empty();
  }
  if (!Record(CheckShape(who, shape))) return Empty();
  if (!Record(CheckInitializer(who, initializer))) return Empty();
  const Placement where = placement.value_or(current_placement());
  NdSbp layout = sbp;
  if (layout.empty()) layout = CurrentVariableSbp().value_or(NdSbp{});
  if (!layout.empty() && !Record(CheckNdSbp(who + " sbp", layout, where.hierarchy(), shape))) return Empty();

  AttrMap attrs;
  attrs.Set("initializer", initializer.kind);
  if (initializer.kind == "constant") attrs.Set("value", initializer.value);
  if (initializer.kind == "normal") {
    attrs.Set("mean", initializer.mean);
    attrs.Set("std", initializer.stddev);
  }
  if (initializer.kind == "uniform") {
    attrs.Set("low", initializer.low);
    attrs.Set("high", initializer.high);
  }
  if (initializer.kind == "normal" || initializer.kind == "uniform") {
    attrs.Set("seed", initializer.seed.value_or(DerivedSeed(full_name)));
  }
  attrs.Set("trainable", options.trainable);
  return Tensor(this, graph_.AddVariable(full_name, TensorDesc{shape, options.dtype}, where, layout, attrs));
}

Status GraphBuilder::SetHint(compiler::ValueId id, const NdSbp& nd_sbp) {
  const Tensor tensor(this, id);
  compiler::Value& value = graph_.mutable_value(id);
  const std::string who = "[api] tensor '" + tensor.name() + "' hint";
  OFL_RETURN_IF_ERROR(CheckNdSbp(who, nd_sbp, value.placement.hierarchy(), value.desc.shape));
  OFL_CHECK_OR_RETURN(!value.sbp_hint.has_value() || *value.sbp_hint == nd_sbp)
      << who << ": the tensor already has the hint " << NdSbpToString(*value.sbp_hint) << ", got "
      << NdSbpToString(nd_sbp) << "; a tensor has one layout";
  value.sbp_hint = nd_sbp;
  return Status::Ok();
}

Tensor GraphBuilder::Hint(const Tensor& tensor, const NdSbp& nd_sbp) {
  if (!ok()) return Empty();
  if (!Record(CheckOperands("hint", {tensor}))) return Empty();
  if (!Record(SetHint(tensor.id_, nd_sbp))) return Empty();
  return tensor;
}

void GraphBuilder::Fetch(const std::string& name, const Tensor& tensor) {
  if (!ok()) return;
  const std::string who = "fetch '" + name + "'";
  if (!Record(CheckOperands(who, {tensor}))) return;
  if (!Record(name.empty() ? Status::Error("[api] fetch: expected a non-empty name") : Status::Ok())) return;
  for (const compiler::Fetch& fetch : graph_.fetches()) {
    if (fetch.name != name) continue;
    Record(Status::Error("[api] " + who + ": the name already fetches '" + Tensor(this, fetch.value).name() +
                         "'; fetch names are unique"));
    return;
  }
  graph_.fetches().push_back(compiler::Fetch{name, tensor.id_});
}

void GraphBuilder::Minimize(const Tensor& loss, const Optimizer& optimizer) {
  if (!ok()) return;
  if (!Record(CheckOperands("minimize", {loss}))) return;
  if (minimized_) {
    Record(Status::Error("[api] minimize '" + loss.name() + "': the graph already minimises '" +
                         Tensor(this, graph_.loss()).name() + "'; call Minimize once"));
    return;
  }
  const TensorDesc& desc = graph_.value(loss.id_).desc;
  if (desc.shape.rank() != 0 || !IsFloatingPoint(desc.dtype)) {
    Record(Status::Error("[api] minimize: loss '" + loss.name() +
                         "': expected a floating-point scalar [] (reduce it first, e.g. ReduceMean), got " +
                         desc.ToString()));
    return;
  }
  StatusOr<AttrMap> attrs = OptimizerToAttrs(optimizer);
  if (!Record(attrs.status())) return;
  graph_.SetMinimize(loss.id_, std::move(attrs).value());
  minimized_ = true;
}

StatusOr<compiler::Graph> GraphBuilder::Build() const {
  if (!ok()) return status_;
  return graph_;
}

StatusOr<compiler::CompileResult> GraphBuilder::Compile(const compiler::CompileOptions& options) const {
  OFL_ASSIGN_OR_RETURN(compiler::Graph graph, Build());
  return compiler::Compile(std::move(graph), ops_, options);
}

// ---- the OpEmitter view -------------------------------------------------

StatusOr<std::vector<ValueRef>> GraphBuilder::EmitterAdapter::Emit(const std::string& op,
                                                                   const std::vector<ValueRef>& inputs,
                                                                   const AttrMap& attrs) {
  if (!builder_.ok()) return builder_.status();
  std::vector<compiler::ValueId> ids;
  ids.reserve(inputs.size());
  for (const ValueRef& input : inputs) ids.push_back(input.id);
  StatusOr<std::vector<compiler::ValueId>> outputs =
      builder_.EmitChecked(op, ids, attrs, std::nullopt, false);
  if (!builder_.Record(outputs.status())) return builder_.status();
  std::vector<ValueRef> refs;
  refs.reserve(outputs.value().size());
  for (compiler::ValueId id : outputs.value()) refs.push_back(ValueRef{id});
  return refs;
}

TensorDesc GraphBuilder::EmitterAdapter::Desc(ValueRef value) const {
  if (value.id < 0 || value.id >= builder_.graph_.num_value_slots()) return TensorDesc{};
  return builder_.graph_.value(value.id).desc;
}

}  // namespace ofl::api

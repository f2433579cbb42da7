// GraphBuilder: the C++ way to describe a job (DESIGN.md section 8). A
// builder owns a logical compiler::Graph and appends checked ops to it;
// Tensor is a light handle (builder + value id) that model code passes
// around; api/ops.h has one typed function per op of the op library and
// api/nn.h the layers built from them.
//
// Error convention (one rule, so model code stays readable and no error is
// ever lost):
//   * Nothing throws or aborts on user input. Every op is inferred
//     (OpRegistry::Infer) when it is added; a mistake (shape mismatch, split
//     axis out of range, an SBP that does not fit the placement, tensors of
//     different device types used together, ...) is recorded in the builder
//     with the user's op and tensor names, and the call returns an empty
//     Tensor (valid() == false) bound to the same builder.
//   * The first error is kept. Once a builder holds an error, later calls
//     add nothing and return empty Tensors, so one mistake gives one message.
//   * Build() and Compile() return that error; status() shows it at once.
//     Compile() adds the errors only the compiler can find (e.g. an SBP
//     hint that no signature of the op satisfies), named by op.
//   Build-time messages begin with "[api]" and then name the op
//   ('block0/fc1/matmul') or tensor ('x', 'fc1.weight') with what was
//   expected and what was found; compile-time ones begin with the pass
//   ("[sbp_deduction] ...") and name the node the same way.
//
// Names: an op is named "<scope>/<op>" made unique with a counter
// ("h0/attn/matmul", "h0/attn/matmul_1"); a variable "<scope>/<name>"
// ("h0/fc1.weight"); an input keeps exactly the user's name (it is the feed
// name). Scopes nest with '/'.
//
// Placement: an op runs on the placement of the innermost Scope that sets
// one; outside such scopes, on its inputs' placement when they all agree,
// else on the builder's default placement. Inputs on other placements of
// the same device type are moved by the compiler (boxing). Tensors of
// different device types (cpu and cuda) cannot be used together implicitly:
// that is an error naming both; Tensor::To() moves a tensor explicitly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "compiler/compile.h"
#include "compiler/ir/graph.h"
#include "compiler/ir/graph_emitter.h"
#include "oneflow_like/attr.h"
#include "oneflow_like/placement.h"
#include "oneflow_like/status.h"
#include "ops/op_schema.h"
#include "sbp/sbp.h"

namespace ofl::api {

class GraphBuilder;
struct Optimizer;  // api/optimizer.h

/// A logical tensor of a GraphBuilder's graph: a builder pointer and a value
/// id. Cheap to copy. An empty Tensor (valid() == false) stands for the
/// result of a failed call; using it adds nothing (see the error convention).
class Tensor {
 public:
  /// An empty Tensor bound to no builder.
  Tensor() = default;

  /// True when the tensor refers to a value of its builder's graph.
  bool valid() const { return builder_ != nullptr && id_ >= 0; }
  /// The builder this tensor belongs to (null for a default-constructed one).
  GraphBuilder* builder() const { return builder_; }
  /// The value id in the builder's graph (-1 when empty).
  compiler::ValueId id() const { return id_; }
  /// Logical shape ([] when empty).
  Shape shape() const;
  /// Element type (f32 when empty).
  DType dtype() const;
  /// Rank of the logical shape.
  int rank() const { return shape().rank(); }
  /// Extent of `axis` (negative counts from the end); 0 when out of range.
  int64_t dim(int axis) const;
  /// The producing node's name ("fc1/matmul"; "h/layer_norm:1" for a second
  /// output; the feed or variable name for inputs and variables); "<empty>".
  std::string name() const;
  /// The placement the value lives on (the default placement when empty).
  Placement placement() const;
  /// The user's SBP hint, if any.
  std::optional<NdSbp> sbp_hint() const;

  /// Adds an SBP hint (a constraint for SBP deduction) and returns this
  /// tensor. Checked now against the placement's hierarchy and the shape;
  /// a bad hint is recorded as the builder's error, naming this tensor.
  Tensor WithSbp(const NdSbp& nd_sbp) const;
  /// WithSbp with the text form: "S(0)", "B", "(S(0), B)".
  Tensor WithSbp(const std::string& nd_sbp) const;
  /// This tensor moved to `placement` (an identity op on `placement`; the
  /// compiler inserts the boxing), optionally with an SBP hint there. The
  /// only way to bring a tensor to another device type.
  Tensor To(const Placement& placement, const NdSbp& nd_sbp = {}) const;

 private:
  friend class GraphBuilder;
  Tensor(GraphBuilder* builder, compiler::ValueId id) : builder_(builder), id_(id) {}

  GraphBuilder* builder_ = nullptr;
  compiler::ValueId id_ = -1;
};

/// How a variable is initialised (the `variable` node's attrs of
/// compiler/ir/graph.h). Seeds default to a value derived from the
/// builder's seed and the variable's full name, so every variable gets its
/// own stream deterministically, independent of creation order.
struct Initializer {
  std::string kind = "zeros";   ///< zeros | ones | constant | normal | uniform
  double value = 0;             ///< constant
  double mean = 0;              ///< normal
  double stddev = 1;            ///< normal (attr "std")
  double low = 0;               ///< uniform
  double high = 1;              ///< uniform
  std::optional<int64_t> seed;  ///< normal and uniform; default: derived

  /// All zeros.
  static Initializer Zeros() { return {}; }
  /// All ones.
  static Initializer Ones() { return Initializer{.kind = "ones"}; }
  /// Every element `value`.
  static Initializer Constant(double value) { return Initializer{.kind = "constant", .value = value}; }
  /// Normal(mean, stddev).
  static Initializer Normal(double stddev, double mean = 0) {
    return Initializer{.kind = "normal", .mean = mean, .stddev = stddev};
  }
  /// Uniform in [low, high).
  static Initializer Uniform(double low, double high) {
    return Initializer{.kind = "uniform", .low = low, .high = high};
  }
};

/// Megatron-style tensor parallelism of a Linear layer's weight [in, out]
/// along the tensor-parallel mesh axis (the last one): column parallel
/// splits `out` (weight S(1), bias S(0), output split on its last axis);
/// row parallel splits `in` (weight S(0), bias B, output Partial-sum).
enum class TensorParallel : int8_t { kNone, kColumn, kRow };

/// What a Scope changes for the ops, variables and layers created inside.
struct ScopeOptions {
  /// Ops inside run here (a pipeline stage); variables are created here.
  std::optional<Placement> placement;
  /// Default SBP hint of variables created inside without an explicit one
  /// (checked per variable; an unfitting one is an error naming it).
  std::optional<NdSbp> variable_sbp;
  /// Default TensorParallel of nn::Linear layers inside.
  std::optional<TensorParallel> linear_parallel;
  /// Pipeline parallelism: the ops inside form stage `pipeline_stage` (0 is
  /// the first). Requires `placement` in the same scope; stages are numbered
  /// 0..S-1 without gaps and a stage's forward ops may read only its own and
  /// earlier stages (the compiler checks both). Micro-batches are set with
  /// Optimizer::WithMicroBatches.
  std::optional<int> pipeline_stage;
};

/// Everything a builder is created with.
struct BuilderOptions {
  /// Mixed into every derived variable seed: another seed, other weights.
  uint64_t seed = 0;
  /// The op registry (DefaultRegistries().ops when null); must outlive the builder.
  const OpRegistry* ops = nullptr;
};

/// Per-variable options beyond the initializer.
struct VariableOptions {
  DType dtype = DType::kF32;
  /// false: a constant buffer the optimizer never updates.
  bool trainable = true;
};

/// An RAII block of layers: a name prefix plus optional placement, default
/// variable SBP and Linear parallelism; restored when it goes out of scope.
/// Scopes must end in reverse order of creation (an out-of-order end is
/// recorded as an error, never a crash).
class Scope {
 public:
  /// Opens `name` (may be empty: no prefix change) on `builder`.
  Scope(GraphBuilder& builder, std::string name, ScopeOptions options = {});
  ~Scope();
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  GraphBuilder& builder_;
  int64_t token_;
};

/// Builds one logical graph; see the error convention at the top of this
/// file. Not copyable or movable: Tensors point at it.
class GraphBuilder {
 public:
  /// A builder whose ops go to `default_placement` (cpu:0 when omitted).
  explicit GraphBuilder(Placement default_placement = Placement(), BuilderOptions options = {});
  GraphBuilder(const GraphBuilder&) = delete;
  GraphBuilder& operator=(const GraphBuilder&) = delete;

  // ---- leaves ---------------------------------------------------------
  /// A tensor fed every step under `name` (unique, not prefixed by scopes).
  /// `placement` defaults to the current one; `sbp` (optional) is a hint
  /// checked against the placement's hierarchy and the shape.
  Tensor Input(const std::string& name, const Shape& shape, DType dtype = DType::kF32,
               const std::optional<Placement>& placement = std::nullopt, const NdSbp& sbp = {});
  /// A persistent (by default trainable) tensor named "<scope>/<name>".
  /// `sbp` defaults to the scope's variable_sbp, else none (Broadcast).
  Tensor Variable(const std::string& name, const Shape& shape, const Initializer& initializer = {},
                  const std::optional<Placement>& placement = std::nullopt, const NdSbp& sbp = {},
                  const VariableOptions& options = {});

  // ---- ops ------------------------------------------------------------
  /// The generic form of every op: emits registry op `op` and returns all
  /// its outputs (empty on error, which is recorded).
  std::vector<Tensor> Op(const std::string& op, const std::vector<Tensor>& inputs, const AttrMap& attrs = {});
  /// Op for ops with one output (an empty Tensor on error).
  Tensor Op1(const std::string& op, const std::vector<Tensor>& inputs, const AttrMap& attrs = {});
  /// An OpEmitter over this builder, for composites written against
  /// ops/op_schema.h (ops/attention, ops/optimizer/clip.h): each op is
  /// checked, named and placed as Op() does. An op it rejects is also
  /// recorded; an error a composite finds itself (before emitting) comes
  /// back only as the composite's Status: pass that to Record().
  OpEmitter& emitter() { return emitter_adapter_; }
  /// The Tensor of a value id returned by emitter().
  Tensor FromRef(ValueRef ref) { return Tensor(this, ref.id); }

  // ---- hints, fetches, training -----------------------------------------
  /// Adds an SBP hint to `tensor` (see Tensor::WithSbp).
  Tensor Hint(const Tensor& tensor, const NdSbp& nd_sbp);
  /// Fetches `tensor` after every step as `name` (names are unique).
  void Fetch(const std::string& name, const Tensor& tensor);
  /// Marks `loss` (a floating-point scalar) for minimisation with
  /// `optimizer` (api/optimizer.h; its fields are validated). Once per graph.
  void Minimize(const Tensor& loss, const Optimizer& optimizer);

  // ---- results --------------------------------------------------------
  /// The first recorded error, or ok.
  const Status& status() const { return status_; }
  /// True while no error is recorded.
  bool ok() const { return status_.ok(); }
  /// A copy of the graph built so far, or the first error.
  StatusOr<compiler::Graph> Build() const;
  /// Build() then compiler::Compile with `options`.
  StatusOr<compiler::CompileResult> Compile(const compiler::CompileOptions& options = {}) const;

  // ---- for layers and tests ----------------------------------------------
  /// The graph built so far (also when an error is recorded).
  const compiler::Graph& graph() const { return graph_; }
  /// The op registry ops are checked against.
  const OpRegistry& ops() const { return ops_; }
  /// The builder's default placement.
  const Placement& default_placement() const { return default_placement_; }
  /// The placement of the innermost scope that sets one, else the default.
  const Placement& current_placement() const;
  /// The placement an op reading `inputs` gets here (the rule at the top of
  /// this file); layers create their variables there.
  Placement PlacementFor(const std::vector<Tensor>& inputs) const;
  /// The Linear parallelism of the innermost scope that sets one (kNone).
  TensorParallel current_linear_parallel() const;
  /// The pipeline stage of the innermost scope that sets one (-1: none).
  int current_pipeline_stage() const;
  /// The current name prefix ("h0/attn"; "" at top level).
  std::string current_prefix() const;
  /// The full name a variable `name` gets here: "<prefix>/<name>".
  std::string ScopedName(const std::string& name) const;
  /// The derived seed of a variable with full name `full_name`.
  int64_t DerivedSeed(const std::string& full_name) const;
  /// Records `status` unless an error is already kept; returns false when
  /// the builder holds an error afterwards (for layers that check inputs).
  bool Record(const Status& status);
  /// An empty Tensor of this builder (what failed calls return).
  Tensor Empty() { return Tensor(this, -1); }

 private:
  friend class Tensor;
  friend class Scope;

  // Routes OpEmitter calls through the builder's checks.
  class EmitterAdapter final : public OpEmitter {
   public:
    explicit EmitterAdapter(GraphBuilder& builder) : builder_(builder) {}
    StatusOr<std::vector<ValueRef>> Emit(const std::string& op, const std::vector<ValueRef>& inputs,
                                         const AttrMap& attrs) override;
    TensorDesc Desc(ValueRef value) const override;

   private:
    GraphBuilder& builder_;
  };

  struct ScopeEntry {
    int64_t token = 0;
    std::string name;
    ScopeOptions options;
  };

  // The checked emit behind Op() and the emitter: validates the inputs
  // (same builder, not empty, device types), infers, names, places.
  // `placement` overrides the placement rule; `explicit_move` (Tensor::To)
  // allows a change of device type.
  StatusOr<std::vector<compiler::ValueId>> EmitChecked(const std::string& op,
                                                       const std::vector<compiler::ValueId>& inputs,
                                                       const AttrMap& attrs,
                                                       const std::optional<Placement>& placement,
                                                       bool explicit_move);
  // Checks that `inputs` belong to this builder and are not empty; `who`
  // names the call in the message.
  Status CheckOperands(const std::string& who, const std::vector<Tensor>& inputs) const;
  // Sets (or confirms) the hint of `value`; `who` names it in errors.
  Status SetHint(compiler::ValueId value, const NdSbp& nd_sbp);
  // "'x' f32[8, 4] on cpu:[0] mesh [1]": how errors name a value.
  std::string DescribeValue(compiler::ValueId value) const;
  int64_t PushScope(std::string name, ScopeOptions options);
  void PopScope(int64_t token);
  std::optional<NdSbp> CurrentVariableSbp() const;
  bool HasScopePlacement() const;

  const OpRegistry& ops_;
  Placement default_placement_;
  BuilderOptions options_;
  compiler::Graph graph_;
  compiler::GraphEmitter emitter_;
  EmitterAdapter emitter_adapter_;
  std::vector<ScopeEntry> scopes_;
  int64_t next_scope_token_ = 1;
  Status status_;
  bool minimized_ = false;
};

}  // namespace ofl::api

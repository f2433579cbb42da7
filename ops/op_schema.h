// The contract of an op, all in one place (MLX style): inputs, outputs,
// attributes with defaults, shape/dtype inference, SBP signatures, gradient
// rule and documentation. Kernels live beside the schema in the op's folder
// and are registered in the KernelRegistry under the same name.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "oneflow_like/attr.h"
#include "oneflow_like/status.h"
#include "oneflow_like/tensor_desc.h"
#include "sbp/signature.h"

namespace ofl {

/// What inference and SBP functions see of one op instance: the logical
/// input descriptions and the attributes (defaults already filled in).
struct OpView {
  const std::string& op;
  const std::vector<TensorDesc>& inputs;
  const AttrMap& attrs;
  std::vector<std::string> input_names;  ///< argument names, for messages
  /// The number of pieces a Split of this signature list will cut a tensor
  /// into along one mesh axis; 0 = unknown: list only signatures valid for
  /// any count. Only SBP functions read it (inference never depends on it).
  int64_t split_parts = 0;

  const TensorDesc& in(int i) const { return inputs[i]; }
  int num_inputs() const { return static_cast<int>(inputs.size()); }
  /// "[matmul] b" for messages about input `i`.
  std::string Who(int i) const;
  /// "[matmul]".
  std::string Who() const { return "[" + op + "]"; }
};

/// Handle to a tensor in whatever graph an OpEmitter builds.
struct ValueRef {
  int64_t id = -1;
  bool valid() const { return id >= 0; }
  bool operator==(const ValueRef& other) const { return id == other.id; }
};

/// Something ops can be emitted into: the compiler's logical IR, or the
/// eager executor used by tests. Gradient rules and composite ops (e.g.
/// causal attention, global-norm clipping) are written against it.
class OpEmitter {
 public:
  virtual ~OpEmitter() = default;
  /// Adds op `op` applied to `inputs`; returns its outputs.
  virtual StatusOr<std::vector<ValueRef>> Emit(const std::string& op, const std::vector<ValueRef>& inputs,
                                               const AttrMap& attrs) = 0;
  /// The logical description of `value`.
  virtual TensorDesc Desc(ValueRef value) const = 0;

  /// Emit for ops with exactly one output.
  StatusOr<ValueRef> Emit1(const std::string& op, const std::vector<ValueRef>& inputs,
                           const AttrMap& attrs = {});
};

/// What a gradient rule sees. Contract: every entry of output_grads is
/// valid (the caller supplies zeros for outputs nobody consumed); the rule
/// sets input_grads[i] for every i with needs_input_grad[i] and may leave
/// others invalid.
struct GradContext {
  OpEmitter* emitter = nullptr;
  const AttrMap* attrs = nullptr;
  std::vector<ValueRef> inputs;
  std::vector<ValueRef> outputs;
  std::vector<ValueRef> output_grads;
  std::vector<bool> needs_input_grad;
  std::vector<ValueRef> input_grads;

  const AttrMap& attr() const { return *attrs; }
  TensorDesc Desc(ValueRef value) const { return emitter->Desc(value); }
  StatusOr<ValueRef> Emit1(const std::string& op, const std::vector<ValueRef>& in, const AttrMap& a = {}) {
    return emitter->Emit1(op, in, a);
  }
};

using InferFn = std::function<StatusOr<std::vector<TensorDesc>>(const OpView&)>;
using SbpFn = std::function<std::vector<SbpSignature>(const OpView&)>;
using GradFn = std::function<Status(GradContext&)>;

/// A named argument with a one-line doc.
struct ArgDef {
  std::string name;
  std::string doc;
};

/// An attribute, its default (absent when required) and a one-line doc.
struct AttrDef {
  std::string name;
  AttrValue default_value;
  bool required = false;
  std::string doc;
};

/// An example instance, used by `ofl ops` to print signatures and by docs.
struct OpExample {
  std::vector<TensorDesc> inputs;
  AttrMap attrs;
};

/// The whole contract of one op.
struct OpSchema {
  std::string name;
  std::string doc;
  std::vector<ArgDef> inputs;
  std::vector<ArgDef> outputs;
  /// The last input may repeat (concat, add_n); at least one is required.
  bool variadic_inputs = false;
  /// The number of outputs is decided by inference (split); `outputs`
  /// then documents the repeated output.
  bool variadic_outputs = false;
  /// Inputs written in place (optimizer updates); such ops have no outputs.
  std::vector<int> mutated_inputs;
  std::vector<AttrDef> attrs;
  InferFn infer;
  SbpFn sbp;
  GradFn grad;  ///< empty when the op is not differentiable
  OpExample example;
  /// Set by ops whose SBP list reads OpView::split_parts (reshape): their
  /// list differs per piece count, so N-D deduction asks once per mesh axis
  /// extent and checks nested splits of one tensor axis separately.
  bool signatures_depend_on_split_parts = false;
};

/// The result of checking and inferring one op instance.
struct InferredOp {
  AttrMap attrs;  ///< with defaults filled in
  std::vector<TensorDesc> outputs;
};

/// All ops of a process, by name. Filled by explicit calls
/// (RegisterAllOps), then only read.
class OpRegistry {
 public:
  Status Register(OpSchema schema);
  /// The schema of `name`, or an error naming the unknown op.
  StatusOr<const OpSchema*> Get(const std::string& name) const;
  const OpSchema* Find(const std::string& name) const;
  /// All op names, sorted.
  std::vector<std::string> Names() const;
  int size() const { return static_cast<int>(schemas_.size()); }

  /// Checks input count, fills default attributes, rejects unknown or
  /// mistyped attributes, and runs inference.
  StatusOr<InferredOp> Infer(const std::string& op, const std::vector<TensorDesc>& inputs,
                             const AttrMap& attrs) const;
  /// The 1-D SBP signatures of an instance whose attrs were returned by Infer,
  /// valid when a Split cuts a tensor into `split_parts` pieces (0 = any
  /// count: only the signatures valid whatever the count; see OpView).
  StatusOr<std::vector<SbpSignature>> Signatures(const std::string& op, const std::vector<TensorDesc>& inputs,
                                                 const AttrMap& attrs, int64_t split_parts = 0) const;

 private:
  std::map<std::string, OpSchema> schemas_;
};

}  // namespace ofl

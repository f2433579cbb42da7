// sgd_update and adam_update: element-wise in-place parameter updates with
// PyTorch semantics. Both read a [] learning rate tensor (and Adam a [] i64
// step) so schedules change them without recompiling; state tensors share
// the parameter's shape and dtype.
#include <cmath>

#include "oneflow_like/parallel.h"
#include "ops/common/infer_helpers.h"
#include "ops/common/kernel_helpers.h"
#include "ops/optimizer/adam_attrs.h"
#include "ops/optimizer/optimizer.h"

namespace ofl {

namespace {

using UpdateTypes = TypeList<float, double>;

// Parameters are f32 or f64; state tensors (grad, buffers) match param.
Status CheckParamAndState(const OpView& op, const std::vector<int>& state_inputs, int learning_rate_input) {
  const DType dtype = op.in(0).dtype;
  OFL_CHECK_OR_RETURN(dtype == DType::kF32 || dtype == DType::kF64)
      << op.Who(0) << ": expected dtype f32 or f64, got " << DTypeName(dtype);
  for (int i : state_inputs) {
    OFL_RETURN_IF_ERROR(ExpectSameDType(op, 0, i));
    OFL_RETURN_IF_ERROR(ExpectSameShape(op, 0, i));
  }
  OFL_RETURN_IF_ERROR(ExpectRank(op, learning_rate_input, 0));
  OFL_RETURN_IF_ERROR(ExpectSameDType(op, 0, learning_rate_input));
  return Status::Ok();
}

Status CheckNonNegative(const OpView& op, const std::string& name) {
  const double value = op.attrs.GetFloat(name);
  OFL_CHECK_OR_RETURN(std::isfinite(value) && value >= 0)
      << op.Who() << " attribute " << name << ": expected a finite value >= 0, got " << value;
  return Status::Ok();
}

Status CheckBeta(const OpView& op, const std::string& name) {
  const double value = op.attrs.GetFloat(name);
  OFL_CHECK_OR_RETURN(value >= 0 && value < 1)
      << op.Who() << " attribute " << name << ": expected a value in [0, 1), got " << value;
  return Status::Ok();
}

// All B, and S(k) on param, grad and state for every axis of param with the
// scalar inputs B: the update is element-wise.
std::vector<SbpSignature> UpdateSignatures(const OpView& op, int num_sharded, const std::string& scalars) {
  std::vector<SbpSignature> list;
  list.push_back(
      SignatureBuilder(op.num_inputs(), 0)
          .Note("B: cpu:0 and cpu:1 each hold param, grad and state whole (data parallel, after the "
                "gradient all-reduce) and apply the same update to their copies")
          .Build());
  for (int axis = 0; axis < op.in(0).shape.rank(); ++axis) {
    const std::string k = std::to_string(axis);
    SignatureBuilder builder(op.num_inputs(), 0);
    for (int i = 0; i < num_sharded; ++i) builder.Input(i, Sbp::Split(axis));
    builder.Note("S(" + k + "): cpu:0 holds the first half of axis " + k +
                 " of param, grad and state, cpu:1 "
                 "the second (model-parallel variable or sharded optimizer state); " +
                 scalars + " B; the update is element-wise, so each half is updated on its own");
    list.push_back(builder.Build());
  }
  return list;
}

// The piece sizes of the sharded inputs agree and each scalar input holds one element.
Status CheckPieces(const KernelContext& ctx, int num_sharded) {
  for (int i = 1; i < num_sharded; ++i) {
    OFL_CHECK_OR_RETURN(ctx.in(i).NumElements() == ctx.in(0).NumElements())
        << "[" << ctx.op_name << "] cpu kernel: expected input " << i << " piece of "
        << ctx.in(0).NumElements() << " elements (the param piece), got " << ctx.in(i).NumElements();
  }
  for (int i = num_sharded; i < static_cast<int>(ctx.inputs.size()); ++i) {
    OFL_CHECK_OR_RETURN(ctx.in(i).NumElements() == 1)
        << "[" << ctx.op_name << "] cpu kernel: expected input " << i << " to hold one element, got "
        << ctx.in(i).NumElements();
  }
  return Status::Ok();
}

Status SgdKernel(KernelContext& ctx) {
  OFL_RETURN_IF_ERROR(CheckPieces(ctx, 3));
  const double momentum = ctx.attr().GetFloat("momentum");
  const double weight_decay = ctx.attr().GetFloat("weight_decay");
  return DispatchOr(ctx, UpdateTypes{}, ctx.in(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* param = ctx.in(0).As<T>();
    const T* grad = ctx.in(1).As<T>();
    T* buffer = ctx.in(2).As<T>();
    const double learning_rate = static_cast<double>(ctx.in(3).As<T>()[0]);
    ParallelFor(ctx.in(0).NumElements(), 1 << 14, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const double p = param[i];
        const double g = static_cast<double>(grad[i]) + weight_decay * p;
        const double b = momentum * static_cast<double>(buffer[i]) + g;
        buffer[i] = static_cast<T>(b);
        param[i] = static_cast<T>(p - learning_rate * b);
      }
    });
  });
}

Status AdamKernel(KernelContext& ctx) {
  OFL_RETURN_IF_ERROR(CheckPieces(ctx, 4));
  const double beta1 = ctx.attr().GetFloat("beta1");
  const double beta2 = ctx.attr().GetFloat("beta2");
  const double epsilon = ctx.attr().GetFloat("epsilon");
  const double weight_decay = ctx.attr().GetFloat("weight_decay");
  const bool decoupled = ctx.attr().GetBool("decoupled_weight_decay");
  OFL_CHECK_OR_RETURN(ctx.in(5).dtype() == DType::kI64)
      << "[" << ctx.op_name << "] cpu kernel: expected step of dtype i64, got "
      << DTypeName(ctx.in(5).dtype());
  const int64_t step = ctx.in(5).As<int64_t>()[0];
  OFL_CHECK_OR_RETURN(step >= 1) << "[" << ctx.op_name << "] step: expected a 1-based step >= 1, got "
                                 << step;
  const double correction1 = 1.0 - std::pow(beta1, static_cast<double>(step));
  const double sqrt_correction2 = std::sqrt(1.0 - std::pow(beta2, static_cast<double>(step)));
  return DispatchOr(ctx, UpdateTypes{}, ctx.in(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* param = ctx.in(0).As<T>();
    const T* grad = ctx.in(1).As<T>();
    T* m = ctx.in(2).As<T>();
    T* v = ctx.in(3).As<T>();
    const double learning_rate = static_cast<double>(ctx.in(4).As<T>()[0]);
    const double step_size = learning_rate / correction1;
    // AdamW shrinks the parameter before the step; Adam folds decay into g.
    const double shrink = decoupled ? 1.0 - learning_rate * weight_decay : 1.0;
    const double coupled_decay = decoupled ? 0.0 : weight_decay;
    ParallelFor(ctx.in(0).NumElements(), 1 << 14, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const double p = param[i];
        const double g = static_cast<double>(grad[i]) + coupled_decay * p;
        const double first = beta1 * static_cast<double>(m[i]) + (1 - beta1) * g;
        const double second = beta2 * static_cast<double>(v[i]) + (1 - beta2) * g * g;
        m[i] = static_cast<T>(first);
        v[i] = static_cast<T>(second);
        const double denominator = std::sqrt(second) / sqrt_correction2 + epsilon;
        param[i] = static_cast<T>(p * shrink - step_size * first / denominator);
      }
    });
  });
}

OpSchema SgdSchema() {
  OpSchema schema;
  schema.name = "sgd_update";
  schema.doc =
      "PyTorch SGD in place: g = grad + weight_decay param; momentum_buffer = momentum momentum_buffer + g "
      "(the buffer starts at zero, so the first step stores g); param -= learning_rate momentum_buffer. "
      "momentum 0 is plain SGD";
  schema.inputs = {{"param", "parameter (f32 or f64), updated in place"},
                   {"grad", "gradient, shaped and typed like param"},
                   {"momentum_buffer", "momentum state, shaped and typed like param, updated in place"},
                   {"learning_rate", "[] tensor of param's dtype"}};
  schema.mutated_inputs = {0, 2};
  schema.attrs = {{"momentum", 0.0, false, "momentum factor (>= 0; 0 = plain SGD)"},
                  {"weight_decay", 0.0, false, "L2 penalty added to the gradient (>= 0)"}};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_RETURN_IF_ERROR(CheckParamAndState(op, {1, 2}, 3));
    OFL_RETURN_IF_ERROR(CheckNonNegative(op, "momentum"));
    OFL_RETURN_IF_ERROR(CheckNonNegative(op, "weight_decay"));
    return std::vector<TensorDesc>{};
  };
  schema.sbp = [](const OpView& op) { return UpdateSignatures(op, 3, "learning_rate is"); };
  const TensorDesc param{Shape{4, 3}, DType::kF32};
  schema.example = {{param, param, param, TensorDesc{Shape{}, DType::kF32}}, {{"momentum", 0.9}}};
  return schema;
}

OpSchema AdamSchema() {
  OpSchema schema;
  schema.name = "adam_update";
  schema.doc =
      "PyTorch Adam/AdamW in place: g = grad (+ weight_decay param unless decoupled); decoupled: param *= 1 "
      "- "
      "learning_rate weight_decay; m = beta1 m + (1 - beta1) g; v = beta2 v + (1 - beta2) g^2; param -= "
      "learning_rate / (1 - beta1^step) m / (sqrt(v) / sqrt(1 - beta2^step) + epsilon)";
  schema.inputs = {{"param", "parameter (f32 or f64), updated in place"},
                   {"grad", "gradient, shaped and typed like param"},
                   {"m", "first-moment state, shaped and typed like param, updated in place"},
                   {"v", "second-moment state, shaped and typed like param, updated in place"},
                   {"learning_rate", "[] tensor of param's dtype"},
                   {"step", "[] i64 tensor, the 1-based number of this update (bias correction)"}};
  schema.mutated_inputs = {0, 2, 3};
  schema.attrs = {{"beta1", 0.9, false, "decay of the first moment, in [0, 1)"},
                  {"beta2", 0.999, false, "decay of the second moment, in [0, 1)"},
                  {"epsilon", 1e-8, false, "added to the denominator (>= 0)"},
                  {"weight_decay", 0.0, false, "weight decay (>= 0)"},
                  {"decoupled_weight_decay", false, false,
                   "false: L2 added to the gradient (Adam); true: param shrunk by lr wd first (AdamW)"}};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_RETURN_IF_ERROR(CheckParamAndState(op, {1, 2, 3}, 4));
    OFL_RETURN_IF_ERROR(ExpectRank(op, 5, 0));
    OFL_RETURN_IF_ERROR(ExpectDType(op, 5, DType::kI64));
    OFL_RETURN_IF_ERROR(CheckAdamAttrs(op));
    return std::vector<TensorDesc>{};
  };
  schema.sbp = [](const OpView& op) { return UpdateSignatures(op, 4, "learning_rate and step are"); };
  const TensorDesc param{Shape{4, 3}, DType::kF32};
  schema.example = {
      {param, param, param, param, TensorDesc{Shape{}, DType::kF32}, TensorDesc{Shape{}, DType::kI64}}, {}};
  return schema;
}

}  // namespace

Status CheckAdamAttrs(const OpView& op) {
  OFL_RETURN_IF_ERROR(CheckBeta(op, "beta1"));
  OFL_RETURN_IF_ERROR(CheckBeta(op, "beta2"));
  OFL_RETURN_IF_ERROR(CheckNonNegative(op, "epsilon"));
  return CheckNonNegative(op, "weight_decay");
}

Status RegisterUpdateOps(OpRegistry& ops, KernelRegistry& kernels) {
  const std::vector<DType> dtypes = DTypesOf(UpdateTypes{});
  OFL_RETURN_IF_ERROR(ops.Register(SgdSchema()));
  OFL_RETURN_IF_ERROR(
      kernels.RegisterForDTypes("sgd_update", DeviceType::kCPU, dtypes, MakeFunctionKernel(SgdKernel)));
  OFL_RETURN_IF_ERROR(ops.Register(AdamSchema()));
  return kernels.RegisterForDTypes("adam_update", DeviceType::kCPU, dtypes, MakeFunctionKernel(AdamKernel));
}

}  // namespace ofl

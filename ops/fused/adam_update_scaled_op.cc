// adam_update_scaled: adam_update whose gradient is first multiplied by a []
// scale (global-norm clipping's clip_scale), in one pass over memory. The
// unfused chain g2 = mul(grad, grad_scale); adam_update(param, g2, ...)
// writes g2 and reads it back; here the product is formed in registers.
//
// Mirrors ops/optimizer/update_ops.cc: the product is rounded to the
// parameter dtype as mul stores it (this file is built with
// -ffp-contract=off so that no FMA skips the rounding), then the update runs
// in double with adam_update's formula. Fused and unfused results agree to
// the last ulp of the double arithmetic (the unfused loop may contract its
// multiply-adds), so f32 results are equal or one ulp apart.
#include <cmath>
#include <string>

#include "oneflow_like/parallel.h"
#include "ops/common/infer_helpers.h"
#include "ops/common/kernel_helpers.h"
#include "ops/fused/fused.h"

namespace ofl {

namespace {

using UpdateTypes = TypeList<float, double>;

// Input positions.
constexpr int kParam = 0, kGrad = 1, kM = 2, kV = 3, kLearningRate = 4, kStep = 5, kGradScale = 6;

Status CheckAttrRange(const OpView& op, const std::string& name, bool below_one) {
  const double value = op.attrs.GetFloat(name);
  if (below_one) {
    OFL_CHECK_OR_RETURN(value >= 0 && value < 1)
        << op.Who() << " attribute " << name << ": expected a value in [0, 1), got " << value;
  } else {
    OFL_CHECK_OR_RETURN(std::isfinite(value) && value >= 0)
        << op.Who() << " attribute " << name << ": expected a finite value >= 0, got " << value;
  }
  return Status::Ok();
}

StatusOr<std::vector<TensorDesc>> InferAdamUpdateScaled(const OpView& op) {
  const DType dtype = op.in(kParam).dtype;
  OFL_CHECK_OR_RETURN(dtype == DType::kF32 || dtype == DType::kF64)
      << op.Who(kParam) << ": expected dtype f32 or f64, got " << DTypeName(dtype);
  for (int i : {kGrad, kM, kV}) {
    OFL_RETURN_IF_ERROR(ExpectSameDType(op, kParam, i));
    OFL_RETURN_IF_ERROR(ExpectSameShape(op, kParam, i));
  }
  for (int i : {kLearningRate, kGradScale}) {
    OFL_RETURN_IF_ERROR(ExpectRank(op, i, 0));
    OFL_RETURN_IF_ERROR(ExpectSameDType(op, kParam, i));
  }
  OFL_RETURN_IF_ERROR(ExpectRank(op, kStep, 0));
  OFL_RETURN_IF_ERROR(ExpectDType(op, kStep, DType::kI64));
  OFL_RETURN_IF_ERROR(CheckAttrRange(op, "beta1", true));
  OFL_RETURN_IF_ERROR(CheckAttrRange(op, "beta2", true));
  OFL_RETURN_IF_ERROR(CheckAttrRange(op, "epsilon", false));
  OFL_RETURN_IF_ERROR(CheckAttrRange(op, "weight_decay", false));
  return std::vector<TensorDesc>{};
}

// adam_update's signatures with grad_scale B: the update is element-wise and
// the scale is one number every device needs whole.
std::vector<SbpSignature> AdamUpdateScaledSignatures(const OpView& op) {
  std::vector<SbpSignature> list;
  list.push_back(SignatureBuilder(op.num_inputs(), 0)
                     .Note("B: cpu:0 and cpu:1 each hold param, grad and state "
                           "whole (data parallel, after the "
                           "gradient all-reduce) and apply the same scaled "
                           "update to their copies")
                     .Build());
  for (int axis = 0; axis < op.in(kParam).shape.rank(); ++axis) {
    const std::string k = std::to_string(axis);
    SignatureBuilder builder(op.num_inputs(), 0);
    for (int i : {kParam, kGrad, kM, kV}) builder.Input(i, Sbp::Split(axis));
    builder.Note("S(" + k + "): cpu:0 holds the first half of axis " + k +
                 " of param, grad, m and v, cpu:1 the second (model-parallel "
                 "variable or sharded optimizer "
                 "state); learning_rate, step and grad_scale are B; the update "
                 "is element-wise, so each half "
                 "is scaled and updated on its own");
    list.push_back(builder.Build());
  }
  return list;
}

Status AdamUpdateScaledKernel(KernelContext& ctx) {
  for (int i : {kGrad, kM, kV}) {
    OFL_CHECK_OR_RETURN(ctx.in(i).NumElements() == ctx.in(kParam).NumElements())
        << "[" << ctx.op_name << "] cpu kernel: expected input " << i << " piece of "
        << ctx.in(kParam).NumElements() << " elements (the param piece), got " << ctx.in(i).NumElements();
  }
  for (int i : {kLearningRate, kStep, kGradScale}) {
    OFL_CHECK_OR_RETURN(ctx.in(i).NumElements() == 1)
        << "[" << ctx.op_name << "] cpu kernel: expected input " << i << " to hold one element, got "
        << ctx.in(i).NumElements();
  }
  const double beta1 = ctx.attr().GetFloat("beta1");
  const double beta2 = ctx.attr().GetFloat("beta2");
  const double epsilon = ctx.attr().GetFloat("epsilon");
  const double weight_decay = ctx.attr().GetFloat("weight_decay");
  const bool decoupled = ctx.attr().GetBool("decoupled_weight_decay");
  OFL_CHECK_OR_RETURN(ctx.in(kStep).dtype() == DType::kI64)
      << "[" << ctx.op_name << "] cpu kernel: expected step of dtype i64, got "
      << DTypeName(ctx.in(kStep).dtype());
  const int64_t step = ctx.in(kStep).As<int64_t>()[0];
  OFL_CHECK_OR_RETURN(step >= 1) << "[" << ctx.op_name << "] step: expected a 1-based step >= 1, got "
                                 << step;
  const double correction1 = 1.0 - std::pow(beta1, static_cast<double>(step));
  const double sqrt_correction2 = std::sqrt(1.0 - std::pow(beta2, static_cast<double>(step)));
  return DispatchOr(ctx, UpdateTypes{}, ctx.in(kParam).dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* param = ctx.in(kParam).As<T>();
    const T* grad = ctx.in(kGrad).As<T>();
    T* m = ctx.in(kM).As<T>();
    T* v = ctx.in(kV).As<T>();
    const double learning_rate = static_cast<double>(ctx.in(kLearningRate).As<T>()[0]);
    const T grad_scale = ctx.in(kGradScale).As<T>()[0];
    const double step_size = learning_rate / correction1;
    // AdamW shrinks the parameter before the step; Adam folds decay into g.
    const double shrink = decoupled ? 1.0 - learning_rate * weight_decay : 1.0;
    const double coupled_decay = decoupled ? 0.0 : weight_decay;
    ParallelFor(ctx.in(kParam).NumElements(), 1 << 14, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const double p = param[i];
        // Rounded to T, as mul(grad, grad_scale) stores it.
        const T scaled = grad[i] * grad_scale;
        const double g = static_cast<double>(scaled) + coupled_decay * p;
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

}  // namespace

Status RegisterAdamUpdateScaledOp(OpRegistry& ops, KernelRegistry& kernels) {
  OpSchema schema;
  schema.name = "adam_update_scaled";
  schema.doc =
      "adam_update with grad replaced by grad * grad_scale (the "
      "product rounded to param's dtype), in one pass "
      "over memory; equals adam_update(param, mul(grad, grad_scale), "
      "m, v, learning_rate, step) (made by the "
      "fusion pass from global-norm clipping's scaled gradient)";
  schema.inputs = {{"param", "parameter (f32 or f64), updated in place"},
                   {"grad", "gradient before scaling, shaped and typed like param"},
                   {"m", "first-moment state, shaped and typed like param, updated in place"},
                   {"v", "second-moment state, shaped and typed like param, updated in place"},
                   {"learning_rate", "[] tensor of param's dtype"},
                   {"step", "[] i64 tensor, the 1-based number of this update (bias correction)"},
                   {"grad_scale", "[] tensor of param's dtype multiplying grad (clip_scale's output)"}};
  schema.mutated_inputs = {kParam, kM, kV};
  schema.attrs = {{"beta1", 0.9, false, "decay of the first moment, in [0, 1)"},
                  {"beta2", 0.999, false, "decay of the second moment, in [0, 1)"},
                  {"epsilon", 1e-8, false, "added to the denominator (>= 0)"},
                  {"weight_decay", 0.0, false, "weight decay (>= 0)"},
                  {"decoupled_weight_decay", false, false,
                   "false: L2 added to the gradient (Adam); true: param shrunk by lr wd "
                   "first (AdamW)"}};
  schema.infer = InferAdamUpdateScaled;
  schema.sbp = AdamUpdateScaledSignatures;
  const TensorDesc param{Shape{4, 3}, DType::kF32};
  const TensorDesc scalar{Shape{}, DType::kF32};
  schema.example = {{param, param, param, param, scalar, TensorDesc{Shape{}, DType::kI64}, scalar}, {}};
  OFL_RETURN_IF_ERROR(ops.Register(std::move(schema)));
  return kernels.RegisterForDTypes("adam_update_scaled", DeviceType::kCPU, DTypesOf(UpdateTypes{}),
                                   MakeFunctionKernel(AdamUpdateScaledKernel));
}

}  // namespace ofl

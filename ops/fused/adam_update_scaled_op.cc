// adam_update_scaled: adam_update whose gradient is first multiplied by a []
// scale (global-norm clipping's clip_scale), in one pass over memory. The
// unfused chain g2 = mul(grad, grad_scale); adam_update(param, g2, ...)
// writes g2 and reads it back; here the product is formed in registers.
//
// Mirrors ops/optimizer/update_ops.cc: the product is rounded to the
// parameter dtype as mul stores it (this file is built with
// -ffp-contract=off so that no FMA skips the rounding), then the update runs
// in double with adam_update's formula (ops/optimizer/adam_math.h, which the
// CUDA kernel shares: with contraction off both round every operation). Fused and unfused results agree to
// the last ulp of the double arithmetic (the unfused loop may contract its
// multiply-adds), so f32 results are equal or one ulp apart.
#include <cmath>
#include <string>

#include "oneflow_like/parallel.h"
#include "ops/common/infer_helpers.h"
#include "ops/common/kernel_helpers.h"
#include "ops/fused/fused.h"
#include "ops/optimizer/adam_attrs.h"

namespace ofl {

namespace {

using UpdateTypes = TypeList<float, double>;

// Input positions.
constexpr int kParam = 0, kGrad = 1, kM = 2, kV = 3, kLearningRate = 4, kStep = 5, kGradScale = 6;

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
  OFL_RETURN_IF_ERROR(CheckAdamAttrs(op));
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
  OFL_CHECK_OR_RETURN(ctx.in(kStep).dtype() == DType::kI64)
      << "[" << ctx.op_name << "] cpu kernel: expected step of dtype i64, got "
      << DTypeName(ctx.in(kStep).dtype());
  const int64_t step = ctx.in(kStep).As<int64_t>()[0];
  OFL_CHECK_OR_RETURN(step >= 1) << "[" << ctx.op_name << "] step: expected a 1-based step >= 1, got "
                                 << step;
  const AdamHyperparameters hyper = AdamHyperparametersOf(ctx.attr());
  return DispatchOr(ctx, UpdateTypes{}, ctx.in(kParam).dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* param = ctx.in(kParam).As<T>();
    const T* grad = ctx.in(kGrad).As<T>();
    T* m = ctx.in(kM).As<T>();
    T* v = ctx.in(kV).As<T>();
    const T grad_scale = ctx.in(kGradScale).As<T>()[0];
    const AdamStepCoefficients coefficients =
        AdamCoefficientsFor(hyper, static_cast<double>(ctx.in(kLearningRate).As<T>()[0]), step);
    ParallelFor(ctx.in(kParam).NumElements(), 1 << 14, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        // Rounded to T, as mul(grad, grad_scale) stores it.
        const T scaled = grad[i] * grad_scale;
        const AdamElement updated = AdamUpdateElement(hyper, coefficients, param[i], scaled, m[i], v[i]);
        m[i] = static_cast<T>(updated.m);
        v[i] = static_cast<T>(updated.v);
        param[i] = static_cast<T>(updated.param);
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

// clip_scale: the factor global-norm clipping multiplies every gradient by,
// from the total sum of squares: min(1, max_norm / (sqrt(s) + 1e-6)).
#include <algorithm>
#include <cmath>

#include "ops/common/infer_helpers.h"
#include "ops/common/kernel_helpers.h"
#include "ops/common/sbp_helpers.h"
#include "ops/optimizer/optimizer.h"

namespace ofl {

namespace {

// Keeps the factor finite when all gradients are zero (PyTorch uses the same 1e-6).
constexpr double kNormEpsilon = 1e-6;

Status ClipScaleKernel(KernelContext& ctx) {
  const double max_norm = ctx.attr().GetFloat("max_norm");
  OFL_CHECK_OR_RETURN(ctx.in(0).NumElements() == 1 && ctx.out(0).NumElements() == 1)
      << "[" << ctx.op_name << "] cpu kernel: expected one-element pieces, got " << ctx.in(0).NumElements()
      << " in and " << ctx.out(0).NumElements() << " out";
  return DispatchOr(ctx, TypeList<float, double>{}, ctx.in(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    const double sum_of_squares = static_cast<double>(ctx.in(0).As<T>()[0]);
    ctx.out(0).As<T>()[0] =
        static_cast<T>(std::min(1.0, max_norm / (std::sqrt(sum_of_squares) + kNormEpsilon)));
  });
}

}  // namespace

Status RegisterClipScaleOp(OpRegistry& ops, KernelRegistry& kernels) {
  OpSchema schema;
  schema.name = "clip_scale";
  schema.doc = "scale = min(1, max_norm / (sqrt(sum_of_squares) + 1e-6)), the global-norm clipping factor";
  schema.inputs = {{"sum_of_squares", "[] total sum of squares of all gradients (f32 or f64)"}};
  schema.outputs = {{"scale", "[] factor to multiply every gradient by"}};
  schema.attrs = {{"max_norm", 0.0, true, "the largest global norm left unscaled (> 0)"}};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    const DType dtype = op.in(0).dtype;
    OFL_CHECK_OR_RETURN(dtype == DType::kF32 || dtype == DType::kF64)
        << op.Who(0) << ": expected dtype f32 or f64, got " << DTypeName(dtype);
    OFL_RETURN_IF_ERROR(ExpectRank(op, 0, 0));
    const double max_norm = op.attrs.GetFloat("max_norm");
    OFL_CHECK_OR_RETURN(std::isfinite(max_norm) && max_norm > 0)
        << op.Who() << " attribute max_norm: expected a finite value > 0, got " << max_norm;
    return std::vector<TensorDesc>{op.in(0)};
  };
  // Only B: the factor is nonlinear in the sum, so a Partial sum must be
  // reduced first, and a [] tensor cannot be split.
  schema.sbp = [](const OpView&) { return BroadcastOnlySignatures(1, 1); };
  schema.example = {{{Shape{}, DType::kF32}}, {{"max_norm", 1.0}}};
  OFL_RETURN_IF_ERROR(ops.Register(std::move(schema)));
  return kernels.RegisterForDTypes("clip_scale", DeviceType::kCPU, {DType::kF32, DType::kF64},
                                   MakeFunctionKernel(ClipScaleKernel));
}

}  // namespace ofl

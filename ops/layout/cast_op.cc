// cast: y = x converted to another dtype, element by element.
#include "oneflow_like/parallel.h"
#include "ops/common/grad_helpers.h"
#include "ops/elementwise/functors.h"
#include "ops/layout/layout_internal.h"

namespace ofl {

namespace {

// One element from `From` to `To` by the rule of functors::CastValue
// (shared with the CUDA kernel), between the compute types: 16-bit floats
// are read as float and written from float.
template <typename To, typename From>
To Convert(From value) {
  return To(functors::CastValue<ComputeType<To>>(static_cast<ComputeType<From>>(value)));
}

Status RunCast(KernelContext& ctx) {
  const Blob& x = ctx.in(0);
  const Blob& y = ctx.out(0);
  OFL_CHECK_OR_RETURN(x.NumElements() == y.NumElements())
      << "[" << ctx.op_name << "] cpu kernel: expected an output piece of " << x.NumElements()
      << " elements, got " << y.desc.ToString();
  const int64_t count = x.NumElements();
  bool converted = false;
  VisitDTypeIn(AllTypes{}, x.dtype(), [&](auto from_tag) {
    using From = decltype(from_tag);
    converted = VisitDTypeIn(AllTypes{}, y.dtype(), [&](auto to_tag) {
      using To = decltype(to_tag);
      const From* in = x.As<From>();
      To* out = y.As<To>();
      ParallelFor(count, int64_t{1} << 15, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) out[i] = Convert<To>(in[i]);
      });
    });
  });
  if (!converted) return UnsupportedDType(ctx, y.dtype());
  return Status::Ok();
}

OpSchema CastSchema() {
  OpSchema schema;
  schema.name = "cast";
  schema.doc = "y = x converted to `dtype` (to bool: x != 0; float to integer truncates toward zero)";
  schema.inputs = {{"x", "input, any dtype"}};
  schema.outputs = {{"y", "x as dtype"}};
  schema.attrs = {{"dtype", DType::kF32, true, "the dtype of y"}};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    return std::vector<TensorDesc>{{op.in(0).shape, op.attrs.GetDType("dtype")}};
  };
  schema.sbp = [](const OpView& op) {
    std::vector<SbpSignature> list = SameAxesSignatures(1, 1, op.in(0).shape.rank());
    // Only float -> float conversion is (up to rounding) linear.
    if (IsFloatingPoint(op.in(0).dtype) && IsFloatingPoint(op.attrs.GetDType("dtype"))) {
      AddPartialSignatures(list, 1, 1, op.in(0).dtype, /*with_max=*/false);
    }
    return list;
  };
  schema.grad = [](GradContext& ctx) -> Status {
    if (!ctx.needs_input_grad[0]) return Status::Ok();
    const TensorDesc x = ctx.Desc(ctx.inputs[0]);
    if (IsFloatingPoint(ctx.Desc(ctx.outputs[0]).dtype)) {
      OFL_ASSIGN_OR_RETURN(ctx.input_grads[0],
                           ctx.Emit1("cast", {ctx.output_grads[0]}, {{"dtype", x.dtype}}));
    } else {  // a non-float output is piecewise constant in x
      OFL_ASSIGN_OR_RETURN(ctx.input_grads[0], ZerosLike(*ctx.emitter, ctx.inputs[0]));
    }
    return Status::Ok();
  };
  schema.example = {{{Shape{4, 3}, DType::kF32}}, {{"dtype", DType::kF16}}};
  return schema;
}

}  // namespace

Status RegisterCastOp(OpRegistry& ops, KernelRegistry& kernels) {
  OFL_RETURN_IF_ERROR(ops.Register(CastSchema()));
  return kernels.RegisterForDTypes("cast", DeviceType::kCPU, AllDTypes(), MakeFunctionKernel(RunCast));
}

}  // namespace ofl

#include "ops/common/sbp_helpers.h"
#include "ops/elementwise/broadcast_loop.h"
#include "ops/elementwise/elementwise.h"

namespace ofl {

namespace {

// y = f(x, scalar) with the scalar converted to the compute type.
template <typename F>
KernelFactory ScalarKernel() {
  return MakeFunctionKernel([](KernelContext& ctx) {
    const double scalar = ctx.attr().GetFloat("scalar");
    return DispatchOr(ctx, NumericTypes{}, ctx.in(0).dtype(), [&](auto tag) {
      using T = decltype(tag);
      using C = ComputeType<T>;
      const C s = static_cast<C>(scalar);
      UnaryLoop(ctx.in(0).As<T>(), ctx.out(0).As<T>(), ctx.in(0).NumElements(), [s](C x) { return F{}(x, s); });
    });
  });
}

OpSchema ScalarSchema(const std::string& name, const std::string& doc, PartialRule rule, GradFn grad) {
  OpSchema schema;
  schema.name = name;
  schema.doc = doc;
  schema.inputs = {{"x", "input"}};
  schema.outputs = {{"y", "result, shaped like x"}};
  schema.attrs = {{"scalar", 0.0, true, "the scalar operand"}};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    const DType dtype = op.in(0).dtype;
    OFL_CHECK_OR_RETURN(IsFloatingPoint(dtype) || dtype == DType::kI32 || dtype == DType::kI64)
        << op.Who(0) << ": expected a numeric dtype (f32, f64, f16, bf16, i32, i64), got " << DTypeName(dtype);
    return std::vector<TensorDesc>{op.in(0)};
  };
  schema.sbp = [rule](const OpView& op) { return ElementwiseSignatures(op, op.in(0).shape, 1, rule); };
  schema.grad = std::move(grad);
  schema.example = {{{Shape{4, 3}, DType::kF32}}, {{"scalar", 2.0}}};
  return schema;
}

Status PassThroughGrad(GradContext& ctx) {
  if (ctx.needs_input_grad[0]) ctx.input_grads[0] = ctx.output_grads[0];
  return Status::Ok();
}

// d(x op s)/dx applied to dy as the same scalar op (mul and div).
GradFn SameScalarOpGrad(const std::string& op) {
  return [op](GradContext& ctx) -> Status {
    if (!ctx.needs_input_grad[0]) return Status::Ok();
    OFL_ASSIGN_OR_RETURN(ctx.input_grads[0], ctx.Emit1(op, {ctx.output_grads[0]},
                                                       {{"scalar", ctx.attr().GetFloat("scalar")}}));
    return Status::Ok();
  };
}

// y = x^s: dx = dy * s * x^(s-1).
Status ScalarPowGrad(GradContext& ctx) {
  if (!ctx.needs_input_grad[0]) return Status::Ok();
  const double s = ctx.attr().GetFloat("scalar");
  OFL_ASSIGN_OR_RETURN(ValueRef power, ctx.Emit1("scalar_pow", {ctx.inputs[0]}, {{"scalar", s - 1.0}}));
  OFL_ASSIGN_OR_RETURN(ValueRef scaled, ctx.Emit1("scalar_mul", {power}, {{"scalar", s}}));
  OFL_ASSIGN_OR_RETURN(ctx.input_grads[0], ctx.Emit1("mul", {ctx.output_grads[0], scaled}));
  return Status::Ok();
}

}  // namespace

Status RegisterScalarOps(OpRegistry& ops, KernelRegistry& kernels) {
  const std::vector<DType> numeric = DTypesOf(NumericTypes{});
  struct Entry {
    const char* name;
    const char* doc;
    PartialRule rule;
    GradFn grad;
    KernelFactory kernel;
  };
  const Entry entries[] = {
      {"scalar_add", "y = x + scalar", PartialRule::kNone, PassThroughGrad, ScalarKernel<functors::Add>()},
      {"scalar_sub", "y = x - scalar", PartialRule::kNone, PassThroughGrad, ScalarKernel<functors::Sub>()},
      {"scalar_mul", "y = x * scalar", PartialRule::kAllPartial, SameScalarOpGrad("scalar_mul"),
       ScalarKernel<functors::Mul>()},
      {"scalar_div", "y = x / scalar", PartialRule::kAllPartial, SameScalarOpGrad("scalar_div"),
       ScalarKernel<functors::Div>()},
      {"scalar_pow", "y = x ^ scalar", PartialRule::kNone, ScalarPowGrad, ScalarKernel<functors::Pow>()},
  };
  for (const Entry& entry : entries) {
    OFL_RETURN_IF_ERROR(ops.Register(ScalarSchema(entry.name, entry.doc, entry.rule, entry.grad)));
    OFL_RETURN_IF_ERROR(kernels.RegisterForDTypes(entry.name, DeviceType::kCPU, numeric, entry.kernel));
  }
  return Status::Ok();
}

}  // namespace ofl

#include <cmath>

#include "ops/common/grad_helpers.h"
#include "ops/common/infer_helpers.h"
#include "ops/common/sbp_helpers.h"
#include "ops/elementwise/broadcast_loop.h"
#include "ops/elementwise/dnnl_eltwise.h"
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
  schema.infer = [name](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    const DType dtype = op.in(0).dtype;
    if (name == "scalar_pow") OFL_RETURN_IF_ERROR(ExpectFloating(op, 0));
    OFL_CHECK_OR_RETURN(IsFloatingPoint(dtype) || dtype == DType::kI32 || dtype == DType::kI64)
        << op.Who(0) << ": expected a numeric dtype (f32, f64, f16, bf16, i32, i64), got " << DTypeName(dtype);
    if (IsInteger(dtype)) {
      // The scalar is converted to the tensor's dtype: it must be exact
      // there (0.5 would silently become 0), and an integer divisor nonzero.
      const double scalar = op.attrs.GetFloat("scalar");
      const double limit = dtype == DType::kI32 ? 2147483647.0 : 9007199254740992.0;
      OFL_CHECK_OR_RETURN(std::floor(scalar) == scalar && std::abs(scalar) <= limit)
          << op.Who() << " attribute scalar: expected an integer in the range of " << DTypeName(dtype)
          << " for a " << DTypeName(dtype) << " tensor, got " << scalar;
      OFL_CHECK_OR_RETURN(name != "scalar_div" || scalar != 0)
          << op.Who() << " attribute scalar: expected a nonzero divisor for integer division, got 0";
    }
    return std::vector<TensorDesc>{op.in(0)};
  };
  schema.sbp = [rule, name](const OpView& op) {
    // Integer division truncates: (x0 + x1) / s != x0 / s + x1 / s.
    const bool truncating = name == "scalar_div" && IsInteger(op.in(0).dtype);
    return ElementwiseSignatures(op, op.in(0).shape, 1, truncating ? PartialRule::kNone : rule);
  };
  schema.grad = std::move(grad);
  schema.example = {{{Shape{4, 3}, DType::kF32}}, {{"scalar", 2.0}}};
  return schema;
}

// f32 scalar_pow through oneDNN's eltwise_pow (alpha x^beta) only for the
// exponents it computes with vector instructions (1/x, 1, sqrt, x, x^2);
// for any other exponent it calls powf per element, slower than our loop,
// so those calls stay on the loop. pow(x, 0.5) as sqrt differs only at
// x = -0 (gives -0) and x = -inf (gives NaN).
std::optional<EltwiseAlgorithm> ScalarPowAlgorithm(const AttrMap& attrs) {
  const double exponent = attrs.GetFloat("scalar");
  if (exponent != -1.0 && exponent != 0.0 && exponent != 0.5 && exponent != 1.0 && exponent != 2.0) {
    return std::nullopt;
  }
  return EltwiseAlgorithm{dnnl::algorithm::eltwise_pow, 1.0f, static_cast<float>(exponent)};
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

// y = x^s: dx = dy * s * x^(s-1); for s = 0 (y = 1) dx = 0, not the
// 0 * inf = NaN the formula gives at x = 0.
Status ScalarPowGrad(GradContext& ctx) {
  if (!ctx.needs_input_grad[0]) return Status::Ok();
  const double s = ctx.attr().GetFloat("scalar");
  if (s == 0.0) {
    OFL_ASSIGN_OR_RETURN(ctx.input_grads[0], ZerosLike(*ctx.emitter, ctx.inputs[0]));
    return Status::Ok();
  }
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
    KernelFactory f32;  ///< the f32 kernel where it is not the loop
  };
  // add, sub, mul and div stay on the loop for f32: it vectorises, is as
  // fast as oneDNN's eltwise_linear on large tensors and skips oneDNN's
  // per-call cost on small ones.
  const Entry entries[] = {
      {"scalar_add", "y = x + scalar", PartialRule::kNone, PassThroughGrad, ScalarKernel<functors::Add>(), nullptr},
      {"scalar_sub", "y = x - scalar", PartialRule::kNone, PassThroughGrad, ScalarKernel<functors::Sub>(), nullptr},
      {"scalar_mul", "y = x * scalar", PartialRule::kAllPartial, SameScalarOpGrad("scalar_mul"),
       ScalarKernel<functors::Mul>(), nullptr},
      {"scalar_div", "y = x / scalar", PartialRule::kAllPartial, SameScalarOpGrad("scalar_div"),
       ScalarKernel<functors::Div>(), nullptr},
      {"scalar_pow", "y = x ^ scalar", PartialRule::kNone, ScalarPowGrad, ScalarKernel<functors::Pow>(),
       DnnlEltwiseForwardKernel(ScalarPowAlgorithm, ScalarKernel<functors::Pow>())},
  };
  for (const Entry& entry : entries) {
    OFL_RETURN_IF_ERROR(ops.Register(ScalarSchema(entry.name, entry.doc, entry.rule, entry.grad)));
    OFL_RETURN_IF_ERROR(RegisterEltwiseKernels(kernels, entry.name,
                                               entry.name == std::string("scalar_pow") ? DTypesOf(FloatTypes{}) : numeric,
                                               entry.kernel, entry.f32));
  }
  return Status::Ok();
}

}  // namespace ofl

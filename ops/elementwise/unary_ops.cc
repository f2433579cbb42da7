#include "ops/common/infer_helpers.h"
#include "ops/common/sbp_helpers.h"
#include "ops/elementwise/broadcast_loop.h"
#include "ops/elementwise/dnnl_eltwise.h"
#include "ops/elementwise/elementwise.h"

namespace ofl {

namespace {

template <typename Types, typename F>
KernelFactory UnaryKernel() {
  return MakeFunctionKernel([](KernelContext& ctx) {
    return DispatchOr(ctx, Types{}, ctx.in(0).dtype(), [&](auto tag) {
      using T = decltype(tag);
      UnaryLoop(ctx.in(0).As<T>(), ctx.out(0).As<T>(), ctx.in(0).NumElements(), F{});
    });
  });
}

// (saved, dy) -> dx for backward ops; both operands share one shape.
template <typename F>
KernelFactory BackwardKernel() {
  return MakeFunctionKernel([](KernelContext& ctx) {
    return DispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
      using T = decltype(tag);
      BinaryBroadcastLoop(ctx.in(0).As<T>(), ctx.in(0).shape(), ctx.in(1).As<T>(), ctx.in(1).shape(),
                          ctx.out(0).As<T>(), ctx.out(0).shape(), F{});
    });
  });
}

bool GeluUsesTanh(const AttrMap& attrs) { return attrs.GetString("approximate") == "tanh"; }

// gelu and gelu_grad in oneDNN: the same algorithm serves forward and backward (from x).
EltwiseAlgorithm GeluAlgorithm(const AttrMap& attrs) {
  return {GeluUsesTanh(attrs) ? dnnl::algorithm::eltwise_gelu_tanh : dnnl::algorithm::eltwise_gelu_erf};
}

KernelFactory GeluKernel(bool backward) {
  return MakeFunctionKernel([backward](KernelContext& ctx) {
    const bool tanh_form = GeluUsesTanh(ctx.attr());
    return DispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
      using T = decltype(tag);
      if (backward) {
        auto run = [&](auto f) {
          BinaryBroadcastLoop(ctx.in(0).As<T>(), ctx.in(0).shape(), ctx.in(1).As<T>(), ctx.in(1).shape(),
                              ctx.out(0).As<T>(), ctx.out(0).shape(), f);
        };
        tanh_form ? run(functors::GeluTanhGrad{}) : run(functors::GeluErfGrad{});
      } else {
        auto run = [&](auto f) { UnaryLoop(ctx.in(0).As<T>(), ctx.out(0).As<T>(), ctx.in(0).NumElements(), f); };
        tanh_form ? run(functors::GeluTanh{}) : run(functors::GeluErf{});
      }
    });
  });
}

Status CheckGeluAttr(const OpView& op) {
  const std::string& form = op.attrs.GetString("approximate");
  OFL_CHECK_OR_RETURN(form == "none" || form == "tanh")
      << op.Who() << " attribute approximate: expected \"none\" (erf form) or \"tanh\", got \"" << form << "\"";
  return Status::Ok();
}

OpSchema UnarySchema(const std::string& name, const std::string& doc, bool integers_too, PartialRule rule,
                     GradFn grad) {
  OpSchema schema;
  schema.name = name;
  schema.doc = doc;
  schema.inputs = {{"x", "input"}};
  schema.outputs = {{"y", "result, shaped like x"}};
  schema.infer = [integers_too, name](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    if (integers_too) {
      const DType dtype = op.in(0).dtype;
      OFL_CHECK_OR_RETURN(IsFloatingPoint(dtype) || dtype == DType::kI32 || dtype == DType::kI64)
          << op.Who(0) << ": expected a numeric dtype (f32, f64, f16, bf16, i32, i64), got " << DTypeName(dtype);
    } else {
      OFL_RETURN_IF_ERROR(ExpectFloating(op, 0));
    }
    if (name == "gelu") OFL_RETURN_IF_ERROR(CheckGeluAttr(op));
    return std::vector<TensorDesc>{op.in(0)};
  };
  schema.sbp = [rule](const OpView& op) { return ElementwiseSignatures(op, op.in(0).shape, 1, rule); };
  schema.grad = std::move(grad);
  schema.example = {{{Shape{4, 3}, DType::kF32}}, {}};
  return schema;
}

OpSchema BackwardSchema(const std::string& name, const std::string& doc, const std::string& saved) {
  OpSchema schema;
  schema.name = name;
  schema.doc = doc;
  schema.inputs = {{saved, "value saved from the forward pass"}, {"dy", "gradient of the forward output"}};
  schema.outputs = {{"dx", "gradient of the forward input"}};
  schema.infer = [name](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_RETURN_IF_ERROR(ExpectFloating(op, 0));
    OFL_RETURN_IF_ERROR(ExpectSameDType(op, 0, 1));
    OFL_RETURN_IF_ERROR(ExpectSameShape(op, 0, 1));
    if (name == "gelu_grad") OFL_RETURN_IF_ERROR(CheckGeluAttr(op));
    return std::vector<TensorDesc>{op.in(0)};
  };
  schema.sbp = [](const OpView& op) { return ElementwiseSignatures(op, op.in(0).shape, 1, PartialRule::kNone); };
  schema.example = {{{Shape{4, 3}, DType::kF32}, {Shape{4, 3}, DType::kF32}}, {}};
  return schema;
}

// Gradient rules: dx from dy and the saved input x or output y.
GradFn UnaryGrad(std::function<StatusOr<ValueRef>(GradContext&, ValueRef x, ValueRef y, ValueRef dy)> rule) {
  return [rule = std::move(rule)](GradContext& ctx) -> Status {
    if (!ctx.needs_input_grad[0]) return Status::Ok();
    OFL_ASSIGN_OR_RETURN(ctx.input_grads[0], rule(ctx, ctx.inputs[0], ctx.outputs[0], ctx.output_grads[0]));
    return Status::Ok();
  };
}

GradFn BackwardOpGrad(const std::string& op, bool uses_output) {
  return UnaryGrad([op, uses_output](GradContext& ctx, ValueRef x, ValueRef y, ValueRef dy) {
    AttrMap attrs;
    if (op == "gelu_grad") attrs.Set("approximate", ctx.attr().GetString("approximate"));
    return ctx.Emit1(op, {uses_output ? y : x, dy}, attrs);
  });
}

}  // namespace

Status RegisterUnaryOps(OpRegistry& ops, KernelRegistry& kernels) {
  using functors::Abs;
  const std::vector<DType> floats = DTypesOf(FloatTypes{});
  const std::vector<DType> numeric = DTypesOf(NumericTypes{});
  struct Entry {
    const char* name;
    const char* doc;
    bool integers_too;
    PartialRule rule;
    GradFn grad;
    KernelFactory kernel;
    EltwiseChooser f32;  ///< oneDNN algorithm for f32, or none (the loop serves f32 too)
  };
  // f32 goes to oneDNN where its vectorised exp/log/erf/tanh/sqrt beat our
  // loops, which call libm per element (16M elements: gelu 25x, tanh 20x,
  // exp 6x). neg, abs, relu and the relu/tanh/sigmoid backward ops stay on
  // our loops: those vectorise, reach the same bandwidth on large tensors
  // and skip oneDNN's ~1 us per call on small ones. rsqrt too: oneDNN's pow
  // with beta -0.5 calls powf per element, 3x slower than 1 / sqrt.
  using dnnl::algorithm;
  const Entry entries[] = {
      {"neg", "y = -x", true, PartialRule::kAllPartial,
       UnaryGrad([](GradContext& ctx, ValueRef, ValueRef, ValueRef dy) { return ctx.Emit1("neg", {dy}); }),
       UnaryKernel<NumericTypes, functors::Neg>(), nullptr},
      {"abs", "y = |x|", true, PartialRule::kNone, UnaryGrad([](GradContext& ctx, ValueRef x, ValueRef, ValueRef dy) -> StatusOr<ValueRef> {
         OFL_ASSIGN_OR_RETURN(ValueRef sign, ctx.Emit1("sign", {x}));
         return ctx.Emit1("mul", {dy, sign});
       }),
       UnaryKernel<NumericTypes, Abs>(), nullptr},
      {"sign", "y = -1, 0 or 1 by the sign of x (gradient zero)", true, PartialRule::kNone, nullptr,
       UnaryKernel<NumericTypes, functors::Sign>(), nullptr},
      {"exp", "y = e^x", false, PartialRule::kNone,
       UnaryGrad([](GradContext& ctx, ValueRef, ValueRef y, ValueRef dy) { return ctx.Emit1("mul", {dy, y}); }),
       UnaryKernel<FloatTypes, functors::Exp>(), FixedEltwise(algorithm::eltwise_exp)},
      {"log", "y = ln x", false, PartialRule::kNone,
       UnaryGrad([](GradContext& ctx, ValueRef x, ValueRef, ValueRef dy) { return ctx.Emit1("div", {dy, x}); }),
       UnaryKernel<FloatTypes, functors::Log>(), FixedEltwise(algorithm::eltwise_log)},
      {"sqrt", "y = sqrt(x)", false, PartialRule::kNone,
       UnaryGrad([](GradContext& ctx, ValueRef, ValueRef y, ValueRef dy) -> StatusOr<ValueRef> {
         OFL_ASSIGN_OR_RETURN(ValueRef two_y, ctx.Emit1("scalar_mul", {y}, {{"scalar", 2.0}}));
         return ctx.Emit1("div", {dy, two_y});
       }),
       UnaryKernel<FloatTypes, functors::Sqrt>(), FixedEltwise(algorithm::eltwise_sqrt)},
      {"rsqrt", "y = 1 / sqrt(x)", false, PartialRule::kNone,
       UnaryGrad([](GradContext& ctx, ValueRef, ValueRef y, ValueRef dy) -> StatusOr<ValueRef> {
         OFL_ASSIGN_OR_RETURN(ValueRef cube, ctx.Emit1("scalar_pow", {y}, {{"scalar", 3.0}}));
         OFL_ASSIGN_OR_RETURN(ValueRef scaled, ctx.Emit1("scalar_mul", {cube}, {{"scalar", -0.5}}));
         return ctx.Emit1("mul", {dy, scaled});
       }),
       UnaryKernel<FloatTypes, functors::Rsqrt>(), nullptr},
      {"tanh", "y = tanh(x)", false, PartialRule::kNone, BackwardOpGrad("tanh_grad", true),
       UnaryKernel<FloatTypes, functors::Tanh>(), FixedEltwise(algorithm::eltwise_tanh)},
      {"sigmoid", "y = 1 / (1 + e^-x)", false, PartialRule::kNone, BackwardOpGrad("sigmoid_grad", true),
       UnaryKernel<FloatTypes, functors::Sigmoid>(), FixedEltwise(algorithm::eltwise_logistic)},
      {"relu", "y = max(x, 0)", false, PartialRule::kNone, BackwardOpGrad("relu_grad", true),
       UnaryKernel<FloatTypes, functors::Relu>(), nullptr},
      {"silu", "y = x * sigmoid(x)", false, PartialRule::kNone, BackwardOpGrad("silu_grad", false),
       // swish's alpha is the slope inside its sigmoid (silu: 1).
       UnaryKernel<FloatTypes, functors::Silu>(), FixedEltwise(algorithm::eltwise_swish, 1.0f)},
  };
  for (const Entry& entry : entries) {
    OFL_RETURN_IF_ERROR(ops.Register(UnarySchema(entry.name, entry.doc, entry.integers_too, entry.rule, entry.grad)));
    const std::vector<DType>& dtypes = entry.integers_too ? numeric : floats;
    OFL_RETURN_IF_ERROR(RegisterEltwiseKernels(kernels, entry.name, dtypes, entry.kernel,
                                               entry.f32 ? DnnlEltwiseForwardKernel(entry.f32) : nullptr));
  }

  OpSchema gelu = UnarySchema("gelu", "y = x * Phi(x); approximate=\"tanh\" uses the tanh form", false,
                              PartialRule::kNone, BackwardOpGrad("gelu_grad", false));
  gelu.attrs = {{"approximate", std::string("none"), false, "\"none\" (exact, erf) or \"tanh\""}};
  OFL_RETURN_IF_ERROR(ops.Register(std::move(gelu)));
  OFL_RETURN_IF_ERROR(
      RegisterEltwiseKernels(kernels, "gelu", floats, GeluKernel(false), DnnlEltwiseForwardKernel(GeluAlgorithm)));

  struct BackwardEntry {
    const char* name;
    const char* doc;
    const char* saved;
    KernelFactory kernel;
    EltwiseChooser f32;  ///< oneDNN eltwise_backward algorithm for f32, or none
  };
  const BackwardEntry backward[] = {
      {"relu_grad", "dx = dy where y > 0, else 0", "y", BackwardKernel<functors::ReluGrad>(), nullptr},
      {"tanh_grad", "dx = (1 - y^2) dy", "y", BackwardKernel<functors::TanhGrad>(), nullptr},
      {"sigmoid_grad", "dx = y (1 - y) dy", "y", BackwardKernel<functors::SigmoidGrad>(), nullptr},
      {"silu_grad", "dx = s (1 + x (1 - s)) dy, s = sigmoid(x)", "x", BackwardKernel<functors::SiluGrad>(),
       FixedEltwise(algorithm::eltwise_swish, 1.0f)},
  };
  for (const BackwardEntry& entry : backward) {
    OFL_RETURN_IF_ERROR(ops.Register(BackwardSchema(entry.name, entry.doc, entry.saved)));
    OFL_RETURN_IF_ERROR(RegisterEltwiseKernels(kernels, entry.name, floats, entry.kernel,
                                               entry.f32 ? DnnlEltwiseBackwardKernel(entry.f32) : nullptr));
  }
  OpSchema gelu_grad = BackwardSchema("gelu_grad", "dx = gelu'(x) dy (erf or tanh form)", "x");
  gelu_grad.attrs = {{"approximate", std::string("none"), false, "\"none\" (exact, erf) or \"tanh\""}};
  OFL_RETURN_IF_ERROR(ops.Register(std::move(gelu_grad)));
  OFL_RETURN_IF_ERROR(RegisterEltwiseKernels(kernels, "gelu_grad", floats, GeluKernel(true),
                                             DnnlEltwiseBackwardKernel(GeluAlgorithm)));
  return Status::Ok();
}

}  // namespace ofl

#include "ops/common/grad_helpers.h"
#include "ops/common/infer_helpers.h"
#include "ops/common/sbp_helpers.h"
#include "ops/elementwise/broadcast_loop.h"
#include "ops/elementwise/elementwise.h"

namespace ofl {

namespace {

StatusOr<std::vector<TensorDesc>> InferBinary(const OpView& op) {
  OFL_RETURN_IF_ERROR(ExpectSameDType(op, 0, 1));
  OFL_CHECK_OR_RETURN(op.in(0).dtype != DType::kBool && op.in(0).dtype != DType::kI8 &&
                      op.in(0).dtype != DType::kU8)
      << op.Who(0) << ": expected a numeric dtype (f32, f64, f16, bf16, i32, i64), got "
      << DTypeName(op.in(0).dtype);
  OFL_ASSIGN_OR_RETURN(Shape shape, BroadcastShapes(op, 0, 1));
  return std::vector<TensorDesc>{{shape, op.in(0).dtype}};
}

template <typename F>
KernelFactory BinaryKernel() {
  return MakeFunctionKernel([](KernelContext& ctx) {
    return DispatchOr(ctx, NumericTypes{}, ctx.in(0).dtype(), [&](auto tag) {
      using T = decltype(tag);
      BinaryBroadcastLoop(ctx.in(0).As<T>(), ctx.in(0).shape(), ctx.in(1).As<T>(), ctx.in(1).shape(),
                          ctx.out(0).As<T>(), ctx.out(0).shape(), F{});
    });
  });
}

// Gradient of y = f(a, b) for a and b broadcast: each partial derivative is
// computed at the broadcast shape, then summed down to the operand's shape.
Status SetBroadcastGrads(GradContext& ctx, ValueRef da_full, ValueRef db_full) {
  for (int i = 0; i < 2; ++i) {
    if (!ctx.needs_input_grad[i]) continue;
    OFL_ASSIGN_OR_RETURN(ctx.input_grads[i],
                         SumToShape(*ctx.emitter, i == 0 ? da_full : db_full, ctx.Desc(ctx.inputs[i]).shape));
  }
  return Status::Ok();
}

Status AddGrad(GradContext& ctx) { return SetBroadcastGrads(ctx, ctx.output_grads[0], ctx.output_grads[0]); }

Status SubGrad(GradContext& ctx) {
  OFL_ASSIGN_OR_RETURN(ValueRef neg, ctx.Emit1("neg", {ctx.output_grads[0]}));
  return SetBroadcastGrads(ctx, ctx.output_grads[0], neg);
}

Status MulGrad(GradContext& ctx) {
  const ValueRef dy = ctx.output_grads[0];
  OFL_ASSIGN_OR_RETURN(ValueRef da, ctx.Emit1("mul", {dy, ctx.inputs[1]}));
  OFL_ASSIGN_OR_RETURN(ValueRef db, ctx.Emit1("mul", {dy, ctx.inputs[0]}));
  return SetBroadcastGrads(ctx, da, db);
}

// y = a / b: da = dy / b, db = -dy * y / b.
Status DivGrad(GradContext& ctx) {
  const ValueRef dy = ctx.output_grads[0];
  OFL_ASSIGN_OR_RETURN(ValueRef da, ctx.Emit1("div", {dy, ctx.inputs[1]}));
  OFL_ASSIGN_OR_RETURN(ValueRef dy_y, ctx.Emit1("mul", {dy, ctx.outputs[0]}));
  OFL_ASSIGN_OR_RETURN(ValueRef ratio, ctx.Emit1("div", {dy_y, ctx.inputs[1]}));
  OFL_ASSIGN_OR_RETURN(ValueRef db, ctx.Emit1("neg", {ratio}));
  return SetBroadcastGrads(ctx, da, db);
}

// y = a ^ b: da = dy * b * a^(b-1), db = dy * y * log(a).
Status PowGrad(GradContext& ctx) {
  const ValueRef dy = ctx.output_grads[0];
  const ValueRef a = ctx.inputs[0];
  const ValueRef b = ctx.inputs[1];
  ValueRef da, db;
  if (ctx.needs_input_grad[0]) {
    OFL_ASSIGN_OR_RETURN(ValueRef b_minus_1, ctx.Emit1("scalar_sub", {b}, {{"scalar", 1.0}}));
    OFL_ASSIGN_OR_RETURN(ValueRef power, ctx.Emit1("pow", {a, b_minus_1}));
    OFL_ASSIGN_OR_RETURN(ValueRef scaled, ctx.Emit1("mul", {power, b}));
    OFL_ASSIGN_OR_RETURN(da, ctx.Emit1("mul", {scaled, dy}));
  }
  if (ctx.needs_input_grad[1]) {
    OFL_ASSIGN_OR_RETURN(ValueRef log_a, ctx.Emit1("log", {a}));
    OFL_ASSIGN_OR_RETURN(ValueRef y_log_a, ctx.Emit1("mul", {ctx.outputs[0], log_a}));
    OFL_ASSIGN_OR_RETURN(db, ctx.Emit1("mul", {y_log_a, dy}));
  }
  return SetBroadcastGrads(ctx, da, db);
}

// maximum/minimum send dy to the operand that won; ties split it evenly
// (as PyTorch does), so the gradient is symmetric.
Status SelectGrad(GradContext& ctx, const std::string& grad_op) {
  OFL_ASSIGN_OR_RETURN(std::vector<ValueRef> grads,
                       ctx.emitter->Emit(grad_op, {ctx.inputs[0], ctx.inputs[1], ctx.output_grads[0]}, {}));
  return SetBroadcastGrads(ctx, grads[0], grads[1]);
}

OpSchema BinarySchema(const std::string& name, const std::string& doc, PartialRule rule, GradFn grad) {
  OpSchema schema;
  schema.name = name;
  schema.doc = doc;
  schema.inputs = {{"a", "left operand"}, {"b", "right operand (broadcasts with a, numpy rules)"}};
  schema.outputs = {{"y", "result, shaped as the broadcast of a and b"}};
  schema.infer = InferBinary;
  schema.sbp = [rule](const OpView& op) {
    const Shape shape = BroadcastShapes(op, 0, 1).ValueOrThrow();
    return ElementwiseSignatures(op, shape, 1, rule);
  };
  schema.grad = std::move(grad);
  schema.example = {{{Shape{4, 3}, DType::kF32}, {Shape{3}, DType::kF32}}, {}};
  return schema;
}

// (a, b, dy) -> (da, db) at the broadcast shape, for maximum and minimum.
template <bool kMax>
KernelFactory SelectGradKernel() {
  return MakeFunctionKernel([](KernelContext& ctx) {
    return DispatchOr(ctx, NumericTypes{}, ctx.in(0).dtype(), [&](auto tag) {
      using T = decltype(tag);
      using C = ComputeType<T>;
      const Shape& out = ctx.in(2).shape();
      const std::vector<int64_t> a_strides = BroadcastStrides(ctx.in(0).shape(), out);
      const std::vector<int64_t> b_strides = BroadcastStrides(ctx.in(1).shape(), out);
      const T* a = ctx.in(0).As<T>();
      const T* b = ctx.in(1).As<T>();
      const T* dy = ctx.in(2).As<T>();
      T* da = ctx.out(0).As<T>();
      T* db = ctx.out(1).As<T>();
      const int64_t count = out.NumElements();
      for (int64_t i = 0; i < count; ++i) {
        int64_t a_offset = 0, b_offset = 0, rest = i;
        for (int axis = out.rank() - 1; axis >= 0; --axis) {
          const int64_t index = rest % out[axis];
          rest /= out[axis];
          a_offset += index * a_strides[axis];
          b_offset += index * b_strides[axis];
        }
        const C av = ToCompute<C>(a[a_offset]);
        const C bv = ToCompute<C>(b[b_offset]);
        const C g = ToCompute<C>(dy[i]);
        const bool a_wins = kMax ? av > bv : av < bv;
        const bool tie = av == bv;
        da[i] = FromCompute<T>(tie ? g / C(2) : (a_wins ? g : C(0)));
        db[i] = FromCompute<T>(tie ? g / C(2) : (a_wins ? C(0) : g));
      }
    });
  });
}

OpSchema SelectGradSchema(const std::string& name, const std::string& forward) {
  OpSchema schema;
  schema.name = name;
  schema.doc = "backward of " + forward + ": routes dy to the operand that won (ties split evenly)";
  schema.inputs = {{"a", "forward left operand"}, {"b", "forward right operand"}, {"dy", "output gradient"}};
  schema.outputs = {{"da", "gradient of a at the broadcast shape"}, {"db", "gradient of b at the broadcast shape"}};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_RETURN_IF_ERROR(ExpectAllSameDType(op));
    OFL_ASSIGN_OR_RETURN(Shape shape, BroadcastShapes(op, 0, 1));
    OFL_CHECK_OR_RETURN(shape == op.in(2).shape)
        << op.Who(2) << ": expected shape " << shape.ToString() << " (broadcast of a and b), got "
        << op.in(2).shape.ToString();
    return std::vector<TensorDesc>{{shape, op.in(0).dtype}, {shape, op.in(0).dtype}};
  };
  schema.sbp = [](const OpView& op) { return ElementwiseSignatures(op, op.in(2).shape, 2, PartialRule::kNone); };
  schema.example = {{{Shape{4, 3}, DType::kF32}, {Shape{3}, DType::kF32}, {Shape{4, 3}, DType::kF32}}, {}};
  return schema;
}

}  // namespace

Status RegisterBinaryOps(OpRegistry& ops, KernelRegistry& kernels) {
  const std::vector<DType> numeric = DTypesOf(NumericTypes{});
  struct Entry {
    const char* name;
    const char* doc;
    PartialRule rule;
    GradFn grad;
    KernelFactory kernel;
  };
  const Entry entries[] = {
      {"add", "y = a + b", PartialRule::kAllPartial, AddGrad, BinaryKernel<functors::Add>()},
      {"sub", "y = a - b", PartialRule::kAllPartial, SubGrad, BinaryKernel<functors::Sub>()},
      {"mul", "y = a * b", PartialRule::kEitherPartial, MulGrad, BinaryKernel<functors::Mul>()},
      {"div", "y = a / b", PartialRule::kFirstPartial, DivGrad, BinaryKernel<functors::Div>()},
      {"maximum", "y = max(a, b)", PartialRule::kNone,
       [](GradContext& ctx) { return SelectGrad(ctx, "maximum_grad"); }, BinaryKernel<functors::Maximum>()},
      {"minimum", "y = min(a, b)", PartialRule::kNone,
       [](GradContext& ctx) { return SelectGrad(ctx, "minimum_grad"); }, BinaryKernel<functors::Minimum>()},
      {"pow", "y = a ^ b", PartialRule::kNone, PowGrad, BinaryKernel<functors::Pow>()},
  };
  for (const Entry& entry : entries) {
    OFL_RETURN_IF_ERROR(ops.Register(BinarySchema(entry.name, entry.doc, entry.rule, entry.grad)));
    OFL_RETURN_IF_ERROR(kernels.RegisterForDTypes(entry.name, DeviceType::kCPU, numeric, entry.kernel));
  }
  OFL_RETURN_IF_ERROR(ops.Register(SelectGradSchema("maximum_grad", "maximum")));
  OFL_RETURN_IF_ERROR(kernels.RegisterForDTypes("maximum_grad", DeviceType::kCPU, numeric, SelectGradKernel<true>()));
  OFL_RETURN_IF_ERROR(ops.Register(SelectGradSchema("minimum_grad", "minimum")));
  OFL_RETURN_IF_ERROR(kernels.RegisterForDTypes("minimum_grad", DeviceType::kCPU, numeric, SelectGradKernel<false>()));
  return Status::Ok();
}

}  // namespace ofl

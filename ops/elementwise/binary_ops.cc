#include <cmath>
#include <limits>

#include "ops/common/grad_helpers.h"
#include "ops/common/infer_helpers.h"
#include "ops/common/sbp_helpers.h"
#include "ops/elementwise/broadcast_loop.h"
#include "ops/elementwise/elementwise.h"

namespace ofl {

namespace {

StatusOr<std::vector<TensorDesc>> InferBinary(const OpView& op, bool floats_only) {
  OFL_RETURN_IF_ERROR(ExpectSameDType(op, 0, 1));
  if (floats_only) OFL_RETURN_IF_ERROR(ExpectFloating(op, 0));
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

// Integer division has no value for a zero divisor or INT_MIN / -1 (the
// hardware traps); those are reported as errors instead of killing the
// process. Floating-point division follows IEEE (inf, NaN).
KernelFactory DivKernel() {
  return MakeFunctionKernel([](KernelContext& ctx) -> Status {
    const DType dtype = ctx.in(0).dtype();
    if (dtype == DType::kI32 || dtype == DType::kI64) {
      Status status = Status::Ok();
      VisitDTypeIn(IndexTypes{}, dtype, [&](auto tag) {
        using T = decltype(tag);
        const T* a = ctx.in(0).As<T>();
        const T* b = ctx.in(1).As<T>();
        bool has_minimum = false;
        for (int64_t i = 0; i < ctx.in(0).NumElements(); ++i)
          has_minimum |= a[i] == std::numeric_limits<T>::min();
        for (int64_t i = 0; i < ctx.in(1).NumElements() && status.ok(); ++i) {
          if (b[i] == 0) {
            status = ErrorBuilder() << "[" << ctx.op_name
                                    << "] b: expected no zero divisor for integer division, got 0 "
                                    << "at element " << i;
          } else if (b[i] == -1 && has_minimum) {
            status = ErrorBuilder() << "[" << ctx.op_name << "] a / b: the minimum " << DTypeName(dtype)
                                    << " divided by -1 overflows";
          }
        }
      });
      OFL_RETURN_IF_ERROR(status);
    }
    return DispatchOr(ctx, NumericTypes{}, dtype, [&](auto tag) {
      using T = decltype(tag);
      BinaryBroadcastLoop(ctx.in(0).As<T>(), ctx.in(0).shape(), ctx.in(1).As<T>(), ctx.in(1).shape(),
                          ctx.out(0).As<T>(), ctx.out(0).shape(), functors::Div{});
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

// maximum/minimum send dy to the operand that won; ties split it evenly
// (as PyTorch does), so the gradient is symmetric. pow's gradient needs the
// limits at a = 0 (see functors::PowGrad), so it is one op as well.
Status PairGrad(GradContext& ctx, const std::string& grad_op, bool with_output = false) {
  std::vector<ValueRef> inputs = {ctx.inputs[0], ctx.inputs[1]};
  if (with_output) inputs.push_back(ctx.outputs[0]);
  inputs.push_back(ctx.output_grads[0]);
  OFL_ASSIGN_OR_RETURN(std::vector<ValueRef> grads, ctx.emitter->Emit(grad_op, inputs, {}));
  return SetBroadcastGrads(ctx, grads[0], grads[1]);
}

OpSchema BinarySchema(const std::string& name, const std::string& doc, PartialRule rule, GradFn grad,
                      bool floats_only) {
  OpSchema schema;
  schema.name = name;
  schema.doc = doc;
  schema.inputs = {{"a", "left operand"}, {"b", "right operand (broadcasts with a, numpy rules)"}};
  schema.outputs = {{"y", "result, shaped as the broadcast of a and b"}};
  schema.infer = [floats_only](const OpView& op) { return InferBinary(op, floats_only); };
  schema.sbp = [rule, name](const OpView& op) {
    const Shape shape = BroadcastShapes(op, 0, 1).ValueOrThrow();
    // Integer division truncates: (a0 + a1) / b != a0 / b + a1 / b.
    const bool truncating = name == "div" && IsInteger(op.in(0).dtype);
    return ElementwiseSignatures(op, shape, 1, truncating ? PartialRule::kNone : rule);
  };
  schema.grad = std::move(grad);
  schema.example = {{{Shape{4, 3}, DType::kF32}, {Shape{3}, DType::kF32}}, {}};
  return schema;
}

// (a, b, [y,] dy) -> (da, db) at the broadcast shape, element by element.
// dy is the last input; y (the forward output) is read only when present.
template <typename Types, typename Rule>
KernelFactory PairGradKernel() {
  return MakeFunctionKernel([](KernelContext& ctx) {
    return DispatchOr(ctx, Types{}, ctx.in(0).dtype(), [&](auto tag) {
      using T = decltype(tag);
      using C = ComputeType<T>;
      const int dy_index = static_cast<int>(ctx.inputs.size()) - 1;
      const Shape& out = ctx.in(dy_index).shape();
      const std::vector<int64_t> a_strides = BroadcastStrides(ctx.in(0).shape(), out);
      const std::vector<int64_t> b_strides = BroadcastStrides(ctx.in(1).shape(), out);
      const T* a = ctx.in(0).As<T>();
      const T* b = ctx.in(1).As<T>();
      const T* y = dy_index == 3 ? ctx.in(2).As<T>() : nullptr;
      const T* dy = ctx.in(dy_index).As<T>();
      T* da = ctx.out(0).As<T>();
      T* db = ctx.out(1).As<T>();
      const int64_t count = out.NumElements();
      ParallelFor(count, 1 << 13, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          int64_t a_offset = 0, b_offset = 0, rest = i;
          for (int axis = out.rank() - 1; axis >= 0; --axis) {
            const int64_t index = rest % out[axis];
            rest /= out[axis];
            a_offset += index * a_strides[axis];
            b_offset += index * b_strides[axis];
          }
          C da_value, db_value;
          Rule{}(ToCompute<C>(a[a_offset]), ToCompute<C>(b[b_offset]), y ? ToCompute<C>(y[i]) : C(0),
                 ToCompute<C>(dy[i]), da_value, db_value);
          da[i] = FromCompute<T>(da_value);
          db[i] = FromCompute<T>(db_value);
        }
      });
    });
  });
}

// The schema of maximum_grad / minimum_grad (a, b, dy) and pow_grad
// (a, b, y, dy): gradients of both operands at the broadcast shape.
OpSchema PairGradSchema(const std::string& name, const std::string& doc, bool with_output) {
  OpSchema schema;
  schema.name = name;
  schema.doc = doc;
  schema.inputs = {{"a", "forward left operand"}, {"b", "forward right operand"}};
  if (with_output) schema.inputs.push_back({"y", "forward output"});
  schema.inputs.push_back({"dy", "output gradient"});
  schema.outputs = {{"da", "gradient of a at the broadcast shape"},
                    {"db", "gradient of b at the broadcast shape"}};
  schema.infer = [with_output](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_RETURN_IF_ERROR(ExpectAllSameDType(op));
    if (with_output) OFL_RETURN_IF_ERROR(ExpectFloating(op, 0));
    OFL_ASSIGN_OR_RETURN(Shape shape, BroadcastShapes(op, 0, 1));
    for (int i = 2; i < op.num_inputs(); ++i) {
      OFL_CHECK_OR_RETURN(shape == op.in(i).shape)
          << op.Who(i) << ": expected shape " << shape.ToString() << " (broadcast of a and b), got "
          << op.in(i).shape.ToString();
    }
    return std::vector<TensorDesc>{{shape, op.in(0).dtype}, {shape, op.in(0).dtype}};
  };
  schema.sbp = [](const OpView& op) {
    return ElementwiseSignatures(op, op.in(op.num_inputs() - 1).shape, 2, PartialRule::kNone);
  };
  const TensorDesc full{Shape{4, 3}, DType::kF32};
  schema.example = {{full, {Shape{3}, DType::kF32}, full}, {}};
  if (with_output) schema.example.inputs.push_back(full);
  return schema;
}

}  // namespace

Status RegisterBinaryOps(OpRegistry& ops, KernelRegistry& kernels) {
  const std::vector<DType> numeric = DTypesOf(NumericTypes{});
  const std::vector<DType> floats = DTypesOf(FloatTypes{});
  struct Entry {
    const char* name;
    const char* doc;
    PartialRule rule;
    GradFn grad;
    KernelFactory kernel;
    bool floats_only = false;
  };
  const Entry entries[] = {
      {"add", "y = a + b", PartialRule::kAllPartial, AddGrad, BinaryKernel<functors::Add>()},
      {"sub", "y = a - b", PartialRule::kAllPartial, SubGrad, BinaryKernel<functors::Sub>()},
      {"mul", "y = a * b", PartialRule::kEitherPartial, MulGrad, BinaryKernel<functors::Mul>()},
      {"div", "y = a / b (integers: a zero divisor is an error)", PartialRule::kFirstPartial, DivGrad,
       DivKernel()},
      {"maximum", "y = max(a, b)", PartialRule::kNone,
       [](GradContext& ctx) { return PairGrad(ctx, "maximum_grad"); }, BinaryKernel<functors::Maximum>()},
      {"minimum", "y = min(a, b)", PartialRule::kNone,
       [](GradContext& ctx) { return PairGrad(ctx, "minimum_grad"); }, BinaryKernel<functors::Minimum>()},
      {"pow", "y = a ^ b (floating point)", PartialRule::kNone,
       [](GradContext& ctx) { return PairGrad(ctx, "pow_grad", true); }, BinaryKernel<functors::Pow>(), true},
  };
  for (const Entry& entry : entries) {
    OFL_RETURN_IF_ERROR(
        ops.Register(BinarySchema(entry.name, entry.doc, entry.rule, entry.grad, entry.floats_only)));
    OFL_RETURN_IF_ERROR(kernels.RegisterForDTypes(entry.name, DeviceType::kCPU,
                                                  entry.floats_only ? floats : numeric, entry.kernel));
  }
  const std::string select_doc = ": routes dy to the operand that won (ties split evenly)";
  OFL_RETURN_IF_ERROR(
      ops.Register(PairGradSchema("maximum_grad", "backward of maximum" + select_doc, false)));
  OFL_RETURN_IF_ERROR(kernels.RegisterForDTypes("maximum_grad", DeviceType::kCPU, numeric,
                                                PairGradKernel<NumericTypes, functors::SelectGrad<true>>()));
  OFL_RETURN_IF_ERROR(
      ops.Register(PairGradSchema("minimum_grad", "backward of minimum" + select_doc, false)));
  OFL_RETURN_IF_ERROR(kernels.RegisterForDTypes("minimum_grad", DeviceType::kCPU, numeric,
                                                PairGradKernel<NumericTypes, functors::SelectGrad<false>>()));
  OFL_RETURN_IF_ERROR(ops.Register(PairGradSchema(
      "pow_grad",
      "backward of pow: da = dy b a^(b-1) (0 where b = 0), db = dy y log a (0 where a = 0, b >= 0)", true)));
  OFL_RETURN_IF_ERROR(kernels.RegisterForDTypes("pow_grad", DeviceType::kCPU, floats,
                                                PairGradKernel<FloatTypes, functors::PowGrad>()));
  return Status::Ok();
}

}  // namespace ofl

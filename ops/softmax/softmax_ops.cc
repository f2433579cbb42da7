// softmax and log_softmax over any axis, and their backward ops.
#include <cmath>
#include <limits>

#include "ops/common/infer_helpers.h"
#include "ops/common/kernel_helpers.h"
#include "ops/elementwise/functors.h"
#include "ops/softmax/axis_lines.h"
#include "ops/softmax/softmax.h"

namespace ofl {

namespace {

// ---- Kernels ---------------------------------------------------------------

// y = softmax(x) (or log_softmax) along each line; subtracting the line's
// maximum first keeps exp from overflowing.
template <bool kLog>
KernelFactory SoftmaxKernel() {
  return MakeFunctionKernel([](KernelContext& ctx) {
    const int axis = static_cast<int>(ctx.attr().GetInt("axis"));
    const Shape& shape = ctx.in(0).shape();
    const AxisView view = AxisView::Around(shape, axis < 0 ? axis + shape.rank() : axis);
    return DispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
      using T = decltype(tag);
      using C = ComputeType<T>;
      const T* x = ctx.in(0).As<T>();
      T* y = ctx.out(0).As<T>();
      ForEachLine(view, [&](int64_t, int64_t base, auto stride) {
        C max = -std::numeric_limits<C>::infinity();
        for (int64_t j = 0; j < view.extent; ++j) max = std::max(max, ToCompute<C>(x[base + j * stride]));
        C sum = 0;
        for (int64_t j = 0; j < view.extent; ++j) sum += std::exp(ToCompute<C>(x[base + j * stride]) - max);
        if constexpr (kLog) {
          const C shift = max + std::log(sum);
          for (int64_t j = 0; j < view.extent; ++j) {
            y[base + j * stride] = FromCompute<T>(ToCompute<C>(x[base + j * stride]) - shift);
          }
        } else {
          const C inverse = C(1) / sum;
          for (int64_t j = 0; j < view.extent; ++j) {
            y[base + j * stride] =
                FromCompute<T>(std::exp(ToCompute<C>(x[base + j * stride]) - max) * inverse);
          }
        }
      });
    });
  });
}

// softmax_grad:     dx = y * (dy - sum_j dy_j y_j)
// log_softmax_grad: dx = dy - exp(y) * sum_j dy_j
template <bool kLog>
KernelFactory SoftmaxGradKernel() {
  return MakeFunctionKernel([](KernelContext& ctx) {
    const int axis = static_cast<int>(ctx.attr().GetInt("axis"));
    const Shape& shape = ctx.in(0).shape();
    const AxisView view = AxisView::Around(shape, axis < 0 ? axis + shape.rank() : axis);
    return DispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
      using T = decltype(tag);
      using C = ComputeType<T>;
      const T* y = ctx.in(0).As<T>();
      const T* dy = ctx.in(1).As<T>();
      T* dx = ctx.out(0).As<T>();
      ForEachLine(view, [&](int64_t, int64_t base, auto stride) {
        C dot = 0;
        for (int64_t j = 0; j < view.extent; ++j) {
          const int64_t at = base + j * stride;
          dot += kLog ? ToCompute<C>(dy[at]) : ToCompute<C>(dy[at]) * ToCompute<C>(y[at]);
        }
        for (int64_t j = 0; j < view.extent; ++j) {
          const int64_t at = base + j * stride;
          const C yj = ToCompute<C>(y[at]);
          const C gj = ToCompute<C>(dy[at]);
          dx[at] = FromCompute<T>(kLog ? gj - std::exp(yj) * dot : yj * (gj - dot));
        }
      });
    });
  });
}

// ---- Schemas ---------------------------------------------------------------

StatusOr<int> SoftmaxAxis(const OpView& op) {
  return NormalizeAxis(op.Who() + " attribute axis", op.attrs.GetInt("axis"), op.in(0).shape.rank());
}

// Splitting any axis but the softmax axis keeps every line on one device.
std::vector<SbpSignature> LineSignatures(const OpView& op, bool linear_in_dy) {
  const int rank = op.in(0).shape.rank();
  const int axis = SoftmaxAxis(op).ValueOrThrow();
  const int num_inputs = op.num_inputs();
  std::vector<SbpSignature> list;
  AddUnique(list, SignatureBuilder(num_inputs, 1)
                      .Note("B: cpu:0 and cpu:1 both hold the operands whole and compute the whole result")
                      .Build());
  for (int k = 0; k < rank; ++k) {
    if (k == axis) continue;
    const std::string split = "S(" + std::to_string(k) + ")";
    AddUnique(list,
              SignatureBuilder(num_inputs, 1)
                  .AllInputs(Sbp::Split(k))
                  .AllOutputs(Sbp::Split(k))
                  .Note(split + ": cpu:0 holds the first half of axis " + std::to_string(k) +
                        " of every operand, cpu:1 the second; the lines along axis " + std::to_string(axis) +
                        " never cross the split, so each device normalises its own "
                        "lines and the halves of the result stay split the same way")
                  .Build());
  }
  if (linear_in_dy) {
    AddUnique(list,
              SignatureBuilder(num_inputs, 1)
                  .Input(1, Sbp::PartialSum())
                  .AllOutputs(Sbp::PartialSum())
                  .Note("P: dy = dy0 + dy1 with dy0 on cpu:0 and dy1 on cpu:1, y whole on both; dx is linear "
                        "in dy for a fixed y, so dx(dy0) + dx(dy1) == dx(dy) and dx is P")
                  .Build());
  }
  return list;
}

OpSchema ForwardSchema(const std::string& name, const std::string& doc, const std::string& grad_op) {
  OpSchema schema;
  schema.name = name;
  schema.doc = doc;
  schema.inputs = {{"x", "input, any rank >= 1"}};
  schema.outputs = {{"y", "result, shaped like x"}};
  schema.attrs = {{"axis", int64_t{-1}, false, "the axis normalised over (negative counts from the end)"}};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_RETURN_IF_ERROR(ExpectFloating(op, 0));
    OFL_RETURN_IF_ERROR(ExpectMinRank(op, 0, 1));
    OFL_RETURN_IF_ERROR(SoftmaxAxis(op).status());
    return std::vector<TensorDesc>{op.in(0)};
  };
  schema.sbp = [](const OpView& op) { return LineSignatures(op, false); };
  schema.grad = [grad_op](GradContext& ctx) -> Status {
    if (!ctx.needs_input_grad[0]) return Status::Ok();
    OFL_ASSIGN_OR_RETURN(ctx.input_grads[0], ctx.Emit1(grad_op, {ctx.outputs[0], ctx.output_grads[0]},
                                                       {{"axis", ctx.attr().GetInt("axis")}}));
    return Status::Ok();
  };
  schema.example = {{{Shape{4, 6}, DType::kF32}}, {{"axis", int64_t{-1}}}};
  return schema;
}

OpSchema GradSchema(const std::string& name, const std::string& doc) {
  OpSchema schema;
  schema.name = name;
  schema.doc = doc;
  schema.inputs = {{"y", "output of the forward op"}, {"dy", "gradient of y"}};
  schema.outputs = {{"dx", "gradient of the forward input, shaped like y"}};
  schema.attrs = {{"axis", int64_t{-1}, false, "the axis of the forward op"}};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_RETURN_IF_ERROR(ExpectFloating(op, 0));
    OFL_RETURN_IF_ERROR(ExpectMinRank(op, 0, 1));
    OFL_RETURN_IF_ERROR(ExpectSameDType(op, 0, 1));
    OFL_RETURN_IF_ERROR(ExpectSameShape(op, 0, 1));
    OFL_RETURN_IF_ERROR(SoftmaxAxis(op).status());
    return std::vector<TensorDesc>{op.in(0)};
  };
  schema.sbp = [](const OpView& op) { return LineSignatures(op, true); };
  schema.example = {{{Shape{4, 6}, DType::kF32}, {Shape{4, 6}, DType::kF32}}, {{"axis", int64_t{-1}}}};
  return schema;
}

}  // namespace

Status RegisterSoftmaxOps(OpRegistry& ops, KernelRegistry& kernels) {
  const std::vector<DType> floats = DTypesOf(FloatTypes{});
  OFL_RETURN_IF_ERROR(ops.Register(ForwardSchema(
      "softmax", "y = exp(x - max) / sum(exp(x - max)) along `axis` (numerically stable)", "softmax_grad")));
  OFL_RETURN_IF_ERROR(kernels.RegisterForDTypes("softmax", DeviceType::kCPU, floats, SoftmaxKernel<false>()));
  OFL_RETURN_IF_ERROR(ops.Register(
      ForwardSchema("log_softmax", "y = x - max - log(sum(exp(x - max))) along `axis`", "log_softmax_grad")));
  OFL_RETURN_IF_ERROR(
      kernels.RegisterForDTypes("log_softmax", DeviceType::kCPU, floats, SoftmaxKernel<true>()));
  OFL_RETURN_IF_ERROR(ops.Register(GradSchema("softmax_grad", "dx = y * (dy - sum(dy * y)) along `axis`")));
  OFL_RETURN_IF_ERROR(
      kernels.RegisterForDTypes("softmax_grad", DeviceType::kCPU, floats, SoftmaxGradKernel<false>()));
  OFL_RETURN_IF_ERROR(
      ops.Register(GradSchema("log_softmax_grad", "dx = dy - exp(y) * sum(dy) along `axis`")));
  OFL_RETURN_IF_ERROR(
      kernels.RegisterForDTypes("log_softmax_grad", DeviceType::kCPU, floats, SoftmaxGradKernel<true>()));
  return RegisterCausalSoftmaxOps(ops, kernels);
}

}  // namespace ofl

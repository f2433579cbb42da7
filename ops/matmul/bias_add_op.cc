// bias_add: y = x + bias broadcast along one axis of x.
#include <algorithm>
#include <type_traits>

#include "oneflow_like/parallel.h"
#include "ops/common/infer_helpers.h"
#include "ops/common/kernel_helpers.h"
#include "ops/matmul/matmul.h"

namespace ofl {

namespace {

StatusOr<int> BiasAxis(const OpView& op) {
  return NormalizeAxis(op.Who() + " attribute axis", op.attrs.GetInt("axis"), op.in(0).shape.rank());
}

StatusOr<std::vector<TensorDesc>> InferBiasAdd(const OpView& op) {
  OFL_RETURN_IF_ERROR(ExpectMinRank(op, 0, 1));
  OFL_RETURN_IF_ERROR(ExpectFloating(op, 0));
  OFL_RETURN_IF_ERROR(ExpectSameDType(op, 0, 1));
  OFL_RETURN_IF_ERROR(ExpectRank(op, 1, 1));
  OFL_ASSIGN_OR_RETURN(int axis, BiasAxis(op));
  OFL_CHECK_OR_RETURN(op.in(1).shape[0] == op.in(0).shape[axis])
      << op.Who(1) << ": expected shape [" << op.in(0).shape[axis] << "] (x.shape[" << axis << "] of x "
      << op.in(0).shape.ToString() << "), got " << op.in(1).shape.ToString();
  return std::vector<TensorDesc>{op.in(0)};
}

std::vector<SbpSignature> BiasAddSignatures(const OpView& op) {
  const int axis = BiasAxis(op).ValueOrThrow();
  std::vector<SbpSignature> list;
  AddUnique(list, SignatureBuilder(2, 1)
                      .Note("B: cpu:0 and cpu:1 both hold x and bias whole and compute the whole y")
                      .Build());
  for (int k = 0; k < op.in(0).shape.rank(); ++k) {
    const std::string s = std::to_string(k);
    if (k == axis) {
      AddUnique(list,
                SignatureBuilder(2, 1)
                    .Input(0, Sbp::Split(k))
                    .Input(1, Sbp::Split(0))
                    .Output(0, Sbp::Split(k))
                    .Note("S(" + s +
                          ") along the bias axis: x [N,4] and bias [4]; cpu:0 holds x[:, 0:2] "
                          "and bias[0:2], cpu:1 x[:, 2:4] and bias[2:4]; each adds its own bias entries")
                    .Build());
    } else {
      AddUnique(list, SignatureBuilder(2, 1)
                          .Input(0, Sbp::Split(k))
                          .Output(0, Sbp::Split(k))
                          .Note("S(" + s + "): cpu:0 holds the first half of axis " + s +
                                " of x and y, cpu:1 "
                                "the second half; bias (along another axis) is whole on both")
                          .Build());
    }
  }
  // Linear in (x, bias) jointly, not in x alone: (x0 + b0) + (x1 + b1) ==
  // x + b only when bias is Partial too; with bias B it would be added twice.
  AddUnique(list, SignatureBuilder(2, 1)
                      .AllInputs(Sbp::PartialSum())
                      .Output(0, Sbp::PartialSum())
                      .Note("P: x = x0 + x1 and bias = b0 + b1 with (x0, b0) on cpu:0 and (x1, b1) on cpu:1; "
                            "(x0 + b0) + (x1 + b1) == x + bias, so y is P")
                      .Build());
  return list;
}

// dx = dy; dbias = dy summed over every axis but `axis`.
Status BiasAddGrad(GradContext& ctx) {
  const ValueRef dy = ctx.output_grads[0];
  if (ctx.needs_input_grad[0]) ctx.input_grads[0] = dy;
  if (!ctx.needs_input_grad[1]) return Status::Ok();
  const int rank = ctx.Desc(ctx.inputs[0]).shape.rank();
  OFL_ASSIGN_OR_RETURN(int axis, NormalizeAxis("[bias_add] attribute axis", ctx.attr().GetInt("axis"), rank));
  std::vector<int64_t> axes;
  for (int k = 0; k < rank; ++k) {
    if (k != axis) axes.push_back(k);
  }
  // reduce_sum with axes [] means "all axes"; a rank-1 x needs no reduction.
  if (axes.empty()) {
    ctx.input_grads[1] = dy;
    return Status::Ok();
  }
  OFL_ASSIGN_OR_RETURN(ctx.input_grads[1],
                       ctx.Emit1("reduce_sum", {dy}, {{"axes", axes}, {"keepdims", false}}));
  return Status::Ok();
}

template <typename T>
void BiasAddLoop(const T* x, const T* bias, T* y, int64_t outer, int64_t channels, int64_t inner) {
  using Acc = std::conditional_t<std::is_same_v<T, double>, double, float>;
  const int64_t rows = outer * channels;
  ParallelFor(rows, std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(1, inner)),
              [&](int64_t begin, int64_t end) {
                for (int64_t row = begin; row < end; ++row) {
                  const Acc b = static_cast<Acc>(bias[row % channels]);
                  const T* x_row = x + row * inner;
                  T* y_row = y + row * inner;
                  for (int64_t i = 0; i < inner; ++i)
                    y_row[i] = FromCompute<T>(static_cast<Acc>(x_row[i]) + b);
                }
              });
}

// Works on physical pieces: the bias piece always spans the x piece's
// extent along `axis` (whole bias, or the matching S(0) slice of it).
Status BiasAddCompute(KernelContext& ctx) {
  const Shape& x = ctx.in(0).shape();
  OFL_ASSIGN_OR_RETURN(int axis,
                       NormalizeAxis("[bias_add] attribute axis", ctx.attr().GetInt("axis"), x.rank()));
  OFL_CHECK_OR_RETURN(ctx.in(1).NumElements() == x[axis])
      << "[bias_add] cpu kernel: expected a bias piece of " << x[axis] << " elements (x piece "
      << x.ToString() << ", axis " << axis << "), got " << ctx.in(1).shape().ToString();
  int64_t outer = 1, inner = 1;
  for (int k = 0; k < axis; ++k) outer *= x[k];
  for (int k = axis + 1; k < x.rank(); ++k) inner *= x[k];
  return DispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    BiasAddLoop<T>(ctx.in(0).As<T>(), ctx.in(1).As<T>(), ctx.out(0).As<T>(), outer, x[axis], inner);
  });
}

}  // namespace

Status RegisterBiasAddOp(OpRegistry& ops, KernelRegistry& kernels) {
  OpSchema schema;
  schema.name = "bias_add";
  schema.doc = "y = x + bias, bias broadcast along every axis of x but `axis`";
  schema.inputs = {{"x", "input of any rank >= 1"}, {"bias", "[x.shape[axis]]"}};
  schema.outputs = {{"y", "shaped like x"}};
  schema.attrs = {
      {"axis", int64_t{-1}, false, "the axis of x that bias runs along (negative counts from the end)"}};
  schema.infer = InferBiasAdd;
  schema.sbp = BiasAddSignatures;
  schema.grad = BiasAddGrad;
  schema.example = {{{Shape{4, 3}, DType::kF32}, {Shape{3}, DType::kF32}}, {}};
  OFL_RETURN_IF_ERROR(ops.Register(std::move(schema)));
  return kernels.RegisterForDTypes("bias_add", DeviceType::kCPU, DTypesOf(FloatTypes{}),
                                   MakeFunctionKernel(BiasAddCompute));
}

}  // namespace ofl

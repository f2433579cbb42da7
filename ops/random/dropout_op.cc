// dropout: y = x / (1 - rate) where the Philox uniform of (seed, logical
// index) is >= rate, else 0. The mask is keyed on the logical element
// index, so it is the same on any device count and under any SBP, and the
// gradient is the same op applied to dy.
#include "ops/common/infer_helpers.h"
#include "ops/common/kernel_helpers.h"
#include "ops/elementwise/functors.h"
#include "ops/random/logical_index.h"
#include "ops/random/philox.h"
#include "ops/random/random.h"

namespace ofl {

namespace {

Status CheckRate(const OpView& op) {
  const double rate = op.attrs.GetFloat("rate");
  OFL_CHECK_OR_RETURN(rate >= 0.0 && rate < 1.0)
      << op.Who() << " attribute rate: expected a probability in [0, 1), got " << rate;
  return Status::Ok();
}

std::vector<SbpSignature> DropoutSignatures(const OpView& op) {
  const Shape& shape = op.in(0).shape;
  std::vector<SbpSignature> list;
  list.push_back(SignatureBuilder(1, 1)
                     .Note("B: cpu:0 and cpu:1 hold x whole and draw the same mask, keyed on (seed, logical "
                           "index), so both compute the whole y")
                     .Build());
  for (int axis = 0; axis < shape.rank(); ++axis) {
    const std::string k = std::to_string(axis);
    list.push_back(
        SignatureBuilder(1, 1)
            .Input(0, Sbp::Split(axis))
            .Output(0, Sbp::Split(axis))
            .Note("S(" + k + "): cpu:0 holds the first half of axis " + k +
                  " of x, cpu:1 the second; "
                  "each keys the mask on the logical index of its elements (piece offset added), so "
                  "the halves of y are those of the single-device y")
            .Build());
  }
  list.push_back(SignatureBuilder(1, 1)
                     .Input(0, Sbp::PartialSum())
                     .Output(0, Sbp::PartialSum())
                     .Note("P: x = x0 + x1 with x0 on cpu:0 and x1 on cpu:1; both draw the same mask m, and "
                           "m x0 / (1 - rate) + m x1 / (1 - rate) == m x / (1 - rate), so y is P as well")
                     .Build());
  return list;
}

Status DropoutGrad(GradContext& ctx) {
  if (!ctx.needs_input_grad[0]) return Status::Ok();
  // The same (rate, seed) on dy of the same logical shape redraws the same mask.
  OFL_ASSIGN_OR_RETURN(ctx.input_grads[0], ctx.Emit1("dropout", {ctx.output_grads[0]},
                                                     {{"rate", ctx.attr().GetFloat("rate")},
                                                      {"seed", ctx.attr().GetInt("seed")}}));
  return Status::Ok();
}

Status DropoutKernel(KernelContext& ctx) {
  const double rate = ctx.attr().GetFloat("rate");
  const uint64_t seed = static_cast<uint64_t>(ctx.attr().GetInt("seed"));
  OFL_RETURN_IF_ERROR(CheckPieceInLogical(ctx.op_name, ctx.inputs[0]));
  OFL_CHECK_OR_RETURN(ctx.out(0).shape() == ctx.in(0).shape())
      << "[" << ctx.op_name << "] cpu kernel: expected y piece " << ctx.in(0).shape().ToString()
      << " (the x piece), got " << ctx.out(0).shape().ToString();
  return DispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    using C = ComputeType<T>;
    const C scale = static_cast<C>(1.0 / (1.0 - rate));
    const T* x = ctx.in(0).As<T>();
    T* y = ctx.out(0).As<T>();
    ForEachLogicalRun(ctx.inputs[0], [&](int64_t local, int64_t logical, int64_t count) {
      for (int64_t j = 0; j < count; ++j) {
        const bool keep = philox::UniformAt(seed, static_cast<uint64_t>(logical + j)) >= rate;
        y[local + j] = keep ? FromCompute<T>(ToCompute<C>(x[local + j]) * scale) : FromCompute<T>(C(0));
      }
    });
  });
}

}  // namespace

Status RegisterDropoutOp(OpRegistry& ops, KernelRegistry& kernels) {
  OpSchema schema;
  schema.name = "dropout";
  schema.doc =
      "y = x / (1 - rate) where the uniform of (seed, logical index) is >= rate, else 0 (the uniforms of "
      "random_uniform with the same seed); rate 0 is the identity";
  schema.inputs = {{"x", "input (floating point)"}};
  schema.outputs = {{"y", "x with dropped elements zeroed and kept ones scaled, shaped like x"}};
  schema.attrs = {{"rate", 0.0, true, "probability of dropping an element, in [0, 1)"},
                  {"seed", int64_t{0}, true, "Philox key of the mask; the gradient reuses it"}};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_RETURN_IF_ERROR(ExpectFloating(op, 0));
    OFL_RETURN_IF_ERROR(CheckRate(op));
    return std::vector<TensorDesc>{op.in(0)};
  };
  schema.sbp = DropoutSignatures;
  schema.grad = DropoutGrad;
  schema.example = {{{Shape{4, 3}, DType::kF32}}, {{"rate", 0.1}, {"seed", int64_t{7}}}};
  OFL_RETURN_IF_ERROR(ops.Register(std::move(schema)));
  return kernels.RegisterForDTypes("dropout", DeviceType::kCPU, DTypesOf(FloatTypes{}),
                                   MakeFunctionKernel(DropoutKernel));
}

}  // namespace ofl

// mse_loss: the mean squared error over all LOGICAL elements, so that split
// pieces each add their share and the per-device losses sum to the loss.
#include <algorithm>
#include <vector>

#include "oneflow_like/parallel.h"
#include "ops/common/infer_helpers.h"
#include "ops/common/kernel_helpers.h"
#include "ops/elementwise/functors.h"
#include "ops/loss/loss.h"

namespace ofl {

namespace {

// loss = sum over this piece of (pred - target)^2 / N, N the logical count.
KernelFactory MseLossKernel() {
  return MakeFunctionKernel([](KernelContext& ctx) -> Status {
    const int64_t count = ctx.in(0).NumElements();
    const int64_t logical_count = ctx.inputs[0].logical_shape.NumElements();
    return DispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
      using T = decltype(tag);
      using C = ComputeType<T>;
      const T* pred = ctx.in(0).As<T>();
      const T* target = ctx.in(1).As<T>();
      // One partial sum per fixed-size chunk, added in chunk order: the
      // result does not depend on the thread count.
      const int64_t grain = int64_t{1} << 14;
      std::vector<C> partial((count + grain - 1) / grain + 1, C(0));
      ParallelFor(count, grain, [&](int64_t begin, int64_t end) {
        for (int64_t chunk = begin; chunk < end; chunk += grain) {
          C sum = 0;
          for (int64_t i = chunk; i < std::min(end, chunk + grain); ++i) {
            const C diff = ToCompute<C>(pred[i]) - ToCompute<C>(target[i]);
            sum += diff * diff;
          }
          partial[chunk / grain] = sum;
        }
      });
      C total = 0;
      for (C sum : partial) total += sum;
      ctx.out(0).As<T>()[0] = FromCompute<T>(total / static_cast<C>(logical_count));
    });
  });
}

std::vector<SbpSignature> MseLossSignatures(const OpView& op) {
  std::vector<SbpSignature> list;
  AddUnique(list, SignatureBuilder(2, 1)
                      .Note("B: cpu:0 and cpu:1 both hold pred and target whole and compute the whole loss")
                      .Build());
  for (int k = 0; k < op.in(0).shape.rank(); ++k) {
    AddUnique(list,
              SignatureBuilder(2, 1)
                  .AllInputs(Sbp::Split(k))
                  .Output(0, Sbp::PartialSum())
                  .Note("S(" + std::to_string(k) + "), S(" + std::to_string(k) +
                        ") -> P: pred and target "
                        "[4, 3] have N = 12 elements; cpu:0 holds the first half of axis " +
                        std::to_string(k) +
                        " of both, cpu:1 the second; each sums its squared differences and divides by the "
                        "logical N = 12, so the two scalars sum to the mean")
                  .Build());
  }
  return list;
}

// d loss / d pred = 2 (pred - target) dloss / N, d loss / d target = -that.
Status MseLossGrad(GradContext& ctx) {
  const double count = static_cast<double>(ctx.Desc(ctx.inputs[0]).shape.NumElements());
  OFL_ASSIGN_OR_RETURN(ValueRef diff, ctx.Emit1("sub", {ctx.inputs[0], ctx.inputs[1]}));
  OFL_ASSIGN_OR_RETURN(ValueRef scaled, ctx.Emit1("mul", {diff, ctx.output_grads[0]}));
  OFL_ASSIGN_OR_RETURN(ValueRef dpred, ctx.Emit1("scalar_mul", {scaled}, {{"scalar", 2.0 / count}}));
  if (ctx.needs_input_grad[0]) ctx.input_grads[0] = dpred;
  if (ctx.needs_input_grad[1]) {
    OFL_ASSIGN_OR_RETURN(ctx.input_grads[1], ctx.Emit1("neg", {dpred}));
  }
  return Status::Ok();
}

OpSchema MseLossSchema() {
  OpSchema schema;
  schema.name = "mse_loss";
  schema.doc = "loss = mean over all elements of (pred - target)^2";
  schema.inputs = {{"pred", "prediction, any shape"}, {"target", "target, shaped like pred"}};
  schema.outputs = {{"loss", "scalar mean squared error"}};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_RETURN_IF_ERROR(ExpectFloating(op, 0));
    OFL_RETURN_IF_ERROR(ExpectSameDType(op, 0, 1));
    OFL_RETURN_IF_ERROR(ExpectSameShape(op, 0, 1));
    OFL_CHECK_OR_RETURN(op.in(0).shape.NumElements() > 0)
        << op.Who(0) << ": expected at least one element (the mean of nothing is undefined), got shape "
        << op.in(0).shape.ToString();
    return std::vector<TensorDesc>{{Shape{}, op.in(0).dtype}};
  };
  schema.sbp = MseLossSignatures;
  schema.grad = MseLossGrad;
  schema.example = {{{Shape{4, 3}, DType::kF32}, {Shape{4, 3}, DType::kF32}}, {}};
  return schema;
}

}  // namespace

Status RegisterMseLossOp(OpRegistry& ops, KernelRegistry& kernels) {
  OFL_RETURN_IF_ERROR(ops.Register(MseLossSchema()));
  return kernels.RegisterForDTypes("mse_loss", DeviceType::kCPU, DTypesOf(FloatTypes{}), MseLossKernel());
}

}  // namespace ofl

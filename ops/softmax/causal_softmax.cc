// causal_softmax: the masked softmax of decoder self-attention, and its
// backward op. The mask keys on the LOGICAL query row, so the op can be
// split along query rows (sequence parallelism) as well as batch and heads.
#include <algorithm>
#include <type_traits>

#include "oneflow_like/parallel.h"
#include "ops/common/infer_helpers.h"
#include "ops/common/kernel_helpers.h"
#include "ops/common/vector_math.h"
#include "ops/elementwise/functors.h"
#include "ops/softmax/causal_mask.h"
#include "ops/softmax/softmax.h"

namespace ofl {

namespace {

// The mask rule (which keys a query row sees) lives in causal_mask.h, shared
// with the CUDA kernel.
KernelFactory CausalSoftmaxKernel() {
  return MakeFunctionKernel([](KernelContext& ctx) -> Status {
    OFL_ASSIGN_OR_RETURN(const CausalMask mask, CausalMaskOf(ctx));
    const int64_t tk = mask.tk;
    const double scale = ctx.attr().GetFloat("scale");
    if (tk == 0 || mask.local_tq == 0) return Status::Ok();
    const int64_t rows = ctx.in(0).shape().NumElements() / tk;
    return DispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
      using T = decltype(tag);
      using C = ComputeType<T>;
      const C s = static_cast<C>(scale);
      const T* x = ctx.in(0).As<T>();
      T* y = ctx.out(0).As<T>();
      ParallelFor(rows, std::max<int64_t>(1, (int64_t{1} << 14) / tk), [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          const T* __restrict xr = x + r * tk;
          T* __restrict yr = y + r * tk;
          const int64_t visible = mask.VisibleKeys(r);
          const C max = MaxOf<C>(visible, [&](int64_t j) { return s * ToCompute<C>(xr[j]); });
          // f32 and f64 park exp(s x - max) in y and rescale it in place; f16
          // and bf16 recompute it rather than round it twice.
          constexpr bool kPark = std::is_same_v<T, C>;
          const C sum = SumOf<C>(visible, [&](int64_t j) {
            const C e = ExpOf<C>(s * ToCompute<C>(xr[j]) - max);
            if constexpr (kPark) yr[j] = e;
            return e;
          });
          const C inverse = C(1) / sum;
          for (int64_t j = 0; j < visible; ++j) {
            const C e = kPark ? ToCompute<C>(yr[j]) : ExpOf<C>(s * ToCompute<C>(xr[j]) - max);
            yr[j] = FromCompute<T>(e * inverse);
          }
          for (int64_t j = visible; j < tk; ++j) yr[j] = FromCompute<T>(C(0));
        }
      });
    });
  });
}

// dx = scale * y * (dy - sum_j dy_j y_j). Masked places have y == 0, so they
// get dx == 0 without consulting the mask.
KernelFactory CausalSoftmaxGradKernel() {
  return MakeFunctionKernel([](KernelContext& ctx) -> Status {
    const Shape& shape = ctx.in(0).shape();
    const int64_t tk = shape[shape.rank() - 1];
    if (tk == 0 || shape.NumElements() == 0) return Status::Ok();
    const int64_t rows = shape.NumElements() / tk;
    const double scale = ctx.attr().GetFloat("scale");
    return DispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
      using T = decltype(tag);
      using C = ComputeType<T>;
      const C s = static_cast<C>(scale);
      const T* y = ctx.in(0).As<T>();
      const T* dy = ctx.in(1).As<T>();
      T* dx = ctx.out(0).As<T>();
      ParallelFor(rows, std::max<int64_t>(1, (int64_t{1} << 14) / tk), [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          const T* __restrict yr = y + r * tk;
          const T* __restrict dyr = dy + r * tk;
          T* __restrict dxr = dx + r * tk;
          const C dot = SumOf<C>(tk, [&](int64_t j) { return ToCompute<C>(dyr[j]) * ToCompute<C>(yr[j]); });
          for (int64_t j = 0; j < tk; ++j) {
            dxr[j] = FromCompute<T>(s * ToCompute<C>(yr[j]) * (ToCompute<C>(dyr[j]) - dot));
          }
        }
      });
    });
  });
}

Status CheckScoreShape(const OpView& op, int i) {
  OFL_RETURN_IF_ERROR(ExpectFloating(op, i));
  OFL_RETURN_IF_ERROR(ExpectMinRank(op, i, 2));
  const Shape& shape = op.in(i).shape;
  const int64_t tq = shape[shape.rank() - 2];
  const int64_t tk = shape[shape.rank() - 1];
  OFL_CHECK_OR_RETURN(tq <= tk) << op.Who(i) << ": expected [..., Tq, Tk] with Tq <= Tk (every query sees at "
                                << "least one key), got shape " << shape.ToString();
  return Status::Ok();
}

// Every axis but the key axis may be split: batch and heads trivially, query
// rows because the kernel masks by logical row.
std::vector<SbpSignature> CausalSignatures(const OpView& op, bool backward) {
  const int rank = op.in(0).shape.rank();
  const int num_inputs = op.num_inputs();
  std::vector<SbpSignature> list;
  AddUnique(list, SignatureBuilder(num_inputs, 1)
                      .Note("B: cpu:0 and cpu:1 both hold the scores whole and compute the whole result")
                      .Build());
  for (int k = 0; k < rank - 1; ++k) {
    std::string note = "S(" + std::to_string(k) + "): cpu:0 holds the first half of axis " +
                       std::to_string(k) +
                       ", cpu:1 the second; rows along the key axis stay whole on one device";
    if (k == rank - 2) {
      note += backward
                  ? " (the mask is already zeros in y, so the backward needs no row index)"
                  : "; with Tq = Tk = 4, cpu:1 holds query rows 2-3 and masks keys j > 2 and j > 3 by the "
                    "logical row (piece offset + local row), not by its local row 0-1";
    }
    AddUnique(list, SignatureBuilder(num_inputs, 1)
                        .AllInputs(Sbp::Split(k))
                        .AllOutputs(Sbp::Split(k))
                        .Note(note)
                        .Build());
  }
  if (backward) {
    AddUnique(list,
              SignatureBuilder(num_inputs, 1)
                  .Input(1, Sbp::PartialSum())
                  .AllOutputs(Sbp::PartialSum())
                  .Note("P: dy = dy0 + dy1 with dy0 on cpu:0 and dy1 on cpu:1, y whole on both; dx is linear "
                        "in dy for a fixed y, so the two results sum to dx")
                  .Build());
  }
  return list;
}

OpSchema CausalSoftmaxSchema() {
  OpSchema schema;
  schema.name = "causal_softmax";
  schema.doc =
      "y = softmax(scale * x) over the last axis with key j > i + (Tk - Tq) masked to 0 "
      "(attention scores [..., Tq, Tk])";
  schema.inputs = {{"x", "attention scores [..., Tq, Tk], Tq <= Tk"}};
  schema.outputs = {{"y", "probabilities, shaped like x, 0 at masked places"}};
  schema.attrs = {{"scale", 1.0, false, "factor applied to x before the softmax"}};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_RETURN_IF_ERROR(CheckScoreShape(op, 0));
    return std::vector<TensorDesc>{op.in(0)};
  };
  schema.sbp = [](const OpView& op) { return CausalSignatures(op, false); };
  schema.grad = [](GradContext& ctx) -> Status {
    if (!ctx.needs_input_grad[0]) return Status::Ok();
    OFL_ASSIGN_OR_RETURN(ctx.input_grads[0],
                         ctx.Emit1("causal_softmax_grad", {ctx.outputs[0], ctx.output_grads[0]},
                                   {{"scale", ctx.attr().GetFloat("scale")}}));
    return Status::Ok();
  };
  schema.example = {{{Shape{2, 4, 8, 8}, DType::kF32}}, {{"scale", 0.125}}};
  return schema;
}

OpSchema CausalSoftmaxGradSchema() {
  OpSchema schema;
  schema.name = "causal_softmax_grad";
  schema.doc = "dx = scale * y * (dy - sum(dy * y)) over the last axis (masked places have y = 0)";
  schema.inputs = {{"y", "output of causal_softmax"}, {"dy", "gradient of y"}};
  schema.outputs = {{"dx", "gradient of the scores, shaped like y"}};
  schema.attrs = {{"scale", 1.0, false, "the scale of the forward op"}};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_RETURN_IF_ERROR(CheckScoreShape(op, 0));
    OFL_RETURN_IF_ERROR(ExpectSameDType(op, 0, 1));
    OFL_RETURN_IF_ERROR(ExpectSameShape(op, 0, 1));
    return std::vector<TensorDesc>{op.in(0)};
  };
  schema.sbp = [](const OpView& op) { return CausalSignatures(op, true); };
  schema.example = {{{Shape{2, 4, 8, 8}, DType::kF32}, {Shape{2, 4, 8, 8}, DType::kF32}}, {{"scale", 0.125}}};
  return schema;
}

}  // namespace

Status RegisterCausalSoftmaxOps(OpRegistry& ops, KernelRegistry& kernels) {
  const std::vector<DType> floats = DTypesOf(FloatTypes{});
  OFL_RETURN_IF_ERROR(ops.Register(CausalSoftmaxSchema()));
  OFL_RETURN_IF_ERROR(
      kernels.RegisterForDTypes("causal_softmax", DeviceType::kCPU, floats, CausalSoftmaxKernel()));
  OFL_RETURN_IF_ERROR(ops.Register(CausalSoftmaxGradSchema()));
  OFL_RETURN_IF_ERROR(
      kernels.RegisterForDTypes("causal_softmax_grad", DeviceType::kCPU, floats, CausalSoftmaxGradKernel()));
  return Status::Ok();
}

}  // namespace ofl

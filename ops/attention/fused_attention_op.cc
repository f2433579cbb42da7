// fused_causal_attention and its backward op: the composite
// CausalSelfAttention (attention.h) as one op, saving the log-sum-exp of each
// query row so the backward recomputes the probabilities instead of storing
// the [Tq, Tk] matrix (the flash-attention contract). The CPU kernels here
// are the plain reference the CUDA kernels (attention_cuda.cu) are checked
// against.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "oneflow_like/parallel.h"
#include "ops/attention/attention.h"
#include "ops/attention/fused_attention.h"
#include "ops/common/infer_helpers.h"
#include "ops/common/kernel_helpers.h"
#include "ops/elementwise/functors.h"

namespace ofl {

namespace {

// lse is kept in the compute type: f64 for f64 inputs, f32 otherwise.
DType LseDType(DType input) { return input == DType::kF64 ? DType::kF64 : DType::kF32; }

// q [B, H, Tq, Dh], k and v [B, H, Tk, Dh] of q's floating dtype, Tq <= Tk;
// a finite scale.
Status CheckQueryKeyValue(const OpView& op) {
  OFL_RETURN_IF_ERROR(ExpectFloating(op, 0));
  OFL_RETURN_IF_ERROR(ExpectRank(op, 0, 4));
  OFL_RETURN_IF_ERROR(ExpectRank(op, 1, 4));
  const Shape& qs = op.in(0).shape;
  const Shape& ks = op.in(1).shape;
  OFL_CHECK_OR_RETURN(op.in(1).dtype == op.in(0).dtype && ks[0] == qs[0] && ks[1] == qs[1] && ks[3] == qs[3])
      << op.Who(1) << ": expected [" << qs[0] << ", " << qs[1] << ", Tk, " << qs[3] << "] of "
      << DTypeName(op.in(0).dtype) << " (B, H, Dh of q), got " << op.in(1).ToString();
  OFL_CHECK_OR_RETURN(ks[2] >= qs[2])
      << op.Who(1) << ": expected at least Tq = " << qs[2]
      << " keys (the queries are the last Tq positions), got " << op.in(1).ToString();
  OFL_CHECK_OR_RETURN(op.in(2) == op.in(1)) << op.Who(2) << ": expected the shape and dtype of k, "
                                            << op.in(1).ToString() << ", got " << op.in(2).ToString();
  const double scale = op.attrs.GetFloat("scale");
  OFL_CHECK_OR_RETURN(std::isfinite(scale))
      << op.Who() << " attribute scale: expected a finite value (0 = 1 / sqrt(Dh)), got " << scale;
  return Status::Ok();
}

TensorDesc LseDesc(const TensorDesc& q) {
  return TensorDesc{Shape{q.shape[0], q.shape[1], q.shape[2]}, LseDType(q.dtype)};
}

// ---- Kernels ---------------------------------------------------------------

// Per query row i (all in ComputeType, float for f16/bf16):
//   s_j = scale * <q_i, k_j> for the visible keys j, m = max_j s_j,
//   e_j = exp(s_j - m), l = sum_j e_j, y_i = sum_j e_j v_j / l,
//   lse_i = m + log(l).
// A NaN score makes l, y_i and lse_i NaN (it enters the sum whatever the max).
Status FusedAttentionKernel(KernelContext& ctx) {
  const AttentionDims dims = AttentionDims::Of(ctx.in(0).shape(), ctx.in(1).shape());
  const int64_t rows = dims.matrices * dims.tq;
  if (rows == 0) return Status::Ok();
  const double scale = ResolvedAttentionScale(ctx.attr().GetFloat("scale"), dims.dh);
  return DispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    using C = ComputeType<T>;  // also the lse element type
    const T* q = ctx.in(0).As<T>();
    const T* k = ctx.in(1).As<T>();
    const T* v = ctx.in(2).As<T>();
    T* y = ctx.out(0).As<T>();
    C* lse = ctx.out(1).As<C>();
    const C s = static_cast<C>(scale);
    const int64_t work = std::max<int64_t>(1, dims.tk * std::max<int64_t>(1, dims.dh));
    ParallelFor(rows, std::max<int64_t>(1, (int64_t{1} << 15) / work), [&](int64_t begin, int64_t end) {
      std::vector<C> weights(dims.tk);
      std::vector<C> accumulator(dims.dh);
      for (int64_t row = begin; row < end; ++row) {
        const AttentionQueryRow at = AttentionQueryRow::Of(row, dims);
        const T* qr = q + at.q_offset;
        const T* km = k + at.kv_offset;
        const T* vm = v + at.kv_offset;
        const int64_t visible = at.visible;
        C max = -std::numeric_limits<C>::infinity();
        for (int64_t j = 0; j < visible; ++j) {
          C dot = 0;
          for (int64_t d = 0; d < dims.dh; ++d)
            dot += ToCompute<C>(qr[d]) * ToCompute<C>(km[j * dims.dh + d]);
          weights[j] = s * dot;
          if (weights[j] > max) max = weights[j];
        }
        C sum = 0;
        for (int64_t j = 0; j < visible; ++j) {
          weights[j] = std::exp(weights[j] - max);
          sum += weights[j];
        }
        std::fill(accumulator.begin(), accumulator.end(), C(0));
        for (int64_t j = 0; j < visible; ++j) {
          for (int64_t d = 0; d < dims.dh; ++d)
            accumulator[d] += weights[j] * ToCompute<C>(vm[j * dims.dh + d]);
        }
        const C inverse = C(1) / sum;
        for (int64_t d = 0; d < dims.dh; ++d) y[at.q_offset + d] = FromCompute<T>(accumulator[d] * inverse);
        lse[row] = max + std::log(sum);
      }
    });
  });
}

// Per (b, h), with p_ij = exp(scale <q_i, k_j> - lse_i) on visible keys (0
// elsewhere) and D_i = <dy_i, y_i>:
//   dP_ij = <dy_i, v_j>, dS_ij = p_ij (dP_ij - D_i),
//   dq_i = scale sum_j dS_ij k_j, dk_j = scale sum_i dS_ij q_i, dv_j = sum_i p_ij dy_i.
// dk and dv sum over query rows, so one task owns a whole (b, h) matrix and
// accumulates them in ComputeType before the one rounding to T.
Status FusedAttentionGradKernel(KernelContext& ctx) {
  const AttentionDims dims = AttentionDims::Of(ctx.in(0).shape(), ctx.in(1).shape());
  if (dims.matrices * dims.tk * dims.dh == 0) return Status::Ok();  // dk, dv empty; dq empty too
  const double scale = ResolvedAttentionScale(ctx.attr().GetFloat("scale"), dims.dh);
  return DispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    using C = ComputeType<T>;
    const T* q = ctx.in(0).As<T>();
    const T* k = ctx.in(1).As<T>();
    const T* v = ctx.in(2).As<T>();
    const T* y = ctx.in(3).As<T>();
    const C* lse = ctx.in(4).As<C>();
    const T* dy = ctx.in(5).As<T>();
    T* dq = ctx.out(0).As<T>();
    T* dk = ctx.out(1).As<T>();
    T* dv = ctx.out(2).As<T>();
    const C s = static_cast<C>(scale);
    const int64_t dh = dims.dh;
    ParallelFor(dims.matrices, 1, [&](int64_t begin, int64_t end) {
      std::vector<C> dk_sum(dims.tk * dh), dv_sum(dims.tk * dh), dq_row(dh), probs(dims.tk), dscores(dims.tk);
      for (int64_t matrix = begin; matrix < end; ++matrix) {
        std::fill(dk_sum.begin(), dk_sum.end(), C(0));
        std::fill(dv_sum.begin(), dv_sum.end(), C(0));
        const int64_t q_base = matrix * dims.tq * dh;
        const int64_t k_base = matrix * dims.tk * dh;
        for (int64_t i = 0; i < dims.tq; ++i) {
          const T* qi = q + q_base + i * dh;
          const T* yi = y + q_base + i * dh;
          const T* dyi = dy + q_base + i * dh;
          const C row_lse = lse[matrix * dims.tq + i];
          C delta = 0;
          for (int64_t d = 0; d < dh; ++d) delta += ToCompute<C>(dyi[d]) * ToCompute<C>(yi[d]);
          const int64_t visible = VisibleKeys(i, dims.tq, dims.tk);
          for (int64_t j = 0; j < visible; ++j) {
            const T* kj = k + k_base + j * dh;
            const T* vj = v + k_base + j * dh;
            C dot = 0, dprob = 0;
            for (int64_t d = 0; d < dh; ++d) {
              dot += ToCompute<C>(qi[d]) * ToCompute<C>(kj[d]);
              dprob += ToCompute<C>(dyi[d]) * ToCompute<C>(vj[d]);
            }
            probs[j] = std::exp(s * dot - row_lse);
            dscores[j] = probs[j] * (dprob - delta);
          }
          std::fill(dq_row.begin(), dq_row.end(), C(0));
          for (int64_t j = 0; j < visible; ++j) {
            const T* kj = k + k_base + j * dh;
            C* dkj = dk_sum.data() + j * dh;
            C* dvj = dv_sum.data() + j * dh;
            for (int64_t d = 0; d < dh; ++d) {
              dq_row[d] += dscores[j] * ToCompute<C>(kj[d]);
              dkj[d] += dscores[j] * ToCompute<C>(qi[d]);
              dvj[d] += probs[j] * ToCompute<C>(dyi[d]);
            }
          }
          for (int64_t d = 0; d < dh; ++d) dq[q_base + i * dh + d] = FromCompute<T>(s * dq_row[d]);
        }
        for (int64_t e = 0; e < dims.tk * dh; ++e) {
          dk[k_base + e] = FromCompute<T>(s * dk_sum[e]);
          dv[k_base + e] = FromCompute<T>(dv_sum[e]);
        }
      }
    });
  });
}

// ---- Schemas ---------------------------------------------------------------

// Batch and heads are independent problems, so splitting either keeps every
// input and output local. Query rows are not split: the kernels index the
// mask by local row.
void AddLocalSignatures(std::vector<SbpSignature>& list, int num_inputs, int num_outputs) {
  AddUnique(list, SignatureBuilder(num_inputs, num_outputs)
                      .Note("B: cpu:0 and cpu:1 both hold every tensor whole and compute the whole result")
                      .Build());
  AddUnique(list, SignatureBuilder(num_inputs, num_outputs)
                      .AllInputs(Sbp::Split(0))
                      .AllOutputs(Sbp::Split(0))
                      .Note("S(0): with B = 4, cpu:0 attends for sequences 0-1 and cpu:1 for sequences 2-3; "
                            "sequences never look at each other")
                      .Build());
  AddUnique(list, SignatureBuilder(num_inputs, num_outputs)
                      .AllInputs(Sbp::Split(1))
                      .AllOutputs(Sbp::Split(1))
                      .Note("S(1): head parallel; with H = 4, cpu:0 computes heads 0-1 and cpu:1 heads 2-3, "
                            "each head on its own slices of q, k and v")
                      .Build());
}

const char* const kScaleDoc = "score scale; 0 (the default) means 1 / sqrt(Dh)";

OpSchema FusedAttentionSchema() {
  OpSchema schema;
  schema.name = kFusedCausalAttention;
  schema.doc =
      "y = softmax(scale q k^T, key j > i + Tk - Tq masked) v in one kernel, and the log-sum-exp of each "
      "row of masked scaled scores (saved for the backward; no gradient)";
  schema.inputs = {{"q", "queries [B, H, Tq, Dh], the last Tq positions"},
                   {"k", "keys [B, H, Tk, Dh], Tk >= Tq, dtype of q"},
                   {"v", "values, shaped and typed like k"}};
  schema.outputs = {{"y", "attention output, shaped like q"},
                    {"lse", "[B, H, Tq] log-sum-exp of the scaled masked scores (f64 for f64, else f32)"}};
  schema.attrs = {{"scale", 0.0, false, kScaleDoc}};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_RETURN_IF_ERROR(CheckQueryKeyValue(op));
    return std::vector<TensorDesc>{op.in(0), LseDesc(op.in(0))};
  };
  schema.sbp = [](const OpView& op) {
    std::vector<SbpSignature> list;
    AddLocalSignatures(list, 3, 2);
    return list;
  };
  // lse is a saved statistic: its gradient is ignored (as layer_norm's mean).
  schema.grad = [](GradContext& ctx) -> Status {
    if (!ctx.needs_input_grad[0] && !ctx.needs_input_grad[1] && !ctx.needs_input_grad[2]) return Status::Ok();
    OFL_ASSIGN_OR_RETURN(std::vector<ValueRef> grads,
                         ctx.emitter->Emit(kFusedCausalAttentionGrad,
                                           {ctx.inputs[0], ctx.inputs[1], ctx.inputs[2], ctx.outputs[0],
                                            ctx.outputs[1], ctx.output_grads[0]},
                                           {{"scale", ctx.attr().GetFloat("scale")}}));
    for (int i = 0; i < 3; ++i) {
      if (ctx.needs_input_grad[i]) ctx.input_grads[i] = grads[i];
    }
    return Status::Ok();
  };
  schema.example = {{{Shape{2, 4, 8, 16}, DType::kF32},
                     {Shape{2, 4, 8, 16}, DType::kF32},
                     {Shape{2, 4, 8, 16}, DType::kF32}},
                    {}};
  return schema;
}

OpSchema FusedAttentionGradSchema() {
  OpSchema schema;
  schema.name = kFusedCausalAttentionGrad;
  schema.doc =
      "dq, dk, dv of fused_causal_attention from p = exp(scale q k^T - lse) (masked), "
      "dS = p (dy v^T - rowsum(dy y)): dq = scale dS k, dk = scale dS^T q, dv = p^T dy";
  schema.inputs = {{"q", "forward queries [B, H, Tq, Dh]"},  {"k", "forward keys [B, H, Tk, Dh]"},
                   {"v", "forward values [B, H, Tk, Dh]"},   {"y", "forward output, shaped like q"},
                   {"lse", "forward lse output [B, H, Tq]"}, {"dy", "gradient of y"}};
  schema.outputs = {{"dq", "gradient of q"}, {"dk", "gradient of k"}, {"dv", "gradient of v"}};
  schema.attrs = {{"scale", 0.0, false, "the scale of the forward op (0 = 1 / sqrt(Dh))"}};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_RETURN_IF_ERROR(CheckQueryKeyValue(op));
    OFL_RETURN_IF_ERROR(ExpectSameDType(op, 0, 3));
    OFL_RETURN_IF_ERROR(ExpectSameShape(op, 0, 3));
    OFL_RETURN_IF_ERROR(ExpectSameDType(op, 0, 5));
    OFL_RETURN_IF_ERROR(ExpectSameShape(op, 0, 5));
    const TensorDesc lse = LseDesc(op.in(0));
    OFL_CHECK_OR_RETURN(op.in(4) == lse)
        << op.Who(4) << ": expected " << lse.ToString() << " ([B, H, Tq] of q in the forward lse dtype), got "
        << op.in(4).ToString();
    return std::vector<TensorDesc>{op.in(0), op.in(1), op.in(2)};
  };
  // No P(dy) signature although dq, dk and dv are linear in dy: dS = p (dP -
  // D) cancels heavily, so the two partial results do not sum to the whole
  // one within f32 tolerance (ofl selfcheck measured 6x its tolerance).
  schema.sbp = [](const OpView& op) {
    std::vector<SbpSignature> list;
    AddLocalSignatures(list, 6, 3);
    return list;
  };
  const Shape q{2, 4, 8, 16};
  schema.example = {{{q, DType::kF32},
                     {q, DType::kF32},
                     {q, DType::kF32},
                     {q, DType::kF32},
                     {Shape{2, 4, 8}, DType::kF32},
                     {q, DType::kF32}},
                    {}};
  return schema;
}

}  // namespace

Status RegisterAttentionOps(OpRegistry& ops, KernelRegistry& kernels) {
  const std::vector<DType> floats = DTypesOf(FloatTypes{});
  OFL_RETURN_IF_ERROR(ops.Register(FusedAttentionSchema()));
  OFL_RETURN_IF_ERROR(kernels.RegisterForDTypes(kFusedCausalAttention, DeviceType::kCPU, floats,
                                                MakeFunctionKernel(FusedAttentionKernel)));
  OFL_RETURN_IF_ERROR(ops.Register(FusedAttentionGradSchema()));
  OFL_RETURN_IF_ERROR(kernels.RegisterForDTypes(kFusedCausalAttentionGrad, DeviceType::kCPU, floats,
                                                MakeFunctionKernel(FusedAttentionGradKernel)));
  return Status::Ok();
}

}  // namespace ofl

// CUDA kernels of reduce_sum, reduce_mean, reduce_max and reduce_max_grad,
// mirroring reduce_kernels.cc: the same accumulators (double for f32/f64
// sums, float for 16-bit floats, int64 for integer sums, the storage type for
// maxima except float for 16-bit), NaN-propagating maxima, reduce_mean
// dividing by the LOGICAL reduced count, identities for empty reductions.
//
// Axes of extent 1 are dropped and neighbouring axes with the same role
// merged (the CPU's ReduceRuns / PlanReduction). One reduced run is one pass
// [outer, reduced, inner], which runs fast paths: inner == 1 gives one warp per
// output (row sums), inner > 1 one thread per output column (coalesced over
// the inner block). When the outputs are too few to fill the GPU the reduced
// extent is cut into parts whose partial results go to the stream workspace
// and are combined in part order by a second kernel. Several reduced runs
// (non-contiguous axes) take a general strided kernel, one thread per output.
#include <algorithm>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "ops/common/cuda_helpers.cuh"
#include "ops/common/cuda_reduce.cuh"
#include "ops/cuda_kernels.h"
#include "ops/reduce/reduce_kernels.h"
#include "ops/reduce/reduce_plan.h"

namespace ofl {

namespace {

using ReduceFloatTypes = TypeList<float, double, Float16, BFloat16>;
using ReduceNumericTypes = TypeList<float, double, Float16, BFloat16, int32_t, int64_t>;

template <typename D>
constexpr bool kIsHalf = std::is_same_v<D, __half> || std::is_same_v<D, __nv_bfloat16>;

/// Sum accumulator of device storage type D (as SumAccumulator on the CPU).
template <typename D>
using SumAcc = std::conditional_t<std::is_same_v<D, float> || std::is_same_v<D, double>, double,
                                  std::conditional_t<kIsHalf<D>, float, int64_t>>;
/// Max accumulator of D (as MaxAccumulator on the CPU).
template <typename D>
using MaxAcc = std::conditional_t<kIsHalf<D>, float, D>;

/// How outputs are combined and stored: Combine, and Store(value) =
/// value * factor for means (scale), value otherwise, in storage type D.
template <typename D, typename Acc, bool kMax>
struct ReduceSpec {
  Acc identity;
  Acc factor;
  bool scale;
  __device__ __forceinline__ Acc Combine(Acc a, Acc b) const {
    if constexpr (kMax) {
      return CudaMaxOp{}(a, b);
    } else {
      return a + b;
    }
  }
  __device__ __forceinline__ D Store(Acc value) const {
    return FromCudaCompute<D>(scale ? value * factor : value);
  }
};

// Pass with inner == 1: warp w handles slot (o = w / parts, part = w % parts),
// combining in[o * reduced + r] over r in [reduced * part / parts, reduced * (part + 1) / parts).
// One part: out[o] = Store(value); several: partial[o * parts + part] = value.
template <typename D, typename Acc, bool kMax>
__global__ void ReduceRowsKernel(const D* in, int64_t outer, int64_t reduced, int64_t parts,
                                 ReduceSpec<D, Acc, kMax> spec, D* out, Acc* partial) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x >> 5);
  const int64_t slots = outer * parts;
  for (int64_t slot = static_cast<int64_t>(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5); slot < slots;
       slot += warps) {
    const int64_t o = slot / parts;
    const int64_t part = slot % parts;
    const int64_t begin = reduced * part / parts;
    const int64_t end = reduced * (part + 1) / parts;
    const D* row = in + o * reduced;
    Acc value = spec.identity;
    for (int64_t r = begin + lane; r < end; r += 32) value = spec.Combine(value, ToCudaCompute<Acc>(row[r]));
    value = WarpReduce(value, [&](Acc a, Acc b) { return spec.Combine(a, b); });
    if (lane == 0) {
      if (parts == 1) {
        out[o] = spec.Store(value);
      } else {
        partial[slot] = value;
      }
    }
  }
}

// Pass with inner > 1: thread per slot (o, part, i), slot = (o * parts + part) * inner + i,
// combining in[(o * reduced + r) * inner + i] over the part's r range.
template <typename D, typename Acc, bool kMax>
__global__ void ReduceColumnsKernel(const D* in, int64_t outer, int64_t reduced, int64_t inner, int64_t parts,
                                    ReduceSpec<D, Acc, kMax> spec, D* out, Acc* partial) {
  const int64_t slots = outer * parts * inner;
  for (int64_t slot = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; slot < slots;
       slot += int64_t{gridDim.x} * blockDim.x) {
    const int64_t i = slot % inner;
    const int64_t part = (slot / inner) % parts;
    const int64_t o = slot / (inner * parts);
    const int64_t begin = reduced * part / parts;
    const int64_t end = reduced * (part + 1) / parts;
    const D* column = in + o * reduced * inner + i;
    Acc value = spec.identity;
    for (int64_t r = begin; r < end; ++r) value = spec.Combine(value, ToCudaCompute<Acc>(column[r * inner]));
    if (parts == 1) {
      out[o * inner + i] = spec.Store(value);
    } else {
      partial[slot] = value;
    }
  }
}

// Second stage: out[o * inner + i] = Store(combine over parts, in order, of
// partial[(o * parts + part) * inner + i]).
template <typename D, typename Acc, bool kMax>
__global__ void ReduceFinishKernel(const Acc* partial, int64_t outer, int64_t inner, int64_t parts,
                                   ReduceSpec<D, Acc, kMax> spec, D* out) {
  const int64_t count = outer * inner;
  for (int64_t index = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; index < count;
       index += int64_t{gridDim.x} * blockDim.x) {
    const int64_t o = index / inner, i = index % inner;
    Acc value = spec.identity;
    for (int64_t part = 0; part < parts; ++part)
      value = spec.Combine(value, partial[(o * parts + part) * inner + i]);
    out[index] = spec.Store(value);
  }
}

// Any set of reduced axes: thread per output element. kept / reduced hold the
// extents of the kept and reduced runs of axes (ReduceRuns, outermost first)
// and *_strides their element strides in the input.
template <typename D, typename Acc, bool kMax>
__global__ void ReduceGeneralKernel(const D* in, CudaDims kept, CudaDims kept_strides, CudaDims reduced,
                                    CudaDims reduced_strides, int64_t out_count, int64_t reduced_count,
                                    ReduceSpec<D, Acc, kMax> spec, D* out) {
  for (int64_t index = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; index < out_count;
       index += int64_t{gridDim.x} * blockDim.x) {
    int64_t base = 0;
    int64_t rest = index;
    for (int k = kept.rank - 1; k >= 0; --k) {
      base += (rest % kept.d[k]) * kept_strides.d[k];
      rest /= kept.d[k];
    }
    Acc value = spec.identity;
    for (int64_t r = 0; r < reduced_count; ++r) {
      int64_t offset = base;
      int64_t position = r;
      for (int k = reduced.rank - 1; k >= 0; --k) {
        offset += (position % reduced.d[k]) * reduced_strides.d[k];
        position /= reduced.d[k];
      }
      value = spec.Combine(value, ToCudaCompute<Acc>(in[offset]));
    }
    out[index] = spec.Store(value);
  }
}

// Puts `value` in `slot`: Status is [[nodiscard]], so nvcc warns on a plain
// assignment statement (its Status& result is discarded).
void StoreStatus(Status& slot, Status value) { std::swap(slot, value); }

// Threads the GPU wants busy before a pass is worth cutting into parts.
constexpr int64_t kWantedThreads = int64_t{132} * 2048;

template <typename D, typename Acc, bool kMax>
Status LaunchReduce(const KernelContext& ctx, const CudaStream& stream, const D* in, const Shape& shape,
                    const std::vector<int>& axes, D* out, int64_t out_count, ReduceSpec<D, Acc, kMax> spec) {
  cudaStream_t native = stream.native();
  if (shape.NumElements() == 0) {  // nothing to combine: every output is Store(identity)
    return CudaForEach(ctx, native, out_count,
                       [=] __device__(int64_t i) { out[i] = spec.Store(spec.identity); });
  }
  // The CPU's plan (reduce_loop.h): no pass = only extent-1 axes reduced.
  const std::vector<ReducePass> passes = PlanReduction(shape, axes);
  if (passes.empty()) {  // an element-wise copy
    return CudaForEach(ctx, native, out_count,
                       [=] __device__(int64_t i) { out[i] = spec.Store(ToCudaCompute<Acc>(in[i])); });
  }
  if (passes.size() == 1) {
    const ReducePass& pass = passes[0];
    const int64_t threads_per_slot = pass.inner == 1 ? 32 : 1;
    const int64_t natural = pass.outer * pass.inner * threads_per_slot;
    // Parts of at least 1024 elements, only when the outputs alone leave the
    // GPU idle, and no more partial results than the workspace holds
    // (outer * parts * inner of Acc; one part needs none).
    int64_t parts = 1;
    if (natural < kWantedThreads) {
      parts = std::min((kWantedThreads + natural - 1) / natural, std::max<int64_t>(1, pass.reduced / 1024));
      const int64_t fit =
          static_cast<int64_t>(stream.workspace_bytes() / (sizeof(Acc) * pass.outer * pass.inner));
      parts = std::max<int64_t>(1, std::min(parts, fit));
    }
    Acc* partial = static_cast<Acc*>(stream.workspace());
    if (pass.inner == 1) {
      const int64_t slots = pass.outer * parts;
      ReduceRowsKernel<D, Acc, kMax><<<CudaGridFor(slots * 32), kCudaBlock, 0, native>>>(
          in, pass.outer, pass.reduced, parts, spec, out, partial);
    } else {
      const int64_t slots = pass.outer * parts * pass.inner;
      ReduceColumnsKernel<D, Acc, kMax><<<CudaGridFor(slots), kCudaBlock, 0, native>>>(
          in, pass.outer, pass.reduced, pass.inner, parts, spec, out, partial);
    }
    if (parts > 1) {
      ReduceFinishKernel<D, Acc, kMax><<<CudaGridFor(out_count), kCudaBlock, 0, native>>>(
          partial, pass.outer, pass.inner, parts, spec, out);
    }
    return CudaLaunchStatus(ctx);
  }
  // Several reduced runs: the general kernel over the merged runs (at most
  // 8 kept and 8 reduced ones, so any rank up to 16 fits).
  CudaDims kept, kept_strides, reduced, reduced_strides;
  int64_t reduced_count = 1;
  for (const ReduceRun& run : ReduceRuns(shape, axes)) {
    CudaDims& dims = run.reduced ? reduced : kept;
    CudaDims& dim_strides = run.reduced ? reduced_strides : kept_strides;
    OFL_CHECK_OR_RETURN(dims.rank < 8)
        << "[" << ctx.op_name << "] cuda kernel: expected at most 8 runs of "
        << (run.reduced ? "reduced" : "kept") << " axes, got shape " << shape.ToString();
    dims.d[dims.rank] = run.extent;
    dim_strides.d[dim_strides.rank] = run.stride;
    ++dims.rank;
    ++dim_strides.rank;
    if (run.reduced) reduced_count *= run.extent;
  }
  ReduceGeneralKernel<D, Acc, kMax><<<CudaGridFor(out_count), kCudaBlock, 0, native>>>(
      in, kept, kept_strides, reduced, reduced_strides, out_count, reduced_count, spec, out);
  return CudaLaunchStatus(ctx);
}

Status RunReduce(KernelContext& ctx, ReduceKind kind) {
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  const Blob& x = ctx.in(0);
  const Blob& y = ctx.out(0);
  OFL_ASSIGN_OR_RETURN(std::vector<int> axes, ReduceKernelAxes(ctx, x.shape().rank()));
  const int64_t out_count = ReduceKeptCount(x.shape(), axes);
  OFL_CHECK_OR_RETURN(out_count == y.NumElements())
      << "[" << ctx.op_name << "] cuda kernel: expected an output piece of " << out_count
      << " elements for input piece " << x.shape().ToString() << ", got " << y.shape().ToString();
  if (out_count == 0) return Status::Ok();
  // A mean divides by the LOGICAL count, so pieces split along a reduced axis add up to the mean.
  double scale = 1.0;
  if (kind == ReduceKind::kMean) {
    const Shape& logical = ctx.inputs[0].logical_shape;
    OFL_CHECK_OR_RETURN(logical.rank() == x.shape().rank())
        << "[" << ctx.op_name << "] cuda kernel: expected a logical shape of rank " << x.shape().rank()
        << ", got " << logical.ToString();
    int64_t count = 1;
    for (int axis : axes) count *= logical[axis];
    scale = 1.0 / static_cast<double>(count);
  }
  if (kind == ReduceKind::kMax) {
    Status status = Status::Ok();
    OFL_RETURN_IF_ERROR(CudaDispatchOr(ctx, ReduceNumericTypes{}, x.dtype(), [&](auto tag) {
      using D = CudaStorage<decltype(tag)>;
      using Acc = MaxAcc<D>;
      Acc identity;
      if constexpr (std::numeric_limits<Acc>::has_infinity) {
        identity = -std::numeric_limits<Acc>::infinity();
      } else {
        identity = std::numeric_limits<Acc>::lowest();
      }
      StoreStatus(status,
                  LaunchReduce<D, Acc, true>(ctx, *stream, x.As<D>(), x.shape(), axes, y.As<D>(), out_count,
                                             ReduceSpec<D, Acc, true>{identity, Acc(1), false}));
    }));
    return status;
  }
  Status status = Status::Ok();
  const auto list_status = [&](auto list) {
    return CudaDispatchOr(ctx, list, x.dtype(), [&](auto tag) {
      using D = CudaStorage<decltype(tag)>;
      using Acc = SumAcc<D>;
      StoreStatus(status,
                  LaunchReduce<D, Acc, false>(
                      ctx, *stream, x.As<D>(), x.shape(), axes, y.As<D>(), out_count,
                      ReduceSpec<D, Acc, false>{Acc(0), static_cast<Acc>(scale), kind == ReduceKind::kMean}));
    });
  };
  if (kind == ReduceKind::kMean) {
    OFL_RETURN_IF_ERROR(list_status(ReduceFloatTypes{}));
  } else {
    OFL_RETURN_IF_ERROR(list_status(ReduceNumericTypes{}));
  }
  return status;
}

// The output element that input element i (row-major over dims) reduces into.
__device__ __forceinline__ int64_t OutputOf(int64_t i, const CudaDims& dims, const CudaDims& out_strides) {
  int64_t o = 0;
  for (int axis = dims.rank - 1; axis >= 0; --axis) {
    o += (i % dims.d[axis]) * out_strides.d[axis];
    i /= dims.d[axis];
  }
  return o;
}

template <typename D>
Status LaunchReduceMaxGrad(const KernelContext& ctx, cudaStream_t native, const D* xs, const D* ys,
                           const D* dys, D* dxs, int64_t count, CudaDims dims, CudaDims out_strides,
                           unsigned long long* ties) {
  using C = MaxAcc<D>;
  OFL_RETURN_IF_ERROR(CudaForEach(ctx, native, count, [=] __device__(int64_t i) {
    const int64_t o = OutputOf(i, dims, out_strides);
    if (ToCudaCompute<C>(xs[i]) == ToCudaCompute<C>(ys[o])) atomicAdd(ties + o, 1ull);
  }));
  return CudaForEach(ctx, native, count, [=] __device__(int64_t i) {
    const int64_t o = OutputOf(i, dims, out_strides);
    const bool wins = ToCudaCompute<C>(xs[i]) == ToCudaCompute<C>(ys[o]);
    // wins implies ties[o] >= 1 (this element was counted).
    dxs[i] =
        wins ? FromCudaCompute<D>(ToCudaCompute<C>(dys[o]) / static_cast<C>(static_cast<int64_t>(ties[o])))
             : FromCudaCompute<D>(C(0));
  });
}

// reduce_max_grad: dx[i] = dy[o] / ties[o] where x[i] == y[o], else 0, o the
// output element x[i] reduces into (out_strides: stride of each x axis in the
// output, 0 on reduced axes). Ties are counted first with integer atomics,
// an order-independent count, so the result equals the CPU's.
Status RunReduceMaxGrad(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  const Blob& x = ctx.in(0);
  const Blob& y = ctx.in(1);
  const Blob& dy = ctx.in(2);
  const Blob& dx = ctx.out(0);
  const Shape& shape = x.shape();
  OFL_ASSIGN_OR_RETURN(std::vector<int> axes, ReduceMaxGradAxes(ctx, "cuda"));
  const int64_t kept = ReduceKeptCount(shape, axes);
  const int64_t count = shape.NumElements();
  if (count == 0) return Status::Ok();
  // Over the merged runs of axes (extent-1 axes dropped), so ranks above 8
  // work as long as at most 8 runs remain; out_strides is 0 on reduced runs.
  const std::vector<ReduceRun> runs = ReduceRuns(shape, axes);
  OFL_CHECK_OR_RETURN(runs.size() <= 8)
      << "[" << ctx.op_name << "] cuda kernel: expected at most 8 runs of reduced and kept axes, got "
      << shape.ToString();
  CudaDims dims, out_strides;
  dims.rank = out_strides.rank = static_cast<int>(runs.size());
  int64_t stride = 1;
  for (int k = dims.rank - 1; k >= 0; --k) {
    dims.d[k] = runs[k].extent;
    out_strides.d[k] = runs[k].reduced ? 0 : stride;
    if (!runs[k].reduced) stride *= runs[k].extent;
  }
  const size_t tie_bytes = static_cast<size_t>(kept) * sizeof(unsigned long long);
  OFL_CHECK_OR_RETURN(tie_bytes <= stream->workspace_bytes())
      << "[" << ctx.op_name << "] cuda kernel: needs " << tie_bytes
      << " bytes of stream workspace for tie counts, the stream has " << stream->workspace_bytes();
  auto* ties = static_cast<unsigned long long*>(stream->workspace());
  cudaStream_t native = stream->native();
  OFL_RETURN_IF_ERROR(
      CudaStatus(cudaMemsetAsync(ties, 0, tie_bytes, native), "[" + ctx.op_name + "] memset"));
  Status status = Status::Ok();
  OFL_RETURN_IF_ERROR(CudaDispatchOr(ctx, ReduceNumericTypes{}, x.dtype(), [&](auto tag) {
    using D = CudaStorage<decltype(tag)>;
    StoreStatus(status, LaunchReduceMaxGrad<D>(ctx, native, x.As<D>(), y.As<D>(), dy.As<D>(), dx.As<D>(),
                                               count, dims, out_strides, ties));
  }));
  return status;
}

}  // namespace

Status RegisterReduceCudaKernels(KernelRegistry& kernels) {
  // Same dtypes as the CPU: sum and max over floats and int32/int64, mean over floats.
  for (ReduceKind kind : {ReduceKind::kSum, ReduceKind::kMean, ReduceKind::kMax}) {
    auto compute = [kind](KernelContext& ctx) { return RunReduce(ctx, kind); };
    if (kind == ReduceKind::kMean) {
      OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, ReduceOpName(kind), ReduceFloatTypes{}, compute));
    } else {
      OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, ReduceOpName(kind), ReduceNumericTypes{}, compute));
    }
  }
  return RegisterCudaKernel(kernels, "reduce_max_grad", ReduceNumericTypes{}, RunReduceMaxGrad);
}

}  // namespace ofl

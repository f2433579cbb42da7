// CUDA kernels of softmax, log_softmax, causal_softmax and their backward
// ops. They mirror the CPU loops (softmax_loops.cc, causal_softmax.cc):
// subtract the NaN-skipping row maximum, sum exponentials in the compute type
// (float for f16/bf16), and write y = exp(x - max) / sum or x - (max + log sum).
// Over the last axis each row is served by the row engine (cuda_rows.cuh);
// over another axis one thread walks each line, neighbouring threads taking
// neighbouring lines so every step reads contiguous memory.
#include <cmath>

#include "ops/common/cuda_helpers.cuh"
#include "ops/common/cuda_reduce.cuh"
#include "ops/common/cuda_rows.cuh"
#include "ops/cuda_kernels.h"
#include "ops/softmax/causal_mask.h"

namespace ofl {

namespace {

template <typename C>
__device__ __forceinline__ C NegativeInfinity() {
  return -static_cast<C>(INFINITY);
}

// ---- softmax / log_softmax over the last axis ---------------------------------

// Row r of a [rows, cols] problem: softmax (kLog: log_softmax) of the whole
// row, or with kCausal the causal_softmax of scale * x under `mask`
// (causal_mask.h, the CPU's rule); both through SoftmaxRow.
template <typename D, int kVec, int kChunks, bool kWarp, bool kLog, bool kCausal>
__global__ void __launch_bounds__(kWarp ? kRowWarpBlockThreads : kRowBlockThreads)
    SoftmaxRowsKernel(const D* x, D* y, int64_t rows, int64_t cols, CausalMask mask, CudaCompute<D> scale) {
  using C = CudaCompute<D>;
  const RowGroup group = RowGroupOf<kWarp>();
  for (int64_t r = group.first; r < rows; r += group.step) {
    RowCache<D, C, kVec, kChunks> xs{x + r * cols};
    xs.Load(group, cols);
    const int64_t visible = kCausal ? mask.VisibleKeys(r) : cols;
    SoftmaxRow<kLog, kWarp>(group, xs, cols, visible, scale, y + r * cols);
  }
}

// One thread per line of `extent` elements `inner` apart (axis not last).
template <typename D, bool kLog>
__global__ void SoftmaxLinesKernel(const D* x, D* y, int64_t outer, int64_t extent, int64_t inner) {
  using C = CudaCompute<D>;
  const int64_t lines = outer * inner;
  for (int64_t line = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; line < lines;
       line += int64_t{gridDim.x} * blockDim.x) {
    const int64_t base = (line / inner) * extent * inner + line % inner;
    const D* xl = x + base;
    D* yl = y + base;
    C max = NegativeInfinity<C>();
    for (int64_t j = 0; j < extent; ++j) max = CudaNanSkippingMaxOp{}(max, ToCudaCompute<C>(xl[j * inner]));
    C sum = 0;
    for (int64_t j = 0; j < extent; ++j) sum += exp(ToCudaCompute<C>(xl[j * inner]) - max);
    const C shift = max + log(sum);
    const C inverse = C(1) / sum;
    for (int64_t j = 0; j < extent; ++j) {
      const C value = ToCudaCompute<C>(xl[j * inner]);
      yl[j * inner] = FromCudaCompute<D>(kLog ? value - shift : exp(value - max) * inverse);
    }
  }
}

// ---- softmax_grad / log_softmax_grad --------------------------------------------

// softmax_grad: total = sum(dy * y), dx = scale * y * (dy - total), scale
// being 1 except for causal_softmax_grad (its masked places have y == 0, so
// they get dx == 0 without the mask); log_softmax_grad: total = sum(dy),
// dx = dy - exp(y) * total (scale unused).
template <typename C, bool kLog>
__device__ __forceinline__ C GradTerm(C y, C dy) {
  if constexpr (kLog) {
    return dy;
  } else {
    return dy * y;
  }
}
template <typename C, bool kLog>
__device__ __forceinline__ C GradOf(C y, C dy, C total, C scale) {
  if constexpr (kLog) {
    return dy - exp(y) * total;
  } else {
    return scale * y * (dy - total);  // (1 * y) == y exactly: the plain softmax_grad
  }
}

template <typename D, int kVec, int kChunks, bool kWarp, bool kLog>
__global__ void __launch_bounds__(kWarp ? kRowWarpBlockThreads : kRowBlockThreads)
    SoftmaxGradRowsKernel(const D* y, const D* dy, D* dx, int64_t rows, int64_t cols, CudaCompute<D> scale) {
  using C = CudaCompute<D>;
  const RowGroup group = RowGroupOf<kWarp>();
  for (int64_t r = group.first; r < rows; r += group.step) {
    RowCache<D, C, kVec, kChunks> ys{y + r * cols};
    RowCache<D, C, kVec, kChunks> dys{dy + r * cols};
    ys.Load(group, cols);
    dys.Load(group, cols);
    C total = 0;
    ForEachChunk<kVec, kChunks>(group, cols, [&](int c, int64_t base) {
      C yv[kVec], dyv[kVec];
      ys.Fetch(c, base, yv);
      dys.Fetch(c, base, dyv);
#pragma unroll
      for (int v = 0; v < kVec; ++v) total += GradTerm<C, kLog>(yv[v], dyv[v]);
    });
    total = GroupReduce<kWarp>(total, CudaSumOp{}, C(0));
    D* dxr = dx + r * cols;
    ForEachChunk<kVec, kChunks>(group, cols, [&](int c, int64_t base) {
      C yv[kVec], dyv[kVec];
      ys.Fetch(c, base, yv);
      dys.Fetch(c, base, dyv);
#pragma unroll
      for (int v = 0; v < kVec; ++v) yv[v] = GradOf<C, kLog>(yv[v], dyv[v], total, scale);
      StorePack<kVec>(dxr + base, yv);
    });
  }
}

template <typename D, bool kLog>
__global__ void SoftmaxGradLinesKernel(const D* y, const D* dy, D* dx, int64_t outer, int64_t extent,
                                       int64_t inner) {
  using C = CudaCompute<D>;
  const int64_t lines = outer * inner;
  for (int64_t line = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; line < lines;
       line += int64_t{gridDim.x} * blockDim.x) {
    const int64_t base = (line / inner) * extent * inner + line % inner;
    C total = 0;
    for (int64_t j = 0; j < extent; ++j) {
      const int64_t at = base + j * inner;
      total += GradTerm<C, kLog>(ToCudaCompute<C>(y[at]), ToCudaCompute<C>(dy[at]));
    }
    for (int64_t j = 0; j < extent; ++j) {
      const int64_t at = base + j * inner;
      dx[at] =
          FromCudaCompute<D>(GradOf<C, kLog>(ToCudaCompute<C>(y[at]), ToCudaCompute<C>(dy[at]), total, C(1)));
    }
  }
}

// ---- host side ------------------------------------------------------------------------

struct AxisSplit {
  int64_t outer = 1;
  int64_t extent = 1;
  int64_t inner = 1;
};

StatusOr<AxisSplit> AxisSplitOf(const KernelContext& ctx) {
  const Shape& shape = ctx.in(0).shape();
  OFL_ASSIGN_OR_RETURN(const int axis, NormalizeAxis("[" + ctx.op_name + "] attribute axis",
                                                     ctx.attr().GetInt("axis"), shape.rank()));
  AxisSplit split;
  for (int k = 0; k < axis; ++k) split.outer *= shape[k];
  split.extent = shape[axis];
  for (int k = axis + 1; k < shape.rank(); ++k) split.inner *= shape[k];
  return split;
}

// Launches SoftmaxRowsKernel over [rows, cols] (rows > 0) on the row engine.
template <bool kLog, bool kCausal, typename D>
void LaunchSoftmaxRows(cudaStream_t native, const D* x, D* y, int64_t rows, int64_t cols,
                       const CausalMask& mask, CudaCompute<D> scale) {
  DispatchRowShape<D>(ChooseRowShape<D>(cols, AllAlignedTo16({x, y})), rows,
                      [&](auto vec, auto chunks, auto warp, dim3 grid, dim3 block) {
                        SoftmaxRowsKernel<D, decltype(vec)::value, decltype(chunks)::value,
                                          decltype(warp)::value, kLog, kCausal>
                            <<<grid, block, 0, native>>>(x, y, rows, cols, mask, scale);
                      });
}

// Launches SoftmaxGradRowsKernel over [rows, cols] (rows > 0) on the row engine.
template <bool kLog, typename D>
void LaunchSoftmaxGradRows(cudaStream_t native, const D* y, const D* dy, D* dx, int64_t rows, int64_t cols,
                           CudaCompute<D> scale) {
  DispatchRowShape<D>(
      ChooseRowShape<D>(cols, AllAlignedTo16({y, dy, dx})), rows,
      [&](auto vec, auto chunks, auto warp, dim3 grid, dim3 block) {
        SoftmaxGradRowsKernel<D, decltype(vec)::value, decltype(chunks)::value, decltype(warp)::value, kLog>
            <<<grid, block, 0, native>>>(y, dy, dx, rows, cols, scale);
      });
}

template <bool kLog>
Status RunSoftmax(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  OFL_ASSIGN_OR_RETURN(const AxisSplit split, AxisSplitOf(ctx));
  if (split.extent == 0 || split.outer * split.inner == 0) return Status::Ok();
  OFL_RETURN_IF_ERROR(CudaDispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
    using D = CudaStorage<decltype(tag)>;
    using C = CudaCompute<D>;
    const D* x = ctx.in(0).As<D>();
    D* y = ctx.out(0).As<D>();
    if (split.inner != 1) {
      const int64_t lines = split.outer * split.inner;
      SoftmaxLinesKernel<D, kLog><<<CudaGridFor(lines), kCudaBlock, 0, stream->native()>>>(
          x, y, split.outer, split.extent, split.inner);
      return;
    }
    LaunchSoftmaxRows<kLog, false>(stream->native(), x, y, split.outer, split.extent, CausalMask{}, C(1));
  }));
  return CudaLaunchStatus(ctx);
}

template <bool kLog>
Status RunSoftmaxGrad(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  OFL_ASSIGN_OR_RETURN(const AxisSplit split, AxisSplitOf(ctx));
  if (split.extent == 0 || split.outer * split.inner == 0) return Status::Ok();
  OFL_RETURN_IF_ERROR(CudaDispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
    using D = CudaStorage<decltype(tag)>;
    using C = CudaCompute<D>;
    const D* y = ctx.in(0).As<D>();
    const D* dy = ctx.in(1).As<D>();
    D* dx = ctx.out(0).As<D>();
    if (split.inner != 1) {
      const int64_t lines = split.outer * split.inner;
      SoftmaxGradLinesKernel<D, kLog><<<CudaGridFor(lines), kCudaBlock, 0, stream->native()>>>(
          y, dy, dx, split.outer, split.extent, split.inner);
      return;
    }
    LaunchSoftmaxGradRows<kLog>(stream->native(), y, dy, dx, split.outer, split.extent, C(1));
  }));
  return CudaLaunchStatus(ctx);
}

Status RunCausalSoftmax(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  OFL_ASSIGN_OR_RETURN(const CausalMask mask, CausalMaskOf(ctx));
  const double scale = ctx.attr().GetFloat("scale");
  if (mask.tk == 0 || mask.local_tq == 0 || ctx.in(0).NumElements() == 0) return Status::Ok();
  const int64_t rows = ctx.in(0).NumElements() / mask.tk;
  OFL_RETURN_IF_ERROR(CudaDispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
    using D = CudaStorage<decltype(tag)>;
    using C = CudaCompute<D>;
    LaunchSoftmaxRows<false, true>(stream->native(), ctx.in(0).As<D>(), ctx.out(0).As<D>(), rows, mask.tk,
                                   mask, static_cast<C>(scale));
  }));
  return CudaLaunchStatus(ctx);
}

// dx = scale * y * (dy - sum_j dy_j y_j): the softmax_grad rows with a scale.
Status RunCausalSoftmaxGrad(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  const Shape& shape = ctx.in(0).shape();
  OFL_CHECK_OR_RETURN(shape.rank() >= 2)
      << "[" << ctx.op_name << "] y: expected rank >= 2, got " << shape.ToString();
  const int64_t tk = shape[shape.rank() - 1];
  if (tk == 0 || shape.NumElements() == 0) return Status::Ok();
  const int64_t rows = shape.NumElements() / tk;
  const double scale = ctx.attr().GetFloat("scale");
  OFL_RETURN_IF_ERROR(CudaDispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
    using D = CudaStorage<decltype(tag)>;
    using C = CudaCompute<D>;
    LaunchSoftmaxGradRows<false>(stream->native(), ctx.in(0).As<D>(), ctx.in(1).As<D>(), ctx.out(0).As<D>(),
                                 rows, tk, static_cast<C>(scale));
  }));
  return CudaLaunchStatus(ctx);
}

}  // namespace

Status RegisterSoftmaxCudaKernels(KernelRegistry& kernels) {
  // Every op registers the four float dtypes on the CPU (softmax_ops.cc,
  // causal_softmax.cc: f32 softmax_grad there runs oneDNN, the rest loops).
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "softmax", FloatTypes{}, RunSoftmax<false>));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "log_softmax", FloatTypes{}, RunSoftmax<true>));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "softmax_grad", FloatTypes{}, RunSoftmaxGrad<false>));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "log_softmax_grad", FloatTypes{}, RunSoftmaxGrad<true>));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "causal_softmax", FloatTypes{}, RunCausalSoftmax));
  return RegisterCudaKernel(kernels, "causal_softmax_grad", FloatTypes{}, RunCausalSoftmaxGrad);
}

}  // namespace ofl

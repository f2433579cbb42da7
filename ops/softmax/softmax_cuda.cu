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

namespace ofl {

namespace {

template <typename C>
__device__ __forceinline__ C NegativeInfinity() {
  return -static_cast<C>(INFINITY);
}

// ---- softmax / log_softmax over the last axis ---------------------------------

template <typename D, int kVec, int kChunks, bool kWarp, bool kLog>
__global__ void __launch_bounds__(kWarp ? kRowWarpBlockThreads : kRowBlockThreads)
    SoftmaxRowsKernel(const D* x, D* y, int64_t rows, int64_t cols) {
  using C = CudaCompute<D>;
  const RowGroup group = RowGroupOf<kWarp>();
  for (int64_t r = group.first; r < rows; r += group.step) {
    RowCache<D, C, kVec, kChunks> xs{x + r * cols};
    xs.Load(group, cols);
    C max = NegativeInfinity<C>();
    ForEachChunk<kVec, kChunks>(group, cols, [&](int c, int64_t base) {
      C values[kVec];
      xs.Fetch(c, base, values);
#pragma unroll
      for (int v = 0; v < kVec; ++v) max = CudaNanSkippingMaxOp{}(max, values[v]);
    });
    max = GroupReduce<kWarp>(max, CudaNanSkippingMaxOp{}, NegativeInfinity<C>());
    C sum = 0;
    ForEachChunk<kVec, kChunks>(group, cols, [&](int c, int64_t base) {
      C values[kVec];
      xs.Fetch(c, base, values);
#pragma unroll
      for (int v = 0; v < kVec; ++v) sum += exp(values[v] - max);
    });
    sum = GroupReduce<kWarp>(sum, CudaSumOp{}, C(0));
    const C shift = max + log(sum);
    const C inverse = C(1) / sum;
    D* yr = y + r * cols;
    ForEachChunk<kVec, kChunks>(group, cols, [&](int c, int64_t base) {
      C values[kVec];
      xs.Fetch(c, base, values);
#pragma unroll
      for (int v = 0; v < kVec; ++v) values[v] = kLog ? values[v] - shift : exp(values[v] - max) * inverse;
      StorePack<kVec>(yr + base, values);
    });
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

// softmax_grad: total = sum(dy * y), dx = y * (dy - total);
// log_softmax_grad: total = sum(dy), dx = dy - exp(y) * total.
template <typename C, bool kLog>
__device__ __forceinline__ C GradTerm(C y, C dy) {
  if constexpr (kLog) {
    return dy;
  } else {
    return dy * y;
  }
}
template <typename C, bool kLog>
__device__ __forceinline__ C GradOf(C y, C dy, C total) {
  if constexpr (kLog) {
    return dy - exp(y) * total;
  } else {
    return y * (dy - total);
  }
}

template <typename D, int kVec, int kChunks, bool kWarp, bool kLog>
__global__ void __launch_bounds__(kWarp ? kRowWarpBlockThreads : kRowBlockThreads)
    SoftmaxGradRowsKernel(const D* y, const D* dy, D* dx, int64_t rows, int64_t cols) {
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
      for (int v = 0; v < kVec; ++v) yv[v] = GradOf<C, kLog>(yv[v], dyv[v], total);
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
      dx[at] = FromCudaCompute<D>(GradOf<C, kLog>(ToCudaCompute<C>(y[at]), ToCudaCompute<C>(dy[at]), total));
    }
  }
}

// ---- causal_softmax ------------------------------------------------------------------

// Row r is query row_offset + r % local_tq of the LOGICAL tensor; it sees
// keys j < visible = clamp(query + visible_shift + 1, 0, tk) and gets 0 at
// the others (causal_softmax.cc).
template <typename D, int kVec, int kChunks, bool kWarp>
__global__ void __launch_bounds__(kWarp ? kRowWarpBlockThreads : kRowBlockThreads)
    CausalSoftmaxKernel(const D* x, D* y, int64_t rows, int64_t tk, int64_t local_tq, int64_t row_offset,
                        int64_t visible_shift, CudaCompute<D> scale) {
  using C = CudaCompute<D>;
  const RowGroup group = RowGroupOf<kWarp>();
  for (int64_t r = group.first; r < rows; r += group.step) {
    const int64_t query = row_offset + r % local_tq;
    int64_t visible = query + visible_shift + 1;
    visible = visible < 0 ? 0 : (visible > tk ? tk : visible);
    RowCache<D, C, kVec, kChunks> xs{x + r * tk};
    xs.Load(group, tk);
    C max = NegativeInfinity<C>();
    ForEachChunk<kVec, kChunks>(group, tk, [&](int c, int64_t base) {
      C values[kVec];
      xs.Fetch(c, base, values);
#pragma unroll
      for (int v = 0; v < kVec; ++v) {
        if (base + v < visible) max = CudaNanSkippingMaxOp{}(max, scale * values[v]);
      }
    });
    max = GroupReduce<kWarp>(max, CudaNanSkippingMaxOp{}, NegativeInfinity<C>());
    C sum = 0;
    ForEachChunk<kVec, kChunks>(group, tk, [&](int c, int64_t base) {
      C values[kVec];
      xs.Fetch(c, base, values);
#pragma unroll
      for (int v = 0; v < kVec; ++v) {
        if (base + v < visible) sum += exp(scale * values[v] - max);
      }
    });
    sum = GroupReduce<kWarp>(sum, CudaSumOp{}, C(0));
    const C inverse = C(1) / sum;
    D* yr = y + r * tk;
    ForEachChunk<kVec, kChunks>(group, tk, [&](int c, int64_t base) {
      C values[kVec];
      xs.Fetch(c, base, values);
#pragma unroll
      for (int v = 0; v < kVec; ++v)
        values[v] = base + v < visible ? exp(scale * values[v] - max) * inverse : C(0);
      StorePack<kVec>(yr + base, values);
    });
  }
}

// dx = scale * y * (dy - sum_j dy_j y_j); masked places have y == 0.
template <typename D, int kVec, int kChunks, bool kWarp>
__global__ void __launch_bounds__(kWarp ? kRowWarpBlockThreads : kRowBlockThreads)
    CausalSoftmaxGradKernel(const D* y, const D* dy, D* dx, int64_t rows, int64_t tk, CudaCompute<D> scale) {
  using C = CudaCompute<D>;
  const RowGroup group = RowGroupOf<kWarp>();
  for (int64_t r = group.first; r < rows; r += group.step) {
    RowCache<D, C, kVec, kChunks> ys{y + r * tk};
    RowCache<D, C, kVec, kChunks> dys{dy + r * tk};
    ys.Load(group, tk);
    dys.Load(group, tk);
    C dot = 0;
    ForEachChunk<kVec, kChunks>(group, tk, [&](int c, int64_t base) {
      C yv[kVec], dyv[kVec];
      ys.Fetch(c, base, yv);
      dys.Fetch(c, base, dyv);
#pragma unroll
      for (int v = 0; v < kVec; ++v) dot += dyv[v] * yv[v];
    });
    dot = GroupReduce<kWarp>(dot, CudaSumOp{}, C(0));
    D* dxr = dx + r * tk;
    ForEachChunk<kVec, kChunks>(group, tk, [&](int c, int64_t base) {
      C yv[kVec], dyv[kVec];
      ys.Fetch(c, base, yv);
      dys.Fetch(c, base, dyv);
#pragma unroll
      for (int v = 0; v < kVec; ++v) yv[v] = scale * yv[v] * (dyv[v] - dot);
      StorePack<kVec>(dxr + base, yv);
    });
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

bool AllAligned(std::initializer_list<const void*> pointers) {
  for (const void* pointer : pointers) {
    if (!IsAlignedTo(pointer, 16)) return false;
  }
  return true;
}

template <bool kLog>
Status RunSoftmax(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  OFL_ASSIGN_OR_RETURN(const AxisSplit split, AxisSplitOf(ctx));
  if (split.extent == 0 || split.outer * split.inner == 0) return Status::Ok();
  OFL_RETURN_IF_ERROR(CudaDispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
    using D = CudaStorage<decltype(tag)>;
    const D* x = ctx.in(0).As<D>();
    D* y = ctx.out(0).As<D>();
    if (split.inner != 1) {
      const int64_t lines = split.outer * split.inner;
      SoftmaxLinesKernel<D, kLog><<<CudaGridFor(lines), kCudaBlock, 0, stream->native()>>>(
          x, y, split.outer, split.extent, split.inner);
      return;
    }
    const int64_t rows = split.outer, cols = split.extent;
    DispatchRowShape<D>(
        ChooseRowShape<D>(cols, AllAligned({x, y})), rows,
        [&](auto vec, auto chunks, auto warp, dim3 grid, dim3 block) {
          SoftmaxRowsKernel<D, decltype(vec)::value, decltype(chunks)::value, decltype(warp)::value, kLog>
              <<<grid, block, 0, stream->native()>>>(x, y, rows, cols);
        });
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
    const D* y = ctx.in(0).As<D>();
    const D* dy = ctx.in(1).As<D>();
    D* dx = ctx.out(0).As<D>();
    if (split.inner != 1) {
      const int64_t lines = split.outer * split.inner;
      SoftmaxGradLinesKernel<D, kLog><<<CudaGridFor(lines), kCudaBlock, 0, stream->native()>>>(
          y, dy, dx, split.outer, split.extent, split.inner);
      return;
    }
    const int64_t rows = split.outer, cols = split.extent;
    DispatchRowShape<D>(
        ChooseRowShape<D>(cols, AllAligned({y, dy, dx})), rows,
        [&](auto vec, auto chunks, auto warp, dim3 grid, dim3 block) {
          SoftmaxGradRowsKernel<D, decltype(vec)::value, decltype(chunks)::value, decltype(warp)::value, kLog>
              <<<grid, block, 0, stream->native()>>>(y, dy, dx, rows, cols);
        });
  }));
  return CudaLaunchStatus(ctx);
}

Status RunCausalSoftmax(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  const TensorArg& x_arg = ctx.inputs[0];
  const Shape& shape = x_arg.blob.shape();
  const int rank = shape.rank();
  OFL_CHECK_OR_RETURN(rank >= 2 && x_arg.logical_shape.rank() == rank)
      << "[" << ctx.op_name << "] x: expected a piece and logical shape of the same rank >= 2, got "
      << shape.ToString() << " of " << x_arg.logical_shape.ToString();
  const int64_t tk = shape[rank - 1];
  const int64_t local_tq = shape[rank - 2];
  OFL_CHECK_OR_RETURN(tk == x_arg.logical_shape[rank - 1])
      << "[" << ctx.op_name << "] x: expected the key axis whole on each device ("
      << x_arg.logical_shape[rank - 1] << " keys), got a piece with " << tk;
  const int64_t row_offset = x_arg.offset.empty() ? 0 : x_arg.offset[rank - 2];
  const int64_t visible_shift = x_arg.logical_shape[rank - 1] - x_arg.logical_shape[rank - 2];
  const double scale = ctx.attr().GetFloat("scale");
  if (tk == 0 || local_tq == 0 || shape.NumElements() == 0) return Status::Ok();
  const int64_t rows = shape.NumElements() / tk;
  OFL_RETURN_IF_ERROR(CudaDispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
    using D = CudaStorage<decltype(tag)>;
    using C = CudaCompute<D>;
    const D* x = ctx.in(0).As<D>();
    D* y = ctx.out(0).As<D>();
    DispatchRowShape<D>(
        ChooseRowShape<D>(tk, AllAligned({x, y})), rows,
        [&](auto vec, auto chunks, auto warp, dim3 grid, dim3 block) {
          CausalSoftmaxKernel<D, decltype(vec)::value, decltype(chunks)::value, decltype(warp)::value>
              <<<grid, block, 0, stream->native()>>>(x, y, rows, tk, local_tq, row_offset, visible_shift,
                                                     static_cast<C>(scale));
        });
  }));
  return CudaLaunchStatus(ctx);
}

Status RunCausalSoftmaxGrad(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  const Shape& shape = ctx.in(0).shape();
  OFL_CHECK_OR_RETURN(shape.rank() >= 1) << "[" << ctx.op_name << "] y: expected rank >= 2, got a scalar";
  const int64_t tk = shape[shape.rank() - 1];
  if (tk == 0 || shape.NumElements() == 0) return Status::Ok();
  const int64_t rows = shape.NumElements() / tk;
  const double scale = ctx.attr().GetFloat("scale");
  OFL_RETURN_IF_ERROR(CudaDispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
    using D = CudaStorage<decltype(tag)>;
    using C = CudaCompute<D>;
    const D* y = ctx.in(0).As<D>();
    const D* dy = ctx.in(1).As<D>();
    D* dx = ctx.out(0).As<D>();
    DispatchRowShape<D>(
        ChooseRowShape<D>(tk, AllAligned({y, dy, dx})), rows,
        [&](auto vec, auto chunks, auto warp, dim3 grid, dim3 block) {
          CausalSoftmaxGradKernel<D, decltype(vec)::value, decltype(chunks)::value, decltype(warp)::value>
              <<<grid, block, 0, stream->native()>>>(y, dy, dx, rows, tk, static_cast<C>(scale));
        });
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

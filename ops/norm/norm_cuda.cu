// CUDA kernels of layer_norm, rms_norm and their backward ops, mirroring the
// CPU loops (layer_norm_loops.cc, rms_norm.cc) formula for formula: the
// two-pass mean / biased variance, statistics saved in the tensor's dtype,
// math in the compute type (float for f16/bf16). Row ops run on the row
// engine (cuda_rows.cuh); the parameter gradients are column sums over rows
// in two stages: blocks of 32 columns x 8 row lanes each sum one part of the
// rows into a partial row (stream workspace), and a second kernel adds the
// partial rows in part order.
#include <algorithm>
#include <cmath>

#include "ops/common/cuda_helpers.cuh"
#include "ops/common/cuda_reduce.cuh"
#include "ops/common/cuda_rows.cuh"
#include "ops/cuda_kernels.h"
#include "ops/norm/norm_common.h"

namespace ofl {

namespace {

// ---- layer_norm and rms_norm rows --------------------------------------------------

// kLayerNorm (layer_norm, layer_norm_loops.cc): mean, biased variance of the
// centred row, inv_std = 1 / sqrt(variance + epsilon),
// y = (x - mean) * inv_std * gamma + beta; saves mean and inv_std.
// Otherwise (rms_norm, rms_norm.cc): inv_rms = 1 / sqrt(mean(x^2) + epsilon),
// y = x * inv_rms * gamma (the weight); beta and mean_out unused; inv_rms
// saved in inv_std_out.
template <typename D, int kVec, int kChunks, bool kWarp, bool kLayerNorm>
__global__ void __launch_bounds__(kWarp ? kRowWarpBlockThreads : kRowBlockThreads)
    NormKernel(const D* x, const D* gamma, const D* beta, D* y, D* mean_out, D* inv_std_out, int64_t rows,
               int64_t cols, CudaCompute<D> epsilon) {
  using C = CudaCompute<D>;
  const RowGroup group = RowGroupOf<kWarp>();
  const C count = static_cast<C>(cols);
  for (int64_t r = group.first; r < rows; r += group.step) {
    RowCache<D, C, kVec, kChunks> xs{x + r * cols};
    xs.Load(group, cols);
    C mean = 0;
    if constexpr (kLayerNorm) {
      C sum = 0;
      ForEachChunk<kVec, kChunks>(group, cols, [&](int c, int64_t base) {
        C values[kVec];
        xs.Fetch(c, base, values);
#pragma unroll
        for (int v = 0; v < kVec; ++v) sum += values[v];
      });
      sum = GroupReduce<kWarp>(sum, CudaSumOp{}, C(0));
      mean = cols > 0 ? sum / count : C(0);
    }
    C squares = 0;
    ForEachChunk<kVec, kChunks>(group, cols, [&](int c, int64_t base) {
      C values[kVec];
      xs.Fetch(c, base, values);
#pragma unroll
      for (int v = 0; v < kVec; ++v) {
        const C centred = kLayerNorm ? values[v] - mean : values[v];
        squares += centred * centred;
      }
    });
    squares = GroupReduce<kWarp>(squares, CudaSumOp{}, C(0));
    const C variance = cols > 0 ? squares / count : C(0);  // rms_norm: the mean square
    const C inv_std = C(1) / sqrt(variance + epsilon);
    D* yr = y + r * cols;
    ForEachChunk<kVec, kChunks>(group, cols, [&](int c, int64_t base) {
      C values[kVec], g[kVec];
      xs.Fetch(c, base, values);
      LoadPack<kVec>(gamma + base, g);
      if constexpr (kLayerNorm) {
        C b[kVec];
        LoadPack<kVec>(beta + base, b);
#pragma unroll
        for (int v = 0; v < kVec; ++v) values[v] = (values[v] - mean) * inv_std * g[v] + b[v];
      } else {
#pragma unroll
        for (int v = 0; v < kVec; ++v) values[v] = values[v] * inv_std * g[v];
      }
      StorePack<kVec>(yr + base, values);
    });
    if (group.tid == 0) {
      if constexpr (kLayerNorm) mean_out[r] = FromCudaCompute<D>(mean);
      inv_std_out[r] = FromCudaCompute<D>(inv_std);
    }
  }
}

// With g = dy * gamma, per row (cols > 0):
// kLayerNorm: xhat = (x - mean) * inv_std, dx = inv_std * (g - mean(g) - xhat * mean(g * xhat));
// rms_norm: xhat = x * inv_rms, dx = inv_rms * (g - xhat * mean(g * xhat)), mean unused.
// mean(g * xhat) is taken as inv_std * sum(g * (x - mean)) / cols, as on the CPU.
template <typename D, int kVec, int kChunks, bool kWarp, bool kLayerNorm>
__global__ void __launch_bounds__(kWarp ? kRowWarpBlockThreads : kRowBlockThreads)
    NormGradKernel(const D* dy, const D* x, const D* mean, const D* inv_std, const D* gamma, D* dx,
                   int64_t rows, int64_t cols) {
  using C = CudaCompute<D>;
  const RowGroup group = RowGroupOf<kWarp>();
  const C count = static_cast<C>(cols);
  for (int64_t r = group.first; r < rows; r += group.step) {
    RowCache<D, C, kVec, kChunks> dys{dy + r * cols};
    RowCache<D, C, kVec, kChunks> xs{x + r * cols};
    dys.Load(group, cols);
    xs.Load(group, cols);
    const C m = kLayerNorm ? ToCudaCompute<C>(mean[r]) : C(0);
    const C s = ToCudaCompute<C>(inv_std[r]);
    C sum_g = 0, sum_g_centred = 0;
    ForEachChunk<kVec, kChunks>(group, cols, [&](int c, int64_t base) {
      C dyv[kVec], xv[kVec], gv[kVec];
      dys.Fetch(c, base, dyv);
      xs.Fetch(c, base, xv);
      LoadPack<kVec>(gamma + base, gv);
#pragma unroll
      for (int v = 0; v < kVec; ++v) {
        if constexpr (kLayerNorm) sum_g += dyv[v] * gv[v];
        sum_g_centred += dyv[v] * gv[v] * (kLayerNorm ? xv[v] - m : xv[v]);
      }
    });
    if constexpr (kLayerNorm) sum_g = GroupReduce<kWarp>(sum_g, CudaSumOp{}, C(0));
    sum_g_centred = GroupReduce<kWarp>(sum_g_centred, CudaSumOp{}, C(0));
    const C mean_g = sum_g / count;
    const C mean_g_xhat = sum_g_centred * s / count;
    D* dxr = dx + r * cols;
    ForEachChunk<kVec, kChunks>(group, cols, [&](int c, int64_t base) {
      C dyv[kVec], xv[kVec], gv[kVec];
      dys.Fetch(c, base, dyv);
      xs.Fetch(c, base, xv);
      LoadPack<kVec>(gamma + base, gv);
#pragma unroll
      for (int v = 0; v < kVec; ++v) {
        const C g = dyv[v] * gv[v];
        if constexpr (kLayerNorm) {
          const C xhat = (xv[v] - m) * s;
          xv[v] = s * (g - mean_g - xhat * mean_g_xhat);
        } else {
          const C xhat = xv[v] * s;
          xv[v] = s * (g - xhat * mean_g_xhat);
        }
      }
      StorePack<kVec>(dxr + base, xv);
    });
  }
}

// ---- parameter gradients: column sums over rows -------------------------------------

constexpr int kColumnTile = 32;  // columns per block (one per lane)
constexpr int kColumnLanes = 8;  // row lanes per block
constexpr int64_t kMaxRowParts = 64;

// Stage 1. Block (blockIdx.x, blockIdx.y = part) sums rows
// [rows * part / parts, rows * (part + 1) / parts) of columns
// [blockIdx.x * 32, + 32). kLayerNorm: sums[0] = dy * (x - mean) * inv_std,
// sums[1] = dy; else (rms_norm): sums[0] = dy * x * inv_rms (mean unused).
// With one part the sums go straight to the outputs; otherwise to
// partial[(part * K + k) * cols + j].
template <typename D, bool kLayerNorm>
__global__ void __launch_bounds__(kColumnTile* kColumnLanes)
    ColumnPartialsKernel(const D* dy, const D* x, const D* mean, const D* inv_std, int64_t rows, int64_t cols,
                         int64_t parts, CudaCompute<D>* partial, D* out0, D* out1) {
  using C = CudaCompute<D>;
  constexpr int K = kLayerNorm ? 2 : 1;
  __shared__ C tile[K][kColumnLanes][kColumnTile + 1];
  const int64_t j = static_cast<int64_t>(blockIdx.x) * kColumnTile + threadIdx.x;
  const int64_t part = blockIdx.y;
  const int64_t row_begin = rows * part / parts;
  const int64_t row_end = rows * (part + 1) / parts;
  C sums[K];
#pragma unroll
  for (int k = 0; k < K; ++k) sums[k] = 0;
  if (j < cols) {
    for (int64_t r = row_begin + threadIdx.y; r < row_end; r += kColumnLanes) {
      const C g = ToCudaCompute<C>(dy[r * cols + j]);
      const C value = ToCudaCompute<C>(x[r * cols + j]);
      const C s = ToCudaCompute<C>(inv_std[r]);
      if constexpr (kLayerNorm) {
        sums[0] += g * (value - ToCudaCompute<C>(mean[r])) * s;
        sums[1] += g;
      } else {
        sums[0] += g * value * s;
      }
    }
  }
#pragma unroll
  for (int k = 0; k < K; ++k) tile[k][threadIdx.y][threadIdx.x] = sums[k];
  __syncthreads();
  if (threadIdx.y != 0 || j >= cols) return;
  D* outs[2] = {out0, out1};
#pragma unroll
  for (int k = 0; k < K; ++k) {
    C total = 0;
    for (int lane = 0; lane < kColumnLanes; ++lane) total += tile[k][lane][threadIdx.x];
    if (parts == 1) {
      outs[k][j] = FromCudaCompute<D>(total);
    } else {
      partial[(part * K + k) * cols + j] = total;
    }
  }
}

// Stage 2: out_k[j] = sum over parts, in part order, of partial[(part * K + k) * cols + j].
template <typename D, int K>
__global__ void ColumnFinishKernel(const CudaCompute<D>* partial, int64_t cols, int64_t parts, D* out0,
                                   D* out1) {
  using C = CudaCompute<D>;
  for (int64_t j = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; j < cols;
       j += int64_t{gridDim.x} * blockDim.x) {
    D* outs[2] = {out0, out1};
#pragma unroll
    for (int k = 0; k < K; ++k) {
      C total = 0;
      for (int64_t part = 0; part < parts; ++part) total += partial[(part * K + k) * cols + j];
      outs[k][j] = FromCudaCompute<D>(total);
    }
  }
}

// ---- host side --------------------------------------------------------------------------

// The [rows, cols] view of input x_index: normalised over axes
// [begin_norm_axis, rank) for layer_norm ops, over the last axis for rms_norm ops.
template <bool kLayerNorm>
StatusOr<NormRows> NormRowsOf(const KernelContext& ctx, int x_index) {
  const Shape& shape = ctx.in(x_index).shape();
  if constexpr (kLayerNorm) {
    OFL_ASSIGN_OR_RETURN(const int begin, NormalizeAxis("[" + ctx.op_name + "] attribute begin_norm_axis",
                                                        ctx.attr().GetInt("begin_norm_axis"), shape.rank()));
    return NormRows::Of(shape, begin);
  } else {
    OFL_CHECK_OR_RETURN(shape.rank() >= 1) << "[" << ctx.op_name << "] x: expected rank >= 1, got a scalar";
    return NormRows::Of(shape, shape.rank() - 1);
  }
}

// layer_norm: x, gamma, beta -> y, mean, inv_std; rms_norm: x, weight -> y, inv_rms.
template <bool kLayerNorm>
Status RunNorm(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  OFL_ASSIGN_OR_RETURN(const NormRows view, NormRowsOf<kLayerNorm>(ctx, 0));
  // Rows of no elements still get their statistics (mean 0, 1 / sqrt(epsilon)), as on the CPU.
  if (view.rows == 0) return Status::Ok();
  const double epsilon = ctx.attr().GetFloat("epsilon");
  OFL_RETURN_IF_ERROR(CudaDispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
    using D = CudaStorage<decltype(tag)>;
    using C = CudaCompute<D>;
    const D* x = ctx.in(0).As<D>();
    const D* gamma = ctx.in(1).As<D>();
    const D* beta = kLayerNorm ? ctx.in(2).As<D>() : nullptr;
    D* y = ctx.out(0).As<D>();
    D* mean = kLayerNorm ? ctx.out(1).As<D>() : nullptr;
    D* inv_std = ctx.out(kLayerNorm ? 2 : 1).As<D>();
    DispatchRowShape<D>(
        ChooseRowShape<D>(view.cols, AllAlignedTo16({x, gamma, beta, y})), view.rows,
        [&](auto vec, auto chunks, auto warp, dim3 grid, dim3 block) {
          NormKernel<D, decltype(vec)::value, decltype(chunks)::value, decltype(warp)::value, kLayerNorm>
              <<<grid, block, 0, stream->native()>>>(x, gamma, beta, y, mean, inv_std, view.rows, view.cols,
                                                     static_cast<C>(epsilon));
        });
  }));
  return CudaLaunchStatus(ctx);
}

// layer_norm_grad: dy, x, mean, inv_std, gamma -> dx; rms_norm_grad: dy, x, inv_rms, weight -> dx.
template <bool kLayerNorm>
Status RunNormGrad(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  OFL_ASSIGN_OR_RETURN(const NormRows view, NormRowsOf<kLayerNorm>(ctx, 1));
  if (view.rows == 0 || view.cols == 0) return Status::Ok();
  OFL_RETURN_IF_ERROR(CudaDispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
    using D = CudaStorage<decltype(tag)>;
    const D* dy = ctx.in(0).As<D>();
    const D* x = ctx.in(1).As<D>();
    const D* mean = kLayerNorm ? ctx.in(2).As<D>() : nullptr;
    const D* inv_std = ctx.in(kLayerNorm ? 3 : 2).As<D>();
    const D* gamma = ctx.in(kLayerNorm ? 4 : 3).As<D>();
    D* dx = ctx.out(0).As<D>();
    DispatchRowShape<D>(
        ChooseRowShape<D>(view.cols, AllAlignedTo16({dy, x, gamma, dx})), view.rows,
        [&](auto vec, auto chunks, auto warp, dim3 grid, dim3 block) {
          NormGradKernel<D, decltype(vec)::value, decltype(chunks)::value, decltype(warp)::value, kLayerNorm>
              <<<grid, block, 0, stream->native()>>>(dy, x, mean, inv_std, gamma, dx, view.rows, view.cols);
        });
  }));
  return CudaLaunchStatus(ctx);
}

// Column sums of layer_norm_param_grad (kLayerNorm) or rms_norm_param_grad.
// Inputs: dy, x, [mean,] inv_std; outputs dgamma[, dbeta].
template <bool kLayerNorm>
Status RunParamGrad(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  OFL_ASSIGN_OR_RETURN(const NormRows view, NormRowsOf<kLayerNorm>(ctx, 1));
  if (view.cols == 0) return Status::Ok();
  constexpr int K = kLayerNorm ? 2 : 1;
  OFL_RETURN_IF_ERROR(CudaDispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
    using D = CudaStorage<decltype(tag)>;
    using C = CudaCompute<D>;
    const D* dy = ctx.in(0).As<D>();
    const D* x = ctx.in(1).As<D>();
    const D* mean = kLayerNorm ? ctx.in(2).As<D>() : nullptr;
    const D* inv_std = ctx.in(kLayerNorm ? 3 : 2).As<D>();
    D* out0 = ctx.out(0).As<D>();
    D* out1 = kLayerNorm ? ctx.out(1).As<D>() : nullptr;
    const int64_t column_blocks = (view.cols + kColumnTile - 1) / kColumnTile;
    // Enough parts to give ~4 blocks per SM, each part at least 32 rows, and
    // no more partial rows than the workspace holds (one part needs none).
    int64_t parts = std::clamp<int64_t>(view.rows / 32, 1, kMaxRowParts);
    parts = std::min<int64_t>(parts, std::max<int64_t>(1, (132 * 4 + column_blocks - 1) / column_blocks));
    const int64_t fit = static_cast<int64_t>(stream->workspace_bytes() / (sizeof(C) * K * view.cols));
    parts = std::max<int64_t>(1, std::min(parts, fit));
    C* partial = static_cast<C*>(stream->workspace());
    const dim3 grid(static_cast<unsigned int>(column_blocks), static_cast<unsigned int>(parts));
    ColumnPartialsKernel<D, kLayerNorm><<<grid, dim3(kColumnTile, kColumnLanes), 0, stream->native()>>>(
        dy, x, mean, inv_std, view.rows, view.cols, parts, partial, out0, out1);
    if (parts > 1) {
      ColumnFinishKernel<D, K><<<CudaGridFor(view.cols), kCudaBlock, 0, stream->native()>>>(
          partial, view.cols, parts, out0, out1);
    }
  }));
  return CudaLaunchStatus(ctx);
}

}  // namespace

Status RegisterNormCudaKernels(KernelRegistry& kernels) {
  // The CPU registers all four float dtypes for each op (f32 layer_norm on
  // oneDNN, the rest loops).
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "layer_norm", FloatTypes{}, RunNorm<true>));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "layer_norm_grad", FloatTypes{}, RunNormGrad<true>));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "layer_norm_param_grad", FloatTypes{}, RunParamGrad<true>));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "rms_norm", FloatTypes{}, RunNorm<false>));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "rms_norm_grad", FloatTypes{}, RunNormGrad<false>));
  return RegisterCudaKernel(kernels, "rms_norm_param_grad", FloatTypes{}, RunParamGrad<false>);
}

}  // namespace ofl

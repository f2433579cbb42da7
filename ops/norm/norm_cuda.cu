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

namespace ofl {

namespace {

// ---- layer_norm --------------------------------------------------------------------

template <typename D, int kVec, int kChunks, bool kWarp>
__global__ void __launch_bounds__(kWarp ? kRowWarpBlockThreads : kRowBlockThreads)
    LayerNormKernel(const D* x, const D* gamma, const D* beta, D* y, D* mean_out, D* inv_std_out,
                    int64_t rows, int64_t cols, CudaCompute<D> epsilon) {
  using C = CudaCompute<D>;
  const RowGroup group = RowGroupOf<kWarp>();
  const C count = static_cast<C>(cols);
  for (int64_t r = group.first; r < rows; r += group.step) {
    RowCache<D, C, kVec, kChunks> xs{x + r * cols};
    xs.Load(group, cols);
    C sum = 0;
    ForEachChunk<kVec, kChunks>(group, cols, [&](int c, int64_t base) {
      C values[kVec];
      xs.Fetch(c, base, values);
#pragma unroll
      for (int v = 0; v < kVec; ++v) sum += values[v];
    });
    sum = GroupReduce<kWarp>(sum, CudaSumOp{}, C(0));
    const C mean = cols > 0 ? sum / count : C(0);
    C squares = 0;
    ForEachChunk<kVec, kChunks>(group, cols, [&](int c, int64_t base) {
      C values[kVec];
      xs.Fetch(c, base, values);
#pragma unroll
      for (int v = 0; v < kVec; ++v) {
        const C centred = values[v] - mean;
        squares += centred * centred;
      }
    });
    squares = GroupReduce<kWarp>(squares, CudaSumOp{}, C(0));
    const C variance = cols > 0 ? squares / count : C(0);
    const C inv_std = C(1) / sqrt(variance + epsilon);
    D* yr = y + r * cols;
    ForEachChunk<kVec, kChunks>(group, cols, [&](int c, int64_t base) {
      C values[kVec], g[kVec], b[kVec];
      xs.Fetch(c, base, values);
      LoadPack<kVec>(gamma + base, g);
      LoadPack<kVec>(beta + base, b);
#pragma unroll
      for (int v = 0; v < kVec; ++v) values[v] = (values[v] - mean) * inv_std * g[v] + b[v];
      StorePack<kVec>(yr + base, values);
    });
    if (group.tid == 0) {
      mean_out[r] = FromCudaCompute<D>(mean);
      inv_std_out[r] = FromCudaCompute<D>(inv_std);
    }
  }
}

// dx = inv_std * (g - mean(g) - xhat * mean(g * xhat)), g = dy * gamma,
// xhat = (x - mean) * inv_std; sum(g * xhat) taken as inv_std * sum(g * (x - mean)).
template <typename D, int kVec, int kChunks, bool kWarp>
__global__ void __launch_bounds__(kWarp ? kRowWarpBlockThreads : kRowBlockThreads)
    LayerNormGradKernel(const D* dy, const D* x, const D* mean, const D* inv_std, const D* gamma, D* dx,
                        int64_t rows, int64_t cols) {
  using C = CudaCompute<D>;
  const RowGroup group = RowGroupOf<kWarp>();
  const C count = static_cast<C>(cols);
  for (int64_t r = group.first; r < rows; r += group.step) {
    RowCache<D, C, kVec, kChunks> dys{dy + r * cols};
    RowCache<D, C, kVec, kChunks> xs{x + r * cols};
    dys.Load(group, cols);
    xs.Load(group, cols);
    const C m = ToCudaCompute<C>(mean[r]);
    const C s = ToCudaCompute<C>(inv_std[r]);
    C sum_g = 0, sum_g_centred = 0;
    ForEachChunk<kVec, kChunks>(group, cols, [&](int c, int64_t base) {
      C dyv[kVec], xv[kVec], gv[kVec];
      dys.Fetch(c, base, dyv);
      xs.Fetch(c, base, xv);
      LoadPack<kVec>(gamma + base, gv);
#pragma unroll
      for (int v = 0; v < kVec; ++v) {
        sum_g += dyv[v] * gv[v];
        sum_g_centred += dyv[v] * gv[v] * (xv[v] - m);
      }
    });
    sum_g = GroupReduce<kWarp>(sum_g, CudaSumOp{}, C(0));
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
        const C xhat = (xv[v] - m) * s;
        xv[v] = s * (g - mean_g - xhat * mean_g_xhat);
      }
      StorePack<kVec>(dxr + base, xv);
    });
  }
}

// ---- rms_norm ------------------------------------------------------------------------

// inv_rms = 1 / sqrt(mean(x^2) + epsilon), y = x * inv_rms * weight.
template <typename D, int kVec, int kChunks, bool kWarp>
__global__ void __launch_bounds__(kWarp ? kRowWarpBlockThreads : kRowBlockThreads)
    RmsNormKernel(const D* x, const D* weight, D* y, D* inv_rms_out, int64_t rows, int64_t cols,
                  CudaCompute<D> epsilon) {
  using C = CudaCompute<D>;
  const RowGroup group = RowGroupOf<kWarp>();
  for (int64_t r = group.first; r < rows; r += group.step) {
    RowCache<D, C, kVec, kChunks> xs{x + r * cols};
    xs.Load(group, cols);
    C squares = 0;
    ForEachChunk<kVec, kChunks>(group, cols, [&](int c, int64_t base) {
      C values[kVec];
      xs.Fetch(c, base, values);
#pragma unroll
      for (int v = 0; v < kVec; ++v) squares += values[v] * values[v];
    });
    squares = GroupReduce<kWarp>(squares, CudaSumOp{}, C(0));
    const C mean_square = cols > 0 ? squares / static_cast<C>(cols) : C(0);
    const C inv_rms = C(1) / sqrt(mean_square + epsilon);
    D* yr = y + r * cols;
    ForEachChunk<kVec, kChunks>(group, cols, [&](int c, int64_t base) {
      C values[kVec], w[kVec];
      xs.Fetch(c, base, values);
      LoadPack<kVec>(weight + base, w);
#pragma unroll
      for (int v = 0; v < kVec; ++v) values[v] = values[v] * inv_rms * w[v];
      StorePack<kVec>(yr + base, values);
    });
    if (group.tid == 0) inv_rms_out[r] = FromCudaCompute<D>(inv_rms);
  }
}

// dx = inv_rms * (g - xhat * mean(g * xhat)), g = dy * weight, xhat = x * inv_rms;
// mean(g * xhat) taken as inv_rms * sum(g * x) / cols.
template <typename D, int kVec, int kChunks, bool kWarp>
__global__ void __launch_bounds__(kWarp ? kRowWarpBlockThreads : kRowBlockThreads)
    RmsNormGradKernel(const D* dy, const D* x, const D* inv_rms, const D* weight, D* dx, int64_t rows,
                      int64_t cols) {
  using C = CudaCompute<D>;
  const RowGroup group = RowGroupOf<kWarp>();
  for (int64_t r = group.first; r < rows; r += group.step) {
    RowCache<D, C, kVec, kChunks> dys{dy + r * cols};
    RowCache<D, C, kVec, kChunks> xs{x + r * cols};
    dys.Load(group, cols);
    xs.Load(group, cols);
    const C s = ToCudaCompute<C>(inv_rms[r]);
    C sum_g_x = 0;
    ForEachChunk<kVec, kChunks>(group, cols, [&](int c, int64_t base) {
      C dyv[kVec], xv[kVec], wv[kVec];
      dys.Fetch(c, base, dyv);
      xs.Fetch(c, base, xv);
      LoadPack<kVec>(weight + base, wv);
#pragma unroll
      for (int v = 0; v < kVec; ++v) sum_g_x += dyv[v] * wv[v] * xv[v];
    });
    sum_g_x = GroupReduce<kWarp>(sum_g_x, CudaSumOp{}, C(0));
    const C mean_g_xhat = sum_g_x * s / static_cast<C>(cols);
    D* dxr = dx + r * cols;
    ForEachChunk<kVec, kChunks>(group, cols, [&](int c, int64_t base) {
      C dyv[kVec], xv[kVec], wv[kVec];
      dys.Fetch(c, base, dyv);
      xs.Fetch(c, base, xv);
      LoadPack<kVec>(weight + base, wv);
#pragma unroll
      for (int v = 0; v < kVec; ++v) {
        const C g = dyv[v] * wv[v];
        const C xhat = xv[v] * s;
        xv[v] = s * (g - xhat * mean_g_xhat);
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

struct RowsCols {
  int64_t rows = 1;
  int64_t cols = 1;
};

// [rows, cols] of `shape` normalised over axes [begin, rank).
RowsCols RowsColsOf(const Shape& shape, int begin) {
  RowsCols view;
  for (int k = 0; k < begin; ++k) view.rows *= shape[k];
  for (int k = begin; k < shape.rank(); ++k) view.cols *= shape[k];
  return view;
}

StatusOr<RowsCols> LayerNormRows(const KernelContext& ctx, int x_index) {
  const Shape& shape = ctx.in(x_index).shape();
  OFL_ASSIGN_OR_RETURN(const int begin, NormalizeAxis("[" + ctx.op_name + "] attribute begin_norm_axis",
                                                      ctx.attr().GetInt("begin_norm_axis"), shape.rank()));
  return RowsColsOf(shape, begin);
}

StatusOr<RowsCols> LastAxisRows(const KernelContext& ctx, int x_index) {
  const Shape& shape = ctx.in(x_index).shape();
  OFL_CHECK_OR_RETURN(shape.rank() >= 1) << "[" << ctx.op_name << "] x: expected rank >= 1, got a scalar";
  return RowsColsOf(shape, shape.rank() - 1);
}

bool AllAligned(std::initializer_list<const void*> pointers) {
  for (const void* pointer : pointers) {
    if (!IsAlignedTo(pointer, 16)) return false;
  }
  return true;
}

Status RunLayerNorm(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  OFL_ASSIGN_OR_RETURN(const RowsCols view, LayerNormRows(ctx, 0));
  // Rows of no elements still get mean 0 and inv_std 1 / sqrt(epsilon), as on the CPU.
  if (view.rows == 0) return Status::Ok();
  const double epsilon = ctx.attr().GetFloat("epsilon");
  OFL_RETURN_IF_ERROR(CudaDispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
    using D = CudaStorage<decltype(tag)>;
    using C = CudaCompute<D>;
    const D* x = ctx.in(0).As<D>();
    const D* gamma = ctx.in(1).As<D>();
    const D* beta = ctx.in(2).As<D>();
    D* y = ctx.out(0).As<D>();
    D* mean = ctx.out(1).As<D>();
    D* inv_std = ctx.out(2).As<D>();
    DispatchRowShape<D>(
        ChooseRowShape<D>(view.cols, AllAligned({x, gamma, beta, y})), view.rows,
        [&](auto vec, auto chunks, auto warp, dim3 grid, dim3 block) {
          LayerNormKernel<D, decltype(vec)::value, decltype(chunks)::value, decltype(warp)::value>
              <<<grid, block, 0, stream->native()>>>(x, gamma, beta, y, mean, inv_std, view.rows, view.cols,
                                                     static_cast<C>(epsilon));
        });
  }));
  return CudaLaunchStatus(ctx);
}

Status RunLayerNormGrad(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  OFL_ASSIGN_OR_RETURN(const RowsCols view, LayerNormRows(ctx, 1));
  if (view.rows == 0 || view.cols == 0) return Status::Ok();
  OFL_RETURN_IF_ERROR(CudaDispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
    using D = CudaStorage<decltype(tag)>;
    const D* dy = ctx.in(0).As<D>();
    const D* x = ctx.in(1).As<D>();
    const D* mean = ctx.in(2).As<D>();
    const D* inv_std = ctx.in(3).As<D>();
    const D* gamma = ctx.in(4).As<D>();
    D* dx = ctx.out(0).As<D>();
    DispatchRowShape<D>(
        ChooseRowShape<D>(view.cols, AllAligned({dy, x, gamma, dx})), view.rows,
        [&](auto vec, auto chunks, auto warp, dim3 grid, dim3 block) {
          LayerNormGradKernel<D, decltype(vec)::value, decltype(chunks)::value, decltype(warp)::value>
              <<<grid, block, 0, stream->native()>>>(dy, x, mean, inv_std, gamma, dx, view.rows, view.cols);
        });
  }));
  return CudaLaunchStatus(ctx);
}

Status RunRmsNorm(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  OFL_ASSIGN_OR_RETURN(const RowsCols view, LastAxisRows(ctx, 0));
  if (view.rows == 0) return Status::Ok();
  const double epsilon = ctx.attr().GetFloat("epsilon");
  OFL_RETURN_IF_ERROR(CudaDispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
    using D = CudaStorage<decltype(tag)>;
    using C = CudaCompute<D>;
    const D* x = ctx.in(0).As<D>();
    const D* weight = ctx.in(1).As<D>();
    D* y = ctx.out(0).As<D>();
    D* inv_rms = ctx.out(1).As<D>();
    DispatchRowShape<D>(
        ChooseRowShape<D>(view.cols, AllAligned({x, weight, y})), view.rows,
        [&](auto vec, auto chunks, auto warp, dim3 grid, dim3 block) {
          RmsNormKernel<D, decltype(vec)::value, decltype(chunks)::value, decltype(warp)::value>
              <<<grid, block, 0, stream->native()>>>(x, weight, y, inv_rms, view.rows, view.cols,
                                                     static_cast<C>(epsilon));
        });
  }));
  return CudaLaunchStatus(ctx);
}

Status RunRmsNormGrad(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  OFL_ASSIGN_OR_RETURN(const RowsCols view, LastAxisRows(ctx, 1));
  if (view.rows == 0 || view.cols == 0) return Status::Ok();
  OFL_RETURN_IF_ERROR(CudaDispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
    using D = CudaStorage<decltype(tag)>;
    const D* dy = ctx.in(0).As<D>();
    const D* x = ctx.in(1).As<D>();
    const D* inv_rms = ctx.in(2).As<D>();
    const D* weight = ctx.in(3).As<D>();
    D* dx = ctx.out(0).As<D>();
    DispatchRowShape<D>(
        ChooseRowShape<D>(view.cols, AllAligned({dy, x, weight, dx})), view.rows,
        [&](auto vec, auto chunks, auto warp, dim3 grid, dim3 block) {
          RmsNormGradKernel<D, decltype(vec)::value, decltype(chunks)::value, decltype(warp)::value>
              <<<grid, block, 0, stream->native()>>>(dy, x, inv_rms, weight, dx, view.rows, view.cols);
        });
  }));
  return CudaLaunchStatus(ctx);
}

// Column sums of layer_norm_param_grad (kLayerNorm) or rms_norm_param_grad.
// Inputs: dy, x, [mean,] inv_std; outputs dgamma[, dbeta].
template <bool kLayerNorm>
Status RunParamGrad(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  RowsCols view;
  if constexpr (kLayerNorm) {
    OFL_ASSIGN_OR_RETURN(view, LayerNormRows(ctx, 1));
  } else {
    OFL_ASSIGN_OR_RETURN(view, LastAxisRows(ctx, 1));
  }
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
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "layer_norm", FloatTypes{}, RunLayerNorm));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "layer_norm_grad", FloatTypes{}, RunLayerNormGrad));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "layer_norm_param_grad", FloatTypes{}, RunParamGrad<true>));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "rms_norm", FloatTypes{}, RunRmsNorm));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "rms_norm_grad", FloatTypes{}, RunRmsNormGrad));
  return RegisterCudaKernel(kernels, "rms_norm_param_grad", FloatTypes{}, RunParamGrad<false>);
}

}  // namespace ofl

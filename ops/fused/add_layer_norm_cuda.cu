// CUDA kernel of add_layer_norm: sum = x + residual, y = layer_norm(sum),
// in one pass over memory (x and residual read once; y and sum written
// once; mean and inv_std written once per row).
//
// Mirrors the CPU kernel (add's element-wise loop, then layer_norm's loops
// of ops/norm/layer_norm_loops.cc on the stored sum): the sum is formed in
// the compute type (float for f16/bf16) and rounded to the storage dtype
// as add stores it, and the statistics are computed from that rounded
// value; mean, then the biased variance as the mean of squared deviations
// from it (two passes over the row, as the CPU does, no Welford), inv_std
// = 1 / sqrt(variance + epsilon) with IEEE sqrt and division, y = (sum -
// mean) * inv_std * weight + bias. An empty row (cols == 0) gets mean 0 and
// inv_std 1 / sqrt(epsilon), as on the CPU. Only the summation order of
// the two reductions differs from the CPU (lanes and warps instead of the
// CPU's vector lanes), so results agree to rounding, not bit for bit.
//
// Rows of at most 1024 elements: one warp per row, the row held in
// registers (kPerLane values per lane). Longer rows: one block per row;
// each thread re-reads the sum elements it wrote itself in the first pass
// (its own writes, so no synchronisation is needed; they come from L1/L2,
// not DRAM).
#include <cstdint>
#include <type_traits>

#include "ops/common/cuda_helpers.cuh"
#include "ops/common/cuda_reduce.cuh"
#include "ops/fused/fused.h"

namespace ofl {

namespace {

// Input and output positions (add_layer_norm_op.cc).
constexpr int kX = 0, kResidual = 1, kWeight = 2, kBias = 3;
constexpr int kY = 0, kSum = 1, kMean = 2, kInvStd = 3;

constexpr int kWarpRowsBlock = 256;  // 8 rows per block in the warp kernel
constexpr int kBlockRowThreads = 512;
constexpr int64_t kMaxWarpRow = 1024;

/// Pointers of one launch. `sum` is written and read back by the same
/// thread, so it must not go through the read-only cache: no __restrict__.
template <typename D>
struct AddLayerNormArgs {
  int64_t rows;
  int64_t cols;
  double epsilon;
  const D* x;
  const D* residual;
  const D* weight;
  const D* bias;
  D* y;
  D* sum;
  D* mean;
  D* inv_std;
};

template <typename C>
__device__ __forceinline__ C InverseStd(C variance, double epsilon) {
  if constexpr (std::is_same_v<C, float>) {
    return 1.0f / sqrtf(variance + static_cast<float>(epsilon));
  } else {
    return 1.0 / sqrt(variance + epsilon);
  }
}

/// x[i] + residual[i] rounded to D (add's result), then back in compute type.
template <typename D>
__device__ __forceinline__ D StoredSum(const AddLayerNormArgs<D>& a, int64_t i) {
  using C = CudaCompute<D>;
  return FromCudaCompute<D>(ToCudaCompute<C>(a.x[i]) + ToCudaCompute<C>(a.residual[i]));
}

/// One warp per row, lane l holding elements l, l + 32, ... (kPerLane of
/// them, 32 * kPerLane >= cols). Rows are assigned per warp, so every lane
/// of a warp takes the same loop trips and the full-mask shuffles are safe.
template <typename D, int kPerLane>
__global__ void AddLayerNormWarpKernel(AddLayerNormArgs<D> a) {
  using C = CudaCompute<D>;
  const int lane = threadIdx.x & 31;
  const int64_t warps_per_block = blockDim.x / 32;
  const int64_t first_row = blockIdx.x * warps_per_block + threadIdx.x / 32;
  const int64_t row_step = int64_t{gridDim.x} * warps_per_block;
  const C count = static_cast<C>(a.cols);
  for (int64_t row = first_row; row < a.rows; row += row_step) {
    const int64_t base = row * a.cols;
    C values[kPerLane];
    C partial = C(0);
#pragma unroll
    for (int k = 0; k < kPerLane; ++k) {
      const int64_t j = lane + 32 * int64_t{k};
      values[k] = C(0);
      if (j < a.cols) {
        const D stored = StoredSum(a, base + j);
        a.sum[base + j] = stored;
        values[k] = ToCudaCompute<C>(stored);
        partial += values[k];
      }
    }
    const C total = WarpReduce(partial, CudaSumOp{});
    const C mean = a.cols > 0 ? total / count : C(0);
    C squares_partial = C(0);
#pragma unroll
    for (int k = 0; k < kPerLane; ++k) {
      const int64_t j = lane + 32 * int64_t{k};
      if (j < a.cols) {
        const C centred = values[k] - mean;
        squares_partial += centred * centred;
      }
    }
    const C squares = WarpReduce(squares_partial, CudaSumOp{});
    const C variance = a.cols > 0 ? squares / count : C(0);
    const C inv_std = InverseStd(variance, a.epsilon);
#pragma unroll
    for (int k = 0; k < kPerLane; ++k) {
      const int64_t j = lane + 32 * int64_t{k};
      if (j < a.cols) {
        a.y[base + j] = FromCudaCompute<D>((values[k] - mean) * inv_std * ToCudaCompute<C>(a.weight[j]) +
                                           ToCudaCompute<C>(a.bias[j]));
      }
    }
    if (lane == 0) {
      a.mean[row] = FromCudaCompute<D>(mean);
      a.inv_std[row] = FromCudaCompute<D>(inv_std);
    }
  }
}

/// One block per row (rows longer than kMaxWarpRow). Rows are assigned per
/// block, so every thread reaches each BlockReduce (__syncthreads) together.
template <typename D>
__global__ void AddLayerNormBlockKernel(AddLayerNormArgs<D> a) {
  using C = CudaCompute<D>;
  const C count = static_cast<C>(a.cols);
  for (int64_t row = blockIdx.x; row < a.rows; row += gridDim.x) {
    const int64_t base = row * a.cols;
    C partial = C(0);
    for (int64_t j = threadIdx.x; j < a.cols; j += blockDim.x) {
      const D stored = StoredSum(a, base + j);
      a.sum[base + j] = stored;
      partial += ToCudaCompute<C>(stored);
    }
    const C mean = BlockReduce(partial, CudaSumOp{}, C(0)) / count;  // cols > kMaxWarpRow > 0
    C squares_partial = C(0);
    for (int64_t j = threadIdx.x; j < a.cols; j += blockDim.x) {
      const C centred = ToCudaCompute<C>(a.sum[base + j]) - mean;  // this thread's own write above
      squares_partial += centred * centred;
    }
    const C variance = BlockReduce(squares_partial, CudaSumOp{}, C(0)) / count;
    const C inv_std = InverseStd(variance, a.epsilon);
    for (int64_t j = threadIdx.x; j < a.cols; j += blockDim.x) {
      a.y[base + j] = FromCudaCompute<D>((ToCudaCompute<C>(a.sum[base + j]) - mean) * inv_std *
                                             ToCudaCompute<C>(a.weight[j]) +
                                         ToCudaCompute<C>(a.bias[j]));
    }
    if (threadIdx.x == 0) {
      a.mean[row] = FromCudaCompute<D>(mean);
      a.inv_std[row] = FromCudaCompute<D>(inv_std);
    }
  }
}

template <typename D, int kPerLane>
void LaunchWarpRows(cudaStream_t stream, const AddLayerNormArgs<D>& a) {
  constexpr int rows_per_block = kWarpRowsBlock / 32;
  AddLayerNormWarpKernel<D, kPerLane>
      <<<CudaGridFor((a.rows + rows_per_block - 1) / rows_per_block, 1), kWarpRowsBlock, 0, stream>>>(a);
}

template <typename D>
void LaunchAddLayerNorm(cudaStream_t stream, const AddLayerNormArgs<D>& a) {
  if (a.cols > kMaxWarpRow) {
    AddLayerNormBlockKernel<D><<<CudaGridFor(a.rows, 1), kBlockRowThreads, 0, stream>>>(a);
    return;
  }
  // The fewest registers per lane that hold the row.
  if (a.cols <= 32) return LaunchWarpRows<D, 1>(stream, a);
  if (a.cols <= 64) return LaunchWarpRows<D, 2>(stream, a);
  if (a.cols <= 128) return LaunchWarpRows<D, 4>(stream, a);
  if (a.cols <= 256) return LaunchWarpRows<D, 8>(stream, a);
  if (a.cols <= 512) return LaunchWarpRows<D, 16>(stream, a);
  return LaunchWarpRows<D, 32>(stream, a);
}

Status AddLayerNormCuda(KernelContext& ctx) {
  OFL_CHECK_OR_RETURN(ctx.inputs.size() == 4 && ctx.outputs.size() == 4)
      << "[" << ctx.op_name << "] cuda kernel: expected 4 inputs and 4 outputs, got " << ctx.inputs.size()
      << " and " << ctx.outputs.size();
  const Shape& shape = ctx.in(kX).shape();
  OFL_ASSIGN_OR_RETURN(const int begin, NormalizeAxis("[" + ctx.op_name + "] attribute begin_norm_axis",
                                                      ctx.attr().GetInt("begin_norm_axis"), shape.rank()));
  int64_t rows = 1, cols = 1;
  for (int k = 0; k < shape.rank(); ++k) (k < begin ? rows : cols) *= shape[k];
  // Host-side piece checks, so that no kernel reads or writes out of bounds.
  const int64_t count = rows * cols;
  OFL_CHECK_OR_RETURN(ctx.in(kResidual).NumElements() == count && ctx.out(kY).NumElements() == count &&
                      ctx.out(kSum).NumElements() == count)
      << "[" << ctx.op_name << "] cuda kernel: expected residual, y and sum pieces of " << count
      << " elements (the x piece " << shape.ToString() << ")";
  OFL_CHECK_OR_RETURN(ctx.in(kWeight).NumElements() == cols && ctx.in(kBias).NumElements() == cols)
      << "[" << ctx.op_name << "] cuda kernel: expected weight and bias pieces of " << cols
      << " elements, got " << ctx.in(kWeight).shape().ToString() << " and "
      << ctx.in(kBias).shape().ToString();
  OFL_CHECK_OR_RETURN(ctx.out(kMean).NumElements() == rows && ctx.out(kInvStd).NumElements() == rows)
      << "[" << ctx.op_name << "] cuda kernel: expected mean and inv_std pieces of " << rows << " elements";
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  // No rows: nothing to write. Rows of zero elements still get statistics.
  if (rows == 0) return Status::Ok();
  const double epsilon = ctx.attr().GetFloat("epsilon");
  OFL_RETURN_IF_ERROR(CudaDispatchOr(ctx, FloatTypes{}, ctx.in(kX).dtype(), [&](auto tag) {
    using D = CudaStorage<decltype(tag)>;
    const AddLayerNormArgs<D> args{rows,
                                   cols,
                                   epsilon,
                                   ctx.in(kX).As<D>(),
                                   ctx.in(kResidual).As<D>(),
                                   ctx.in(kWeight).As<D>(),
                                   ctx.in(kBias).As<D>(),
                                   ctx.out(kY).As<D>(),
                                   ctx.out(kSum).As<D>(),
                                   ctx.out(kMean).As<D>(),
                                   ctx.out(kInvStd).As<D>()};
    LaunchAddLayerNorm(stream->native(), args);
  }));
  return CudaLaunchStatus(ctx);
}

}  // namespace

Status RegisterAddLayerNormCudaKernel(KernelRegistry& kernels) {
  return RegisterCudaKernel(kernels, "add_layer_norm", FloatTypes{}, AddLayerNormCuda);
}

}  // namespace ofl

// CUDA kernels of fill, random_uniform, random_normal and dropout.
//
// Each mirrors its CPU kernel (initializer_ops.cc, dropout_op.cc): the value
// of an element is a function of (seed, logical element index) through the
// shared Philox code of ops/random/philox.h, and the logical index of a
// piece's element is computed from the piece's offset and the logical shape
// exactly as ForEachLogicalRun does (row-major position in the piece, shifted
// by the offset, in logical strides), so any device count and SBP gives the
// CPU's tensor. Uniform draws and dropout masks are bit-exact with the CPU;
// normals go through the device's double log/sqrt/sin/cos, whose last bit
// may differ from the host libm's.
#include <cmath>
#include <limits>
#include <type_traits>

#include "ops/common/cuda_helpers.cuh"
#include "ops/common/kernel_helpers.h"
#include "ops/cuda_kernels.h"
#include "ops/random/philox.h"
#include "ops/random/sampling.h"

namespace ofl {

namespace {

using FillTypes = TypeList<float, double, Float16, BFloat16, int32_t, int64_t>;

// Maps the row-major index of an element of a piece to its index in the
// logical tensor. `whole` skips the arithmetic when the piece is the tensor.
struct LogicalIndexer {
  bool whole = true;
  int rank = 0;
  int64_t piece[8] = {};
  int64_t offset[8] = {};
  int64_t logical_stride[8] = {};

  __device__ __forceinline__ int64_t operator()(int64_t local) const {
    if (whole) return local;
    int64_t logical = 0;
    for (int axis = rank - 1; axis >= 0; --axis) {
      const int64_t index = local % piece[axis];
      local /= piece[axis];
      logical += (offset[axis] + index) * logical_stride[axis];
    }
    return logical;
  }
};

// The indexer of `arg`, after checking (as CheckPieceInLogical of
// logical_index.h does for the CPU; that header needs OpenMP, which nvcc
// is not given) that the piece lies inside its logical tensor.
StatusOr<LogicalIndexer> IndexerOf(const std::string& op, const TensorArg& arg) {
  const Shape& piece = arg.blob.shape();
  const int rank = piece.rank();
  OFL_CHECK_OR_RETURN(arg.logical_shape.rank() == rank && static_cast<int>(arg.offset.size()) == rank)
      << "[" << op << "] cuda kernel: expected a piece of rank " << rank
      << " with one offset per axis, got logical " << arg.logical_shape.ToString() << " and "
      << arg.offset.size() << " offsets";
  OFL_CHECK_OR_RETURN(rank <= 8) << "[" << op << "] cuda kernel: expected rank <= 8, got " << rank;
  LogicalIndexer indexer;
  indexer.rank = rank;
  const std::vector<int64_t> strides = arg.logical_shape.Strides();
  for (int axis = 0; axis < rank; ++axis) {
    OFL_CHECK_OR_RETURN(arg.offset[axis] >= 0 && arg.offset[axis] + piece[axis] <= arg.logical_shape[axis])
        << "[" << op << "] cuda kernel: expected piece " << piece.ToString() << " inside logical "
        << arg.logical_shape.ToString() << ", got offset " << arg.offset[axis] << " on axis " << axis;
    indexer.piece[axis] = piece[axis];
    indexer.offset[axis] = arg.offset[axis];
    indexer.logical_stride[axis] = strides[axis];
    if (arg.offset[axis] != 0 || piece[axis] != arg.logical_shape[axis]) indexer.whole = false;
  }
  return indexer;
}

// The device storage value with the bits of host value `value`.
template <typename T>
CudaStorage<T> ToStorage(T value) {
  if constexpr (std::is_same_v<T, Float16>) {
    __half_raw raw;
    raw.x = value.bits;
    return __half(raw);
  } else if constexpr (std::is_same_v<T, BFloat16>) {
    __nv_bfloat16_raw raw;
    raw.x = value.bits;
    return __nv_bfloat16(raw);
  } else {
    return value;
  }
}

template <typename D>
__global__ void FillKernel(int64_t n, D value, D* out) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    out[i] = value;
  }
}

template <typename T>
void LaunchFill(const KernelContext& ctx, cudaStream_t stream, int64_t n, double value) {
  using D = CudaStorage<T>;
  // Converted on the host by the CPU kernel's own conversion: bit-identical.
  const D stored = ToStorage(FromCompute<T>(value));
  FillKernel<D><<<CudaGridFor(n), kCudaBlock, 0, stream>>>(n, stored, static_cast<D*>(ctx.out(0).data));
}

Status FillCuda(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  const double value = ctx.attr().GetFloat("value");
  const int64_t n = ctx.out(0).NumElements();
  if (n == 0) return Status::Ok();
  OFL_RETURN_IF_ERROR(CudaDispatchOr(ctx, FillTypes{}, ctx.out(0).dtype(), [&](auto tag) {
    LaunchFill<decltype(tag)>(ctx, stream->native(), n, value);
  }));
  return CudaLaunchStatus(ctx);
}

// out[i] = sample(logical index of i) rounded to D; with `bounded`, a value
// rounded up onto the exclusive bound becomes `below_bound` (as on the CPU).
template <typename D, typename Sample>
__global__ void GenerateKernel(int64_t n, LogicalIndexer indexer, Sample sample, bool bounded,
                               double bound_value, D below_bound, D* out) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    D value = FromCudaCompute<D>(sample(static_cast<uint64_t>(indexer(i))));
    if (bounded && ToCudaCompute<double>(value) >= bound_value) value = below_bound;
    out[i] = value;
  }
}

template <typename T, typename Sample>
void LaunchGenerate(const KernelContext& ctx, cudaStream_t stream, int64_t n, const LogicalIndexer& indexer,
                    Sample sample, double exclusive_upper_bound) {
  using D = CudaStorage<T>;
  // The bound and its predecessor are computed on the host exactly as the CPU kernel does.
  const T bound = FromCompute<T>(exclusive_upper_bound);
  const double bound_value = static_cast<double>(bound);
  const D below_bound = ToStorage(NextBelow(bound));
  const bool bounded = std::isfinite(exclusive_upper_bound);
  GenerateKernel<D, Sample><<<CudaGridFor(n), kCudaBlock, 0, stream>>>(
      n, indexer, sample, bounded, bound_value, below_bound, static_cast<D*>(ctx.out(0).data));
}

template <typename Sample>
Status GenerateCuda(KernelContext& ctx, Sample sample, double exclusive_upper_bound) {
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  OFL_ASSIGN_OR_RETURN(const LogicalIndexer indexer, IndexerOf(ctx.op_name, ctx.outputs[0]));
  const int64_t n = ctx.out(0).NumElements();
  if (n == 0) return Status::Ok();
  OFL_RETURN_IF_ERROR(CudaDispatchOr(ctx, FloatTypes{}, ctx.out(0).dtype(), [&](auto tag) {
    LaunchGenerate<decltype(tag)>(ctx, stream->native(), n, indexer, sample, exclusive_upper_bound);
  }));
  return CudaLaunchStatus(ctx);
}

Status UniformCuda(KernelContext& ctx) {
  const UniformSample sample{static_cast<uint64_t>(ctx.attr().GetInt("seed")), ctx.attr().GetFloat("low"),
                             ctx.attr().GetFloat("high")};
  return GenerateCuda(ctx, sample, sample.high);
}

Status NormalCuda(KernelContext& ctx) {
  const NormalSample sample{static_cast<uint64_t>(ctx.attr().GetInt("seed")), ctx.attr().GetFloat("mean"),
                            ctx.attr().GetFloat("std")};
  return GenerateCuda(ctx, sample, std::numeric_limits<double>::infinity());
}

// y = x * scale where the uniform of (seed, logical index) is >= rate, else
// 0 (also for a NaN x, as on the CPU). C is the compute type (float for
// 16-bit types), and scale was rounded to C on the host as the CPU does.
template <typename D>
__global__ void DropoutKernel(int64_t n, LogicalIndexer indexer, uint64_t seed, double rate,
                              CudaCompute<D> scale, const D* x, D* y) {
  using C = CudaCompute<D>;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    const bool keep = philox::UniformAt(seed, static_cast<uint64_t>(indexer(i))) >= rate;
    y[i] = keep ? FromCudaCompute<D>(ToCudaCompute<C>(x[i]) * scale) : FromCudaCompute<D>(C(0));
  }
}

template <typename T>
void LaunchDropout(const KernelContext& ctx, cudaStream_t stream, int64_t n, const LogicalIndexer& indexer,
                   uint64_t seed, double rate) {
  using D = CudaStorage<T>;
  using C = CudaCompute<D>;
  const C scale = static_cast<C>(1.0 / (1.0 - rate));
  DropoutKernel<D><<<CudaGridFor(n), kCudaBlock, 0, stream>>>(
      n, indexer, seed, rate, scale, static_cast<const D*>(ctx.in(0).data), static_cast<D*>(ctx.out(0).data));
}

Status DropoutCuda(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  const double rate = ctx.attr().GetFloat("rate");
  const uint64_t seed = static_cast<uint64_t>(ctx.attr().GetInt("seed"));
  OFL_ASSIGN_OR_RETURN(const LogicalIndexer indexer, IndexerOf(ctx.op_name, ctx.inputs[0]));
  OFL_CHECK_OR_RETURN(ctx.out(0).shape() == ctx.in(0).shape())
      << "[" << ctx.op_name << "] cuda kernel: expected y piece " << ctx.in(0).shape().ToString()
      << " (the x piece), got " << ctx.out(0).shape().ToString();
  const int64_t n = ctx.in(0).NumElements();
  if (n == 0) return Status::Ok();
  OFL_RETURN_IF_ERROR(CudaDispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
    LaunchDropout<decltype(tag)>(ctx, stream->native(), n, indexer, seed, rate);
  }));
  return CudaLaunchStatus(ctx);
}

}  // namespace

Status RegisterRandomCudaKernels(KernelRegistry& kernels) {
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "fill", FillTypes{}, FillCuda));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "random_uniform", FloatTypes{}, UniformCuda));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "random_normal", FloatTypes{}, NormalCuda));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "dropout", FloatTypes{}, DropoutCuda));
  return Status::Ok();
}

}  // namespace ofl

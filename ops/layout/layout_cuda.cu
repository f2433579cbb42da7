// CUDA kernels of the layout family: reshape, identity, broadcast_to, cast,
// concat, split, slice, slice_grad, transpose, add_n. Each mirrors its CPU
// kernel in ops/layout/*.cc: the same piece checks, the same dtypes, the same
// element semantics (cast: bool is x != 0, float -> integer truncates,
// saturates and maps NaN to 0). Ops that only move elements copy bits in
// unsigned units of the element size.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "ops/cuda_kernels.h"
#include "ops/elementwise/cuda_elementwise.cuh"
#include "ops/elementwise/functors.h"
#include "ops/layout/layout_internal.h"

namespace ofl {

namespace {

Status CopyBytesAsync(const KernelContext& ctx, cudaStream_t stream, void* dst, const void* src,
                      size_t bytes) {
  if (bytes == 0 || dst == src) return Status::Ok();
  return CudaStatus(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream),
                    "[" + ctx.op_name + "] cudaMemcpyAsync");
}

// ---- reshape, identity ---------------------------------------------------------

Status CopyPiece(KernelContext& ctx) {
  const Blob& x = ctx.in(0);
  const Blob& y = ctx.out(0);
  OFL_CHECK_OR_RETURN(x.ByteSize() == y.ByteSize() && x.dtype() == y.dtype())
      << "[" << ctx.op_name << "] cuda kernel: expected an output piece of " << x.NumElements() << " "
      << DTypeName(x.dtype()) << " elements, got " << y.desc.ToString();
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  return CopyBytesAsync(ctx, stream->native(), y.data, x.data, x.ByteSize());
}

// ---- broadcast_to ----------------------------------------------------------------

Status RunBroadcastTo(KernelContext& ctx) {
  const Blob& x = ctx.in(0);
  const Blob& y = ctx.out(0);
  OFL_CHECK_OR_RETURN(x.dtype() == y.dtype())
      << "[" << ctx.op_name << "] cuda kernel: expected an x piece broadcastable to the y piece "
      << y.desc.ToString() << ", got " << x.desc.ToString();
  // The plan checks the numpy rule (x's extents 1 or y's, aligned at the end).
  const Shape* const inputs[1] = {&x.shape()};
  OFL_ASSIGN_OR_RETURN(CudaBroadcastIndexing<1> plan, CudaBroadcastPlan<1>(ctx, y.shape(), inputs));
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  return DispatchByElementSize(ctx, x.dtype(), [&](auto tag) {
    using U = decltype(tag);
    return CudaBroadcastMapRaw(ctx, stream->native(), plan, CudaIdentity{}, y.As<U>(), x.As<U>());
  });
}

// ---- cast ------------------------------------------------------------------------

// One element from host type From to host type To, on stored elements: the
// rule of functors::CastValue between the compute types, as Convert of
// cast_op.cc (16-bit floats are read as float and written from float).
template <typename To, typename From>
struct CastElement {
  __device__ __forceinline__ CudaStorage<To> operator()(CudaStorage<From> value) const {
    using ToCompute = CudaCompute<CudaStorage<To>>;
    using FromCompute = CudaCompute<CudaStorage<From>>;
    return FromCudaCompute<CudaStorage<To>>(
        functors::CastValue<ToCompute>(ToCudaCompute<FromCompute>(value)));
  }
};

Status RunCast(KernelContext& ctx) {
  const Blob& x = ctx.in(0);
  const Blob& y = ctx.out(0);
  OFL_CHECK_OR_RETURN(x.NumElements() == y.NumElements())
      << "[" << ctx.op_name << "] cuda kernel: expected an output piece of " << x.NumElements()
      << " elements, got " << y.desc.ToString();
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  return CudaDispatchStatus(ctx, AllTypes{}, x.dtype(), [&](auto from_tag) {
    using From = decltype(from_tag);
    return CudaDispatchStatus(ctx, AllTypes{}, y.dtype(), [&](auto to_tag) {
      using To = decltype(to_tag);
      if constexpr (std::is_same_v<To, From>) {
        return CopyBytesAsync(ctx, stream->native(), y.data, x.data, x.ByteSize());  // Convert is exact
      } else {
        return CudaMapRaw(ctx, stream->native(), x.NumElements(), CastElement<To, From>{},
                          y.As<CudaStorage<To>>(), x.As<CudaStorage<From>>());
      }
    });
  });
}

// ---- concat, split ------------------------------------------------------------------

// Seen as [outer, extent along axis, inner], part p is a block of
// outer rows of block_bytes[p] at byte column sum(block_bytes[<p]) of the
// whole's rows: one strided row copy per part.
Status JoinOrCut(const KernelContext& ctx, cudaStream_t stream, const Blob& whole,
                 const std::vector<const Blob*>& parts, int axis, bool join) {
  int64_t outer = 1, inner = 1;
  for (int k = 0; k < axis; ++k) outer *= whole.shape()[k];
  for (int k = axis + 1; k < whole.shape().rank(); ++k) inner *= whole.shape()[k];
  const int64_t element = static_cast<int64_t>(SizeOf(whole.dtype()));
  const int64_t row_bytes = whole.shape()[axis] * inner * element;
  if (outer == 0 || row_bytes == 0) return Status::Ok();
  int64_t column = 0;
  for (const Blob* part : parts) {
    const int64_t block_bytes = part->shape()[axis] * inner * element;
    char* row = static_cast<char*>(whole.data) + column;
    if (join) {
      OFL_RETURN_IF_ERROR(
          CudaCopyRows(ctx, stream, row, row_bytes, part->data, block_bytes, outer, block_bytes));
    } else {
      OFL_RETURN_IF_ERROR(
          CudaCopyRows(ctx, stream, part->data, block_bytes, row, row_bytes, outer, block_bytes));
    }
    column += block_bytes;
  }
  return Status::Ok();
}

Status RunConcat(KernelContext& ctx) {
  const Blob& y = ctx.out(0);
  std::vector<const Blob*> parts;
  for (const TensorArg& input : ctx.inputs) parts.push_back(&input.blob);
  OFL_ASSIGN_OR_RETURN(const int axis, JoinAxis(ctx, "cuda", y, parts));
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  return JoinOrCut(ctx, stream->native(), y, parts, axis, /*join=*/true);
}

Status RunSplit(KernelContext& ctx) {
  const Blob& x = ctx.in(0);
  std::vector<const Blob*> parts;
  for (const TensorArg& output : ctx.outputs) parts.push_back(&output.blob);
  OFL_ASSIGN_OR_RETURN(const int axis, JoinAxis(ctx, "cuda", x, parts));
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  return JoinOrCut(ctx, stream->native(), x, parts, axis, /*join=*/false);
}

// ---- slice, slice_grad ------------------------------------------------------------

// Element j of the part along each axis is element first + step * j of the
// full piece: the part's extents, the full piece's strides times the steps,
// and the offset of the first element.
struct SliceIndexing {
  CudaBroadcastIndexing<1> plan;
  int64_t base = 0;
};

StatusOr<SliceIndexing> SlicePlan(const KernelContext& ctx, const Shape& full, const Shape& part,
                                  const std::vector<AxisSlice>& slices) {
  const std::vector<int64_t> full_strides = full.Strides();
  std::vector<int64_t> strides(part.rank());
  SliceIndexing result;
  for (int axis = 0; axis < part.rank(); ++axis) {
    result.base += slices[axis].first * full_strides[axis];
    strides[axis] = slices[axis].step * full_strides[axis];
  }
  OFL_ASSIGN_OR_RETURN(result.plan, CudaStridedIndexing(ctx, part.dims(), strides));
  return result;
}

template <typename I, typename U>
__global__ void SliceScatterKernel(CudaBroadcastIndexing<1> plan, U* full, const U* part) {
  const I count = static_cast<I>(plan.count);
  for (I i = blockIdx.x * blockDim.x + threadIdx.x; i < count; i += gridDim.x * blockDim.x) {
    I offsets[1];
    plan.Offsets(i, offsets);
    full[offsets[0]] = part[i];
  }
}

Status RunSlice(KernelContext& ctx) {
  const Blob& x = ctx.in(0);
  const Blob& y = ctx.out(0);
  OFL_ASSIGN_OR_RETURN(std::vector<AxisSlice> slices,
                       PieceSlices(ctx, "cuda", ctx.inputs[0].logical_shape, x.shape(), y.shape()));
  OFL_ASSIGN_OR_RETURN(SliceIndexing indexing, SlicePlan(ctx, x.shape(), y.shape(), slices));
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  return DispatchByElementSize(ctx, x.dtype(), [&](auto tag) {
    using U = decltype(tag);
    return CudaBroadcastMapRaw(ctx, stream->native(), indexing.plan, CudaIdentity{}, y.As<U>(),
                               x.As<U>() + indexing.base);
  });
}

Status RunSliceGrad(KernelContext& ctx) {
  const Blob& dy = ctx.in(0);
  const Blob& dx = ctx.out(0);
  OFL_ASSIGN_OR_RETURN(std::vector<AxisSlice> slices,
                       PieceSlices(ctx, "cuda", ctx.attr().GetShape("shape"), dx.shape(), dy.shape()));
  OFL_ASSIGN_OR_RETURN(SliceIndexing indexing, SlicePlan(ctx, dx.shape(), dy.shape(), slices));
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  if (dx.ByteSize() > 0) {  // zero bits are zero in every dtype
    OFL_RETURN_IF_ERROR(CudaStatus(cudaMemsetAsync(dx.data, 0, dx.ByteSize(), stream->native()),
                                   "[" + ctx.op_name + "] cudaMemsetAsync"));
  }
  if (indexing.plan.count == 0) return Status::Ok();
  return DispatchByElementSize(ctx, dx.dtype(), [&](auto tag) {
    using U = decltype(tag);
    const unsigned int grid = CudaGridFor(indexing.plan.count);
    U* full = dx.As<U>() + indexing.base;
    if (indexing.plan.FitsUint32()) {
      SliceScatterKernel<uint32_t>
          <<<grid, kCudaBlock, 0, stream->native()>>>(indexing.plan, full, dy.As<U>());
    } else {
      SliceScatterKernel<int64_t><<<grid, kCudaBlock, 0, stream->native()>>>(indexing.plan, full, dy.As<U>());
    }
    return CudaLaunchStatus(ctx);
  });
}

// ---- transpose ------------------------------------------------------------------

constexpr int kTile = 32;
constexpr int kTileRows = 8;  // threads per tile column: a 32 x 8 block moves a 32 x 32 tile

// out[b][j][i] = in[b][i][j] for in [batch, rows, cols], one 32 x 32 tile per
// block iteration through shared memory (padded a column against bank
// conflicts), so both global reads and writes are coalesced along rows.
template <typename U>
__global__ void BatchedTransposeKernel(const U* in, U* out, int64_t batch, int64_t rows, int64_t cols) {
  __shared__ U tile[kTile][kTile + 1];
  const int64_t row_tiles = (rows + kTile - 1) / kTile;
  const int64_t col_tiles = (cols + kTile - 1) / kTile;
  const int64_t tiles = batch * row_tiles * col_tiles;
  const int tx = threadIdx.x, ty = threadIdx.y;
  // The loop bound depends on blockIdx only: every thread of the block
  // takes the same iterations, so the barriers are safe.
  for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    const int64_t b = t / (row_tiles * col_tiles);
    const int64_t within = t - b * (row_tiles * col_tiles);
    const int64_t i0 = within / col_tiles * kTile;
    const int64_t j0 = within % col_tiles * kTile;
    const U* src = in + b * rows * cols;
    U* dst = out + b * rows * cols;
    for (int k = ty; k < kTile; k += kTileRows) {
      const int64_t i = i0 + k, j = j0 + tx;
      if (i < rows && j < cols) tile[k][tx] = src[i * cols + j];
    }
    __syncthreads();
    for (int k = ty; k < kTile; k += kTileRows) {
      const int64_t j = j0 + k, i = i0 + tx;
      if (j < cols && i < rows) dst[j * rows + i] = tile[tx][k];
    }
    __syncthreads();  // the tile is overwritten by the next iteration
  }
}

Status RunTranspose(KernelContext& ctx) {
  const Blob& x = ctx.in(0);
  const Blob& y = ctx.out(0);
  OFL_ASSIGN_OR_RETURN(const std::vector<int> perm, PiecePerm(ctx, "cuda"));
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  const int64_t count = x.NumElements();
  if (count == 0) return Status::Ok();
  const TransposePlan plan = SimplifyTranspose(x.shape(), perm);
  const int simple_rank = static_cast<int>(plan.dims.size());
  if (simple_rank <= 1) return CopyBytesAsync(ctx, stream->native(), y.data, x.data, x.ByteSize());
  bool batch_identity = true;
  for (int k = 0; k + 2 < simple_rank; ++k) batch_identity &= plan.perm[k] == k;
  const bool swap_last_two = batch_identity && plan.perm[simple_rank - 2] == simple_rank - 1 &&
                             plan.perm[simple_rank - 1] == simple_rank - 2;
  if (swap_last_two) {
    const int64_t rows = plan.dims[simple_rank - 2], cols = plan.dims[simple_rank - 1];
    const int64_t batch = count / (rows * cols);
    const int64_t tiles = batch * ((rows + kTile - 1) / kTile) * ((cols + kTile - 1) / kTile);
    const unsigned int grid = static_cast<unsigned int>(std::min<int64_t>(tiles, int64_t{132} * 16 * 8));
    return DispatchByElementSize(ctx, x.dtype(), [&](auto tag) {
      using U = decltype(tag);
      BatchedTransposeKernel<U>
          <<<grid, dim3(kTile, kTileRows), 0, stream->native()>>>(x.As<U>(), y.As<U>(), batch, rows, cols);
      return CudaLaunchStatus(ctx);
    });
  }
  // General permutation: gather y element by element from x's strides.
  std::vector<int64_t> in_strides(simple_rank, 1);
  for (int k = simple_rank - 2; k >= 0; --k) in_strides[k] = in_strides[k + 1] * plan.dims[k + 1];
  std::vector<int64_t> out_dims(simple_rank), strides(simple_rank);
  for (int k = 0; k < simple_rank; ++k) {
    out_dims[k] = plan.dims[plan.perm[k]];
    strides[k] = in_strides[plan.perm[k]];
  }
  OFL_ASSIGN_OR_RETURN(CudaBroadcastIndexing<1> indexing, CudaStridedIndexing(ctx, out_dims, strides));
  return DispatchByElementSize(ctx, x.dtype(), [&](auto tag) {
    using U = decltype(tag);
    return CudaBroadcastMapRaw(ctx, stream->native(), indexing, CudaIdentity{}, y.As<U>(), x.As<U>());
  });
}

// ---- add_n --------------------------------------------------------------------------

constexpr int kAddNPerLaunch = 128;  // 1 KiB of pointers: well inside the kernel-parameter limit

template <typename D>
struct AddNInputs {
  const D* pointers[kAddNPerLaunch];
  int count = 0;
};

// One launch of add_n over inputs.count inputs, summed left to right in the
// compute type C (float for 16-bit floats), as the CPU's AddN. The running
// sum starts at inputs[0] (`first`) or is read back from `partial` (C
// elements), or from y when `partial` is null (only where C is the storage
// type, so the round trip is exact); it is written to y on the `last`
// launch or when `partial` is null, to `partial` otherwise.
template <typename D>
__global__ void AddNKernel(AddNInputs<D> inputs, D* out, CudaCompute<D>* partial, int64_t n, bool first,
                           bool last) {
  using C = CudaCompute<D>;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    C sum = first ? ToCudaCompute<C>(inputs.pointers[0][i])
                  : (partial != nullptr ? partial[i] : ToCudaCompute<C>(out[i]));
    for (int k = first ? 1 : 0; k < inputs.count; ++k) {
      sum = functors::Add{}(sum, ToCudaCompute<C>(inputs.pointers[k][i]));
    }
    if (last || partial == nullptr) {
      out[i] = FromCudaCompute<D>(sum);
    } else {
      partial[i] = sum;
    }
  }
}

Status RunAddN(KernelContext& ctx) {
  const Blob& y = ctx.out(0);
  for (const TensorArg& input : ctx.inputs) {
    OFL_CHECK_OR_RETURN(input.blob.desc == y.desc)
        << "[" << ctx.op_name << "] cuda kernel: expected input pieces " << y.desc.ToString() << ", got "
        << input.blob.desc.ToString();
  }
  OFL_CHECK_OR_RETURN(!ctx.inputs.empty())
      << "[" << ctx.op_name << "] cuda kernel: expected one or more inputs";
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  const int64_t n = y.NumElements();
  if (n == 0) return Status::Ok();
  return CudaDispatchStatus(ctx, NumericTypes{}, y.dtype(), [&](auto tag) -> Status {
    using D = CudaStorage<decltype(tag)>;
    using C = CudaCompute<D>;
    // More than kAddNPerLaunch inputs go in several launches. Between them
    // the running sum stays in C: in y where C is the storage type (exact),
    // in the stream's workspace for 16-bit floats, since rounding it to
    // 16 bits between launches would differ from the CPU's float sum.
    const int total = static_cast<int>(ctx.inputs.size());
    C* partial = nullptr;
    if (total > kAddNPerLaunch && !std::is_same_v<C, D>) {
      const size_t bytes = static_cast<size_t>(n) * sizeof(C);
      OFL_CHECK_OR_RETURN(bytes <= stream->workspace_bytes())
          << "[" << ctx.op_name << "] cuda kernel: " << total << " inputs of " << n
          << " 16-bit elements need a float accumulator of " << bytes << " bytes, more than the "
          << stream->workspace_bytes() << "-byte workspace";
      partial = static_cast<C*>(stream->workspace());
    }
    for (int first = 0; first < total; first += kAddNPerLaunch) {
      AddNInputs<D> inputs;
      inputs.count = std::min(kAddNPerLaunch, total - first);
      for (int k = 0; k < inputs.count; ++k) inputs.pointers[k] = ctx.in(first + k).As<D>();
      AddNKernel<D><<<CudaGridFor(n), kCudaBlock, 0, stream->native()>>>(
          inputs, y.As<D>(), partial, n, first == 0, first + inputs.count == total);
      OFL_RETURN_IF_ERROR(CudaLaunchStatus(ctx));
    }
    return Status::Ok();
  });
}

}  // namespace

Status RegisterLayoutCudaKernels(KernelRegistry& kernels) {
  // Every layout op but add_n has kernels for AllTypes on the CPU; add_n for NumericTypes.
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "reshape", AllTypes{}, CopyPiece));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "identity", AllTypes{}, CopyPiece));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "broadcast_to", AllTypes{}, RunBroadcastTo));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "cast", AllTypes{}, RunCast));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "concat", AllTypes{}, RunConcat));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "split", AllTypes{}, RunSplit));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "slice", AllTypes{}, RunSlice));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "slice_grad", AllTypes{}, RunSliceGrad));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "transpose", AllTypes{}, RunTranspose));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "add_n", NumericTypes{}, RunAddN));
  return Status::Ok();
}

}  // namespace ofl

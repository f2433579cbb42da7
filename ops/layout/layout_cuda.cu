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

namespace ofl {

namespace {

/// Calls fn(U{}) with the unsigned type of `dtype`'s element size and
/// returns its status (DispatchByElementSize of layout_internal.h, for
/// functions that return a Status).
template <typename Fn>
Status DispatchBySize(const KernelContext& ctx, DType dtype, Fn&& fn) {
  switch (SizeOf(dtype)) {
    case 1:
      return fn(uint8_t{});
    case 2:
      return fn(uint16_t{});
    case 4:
      return fn(uint32_t{});
    case 8:
      return fn(uint64_t{});
    default:
      return UnsupportedCudaDType(ctx, dtype);
  }
}

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
  return DispatchBySize(ctx, x.dtype(), [&](auto tag) {
    using U = decltype(tag);
    return CudaBroadcastMapRaw(ctx, stream->native(), plan, CudaIdentity{}, y.As<U>(), x.As<U>());
  });
}

// ---- cast ------------------------------------------------------------------------

template <typename T>
constexpr bool kIsHalfLike = std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>;

// One element from host type From to host type To, on stored elements;
// Convert of cast_op.cc step for step: 16-bit floats go through float, bool
// is value != 0 (NaN too), float -> integer maps NaN to 0, saturates at the
// target's range and truncates toward zero, integer -> narrower integer wraps.
template <typename To, typename From>
struct CastElement {
  __device__ __forceinline__ CudaStorage<To> operator()(CudaStorage<From> value) const {
    using Wide = std::conditional_t<kIsHalfLike<From>, float, From>;
    const Wide wide = ToCudaCompute<Wide>(value);
    if constexpr (std::is_same_v<To, bool>) {
      return wide != Wide(0);
    } else if constexpr (kIsHalfLike<To>) {
      return FromCudaCompute<CudaStorage<To>>(static_cast<float>(wide));
    } else if constexpr (std::is_floating_point_v<Wide> && std::is_integral_v<To>) {
      if (wide != wide) return To(0);
      if (wide <= static_cast<Wide>(std::numeric_limits<To>::min())) return std::numeric_limits<To>::min();
      // max() may not be exactly representable in Wide (int64 in float): compare with >=.
      if (wide >= static_cast<Wide>(std::numeric_limits<To>::max())) return std::numeric_limits<To>::max();
      return static_cast<To>(wide);
    } else {
      return static_cast<To>(wide);
    }
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

StatusOr<int> KernelAxis(const KernelContext& ctx, int rank) {
  return NormalizeAxis("[" + ctx.op_name + "] attribute axis", ctx.attr().GetInt("axis"), rank);
}

// Every part has `whole`'s extents except along `axis`, where they add up.
Status CheckParts(const KernelContext& ctx, const Blob& whole, const std::vector<const Blob*>& parts,
                  int axis) {
  int64_t total = 0;
  bool valid = true;
  for (const Blob* part : parts) {
    valid &= part->shape().rank() == whole.shape().rank() && part->dtype() == whole.dtype();
    for (int k = 0; valid && k < whole.shape().rank(); ++k)
      valid &= k == axis || part->shape()[k] == whole.shape()[k];
    if (valid) total += part->shape()[axis];
  }
  OFL_CHECK_OR_RETURN(valid && total == whole.shape()[axis])
      << "[" << ctx.op_name << "] cuda kernel: expected pieces that join along axis " << axis << " into "
      << whole.shape().ToString() << ", got other pieces";
  return Status::Ok();
}

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
  OFL_ASSIGN_OR_RETURN(int axis, KernelAxis(ctx, y.shape().rank()));
  std::vector<const Blob*> parts;
  for (const TensorArg& input : ctx.inputs) parts.push_back(&input.blob);
  OFL_RETURN_IF_ERROR(CheckParts(ctx, y, parts, axis));
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  return JoinOrCut(ctx, stream->native(), y, parts, axis, /*join=*/true);
}

Status RunSplit(KernelContext& ctx) {
  const Blob& x = ctx.in(0);
  OFL_ASSIGN_OR_RETURN(int axis, KernelAxis(ctx, x.shape().rank()));
  std::vector<const Blob*> parts;
  for (const TensorArg& output : ctx.outputs) parts.push_back(&output.blob);
  OFL_RETURN_IF_ERROR(CheckParts(ctx, x, parts, axis));
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  return JoinOrCut(ctx, stream->native(), x, parts, axis, /*join=*/false);
}

// ---- slice, slice_grad ------------------------------------------------------------

// The resolved slice of one axis (ResolveSlice of slice_ops.cc): elements
// first, first + step, ... (count of them); whole: the axis is untouched.
struct AxisSlice {
  int64_t first = 0;
  int64_t step = 1;
  int64_t count = 0;
  bool whole = false;
};

StatusOr<std::vector<AxisSlice>> ResolveSlice(const std::string& who, const Shape& shape,
                                              const AttrMap& attrs) {
  const std::vector<int64_t>& start = attrs.GetInts("start");
  const std::vector<int64_t>& stop = attrs.GetInts("stop");
  const std::vector<int64_t>& step = attrs.GetInts("step");
  const size_t rank = static_cast<size_t>(shape.rank());
  OFL_CHECK_OR_RETURN(start.size() == rank && stop.size() == rank && (step.empty() || step.size() == rank))
      << who << " attributes start/stop/step: expected " << rank << " entries each (one per axis of "
      << shape.ToString() << "; step may be empty), got " << start.size() << ", " << stop.size() << ", "
      << step.size();
  std::vector<AxisSlice> result(rank);
  for (size_t axis = 0; axis < rank; ++axis) {
    const int64_t dim = shape[static_cast<int>(axis)];
    const int64_t stride = step.empty() ? 1 : step[axis];
    OFL_CHECK_OR_RETURN(stride > 0) << who << " attribute step: expected steps > 0, got " << stride
                                    << " on axis " << axis;
    auto clamp = [dim](int64_t index) {
      return std::clamp<int64_t>(index < 0 ? index + dim : index, 0, dim);
    };
    const int64_t begin = clamp(start[axis]);
    const int64_t end = clamp(stop[axis]);
    AxisSlice& slice = result[axis];
    slice.first = begin;
    slice.step = stride;
    slice.count = end > begin ? (end - begin - 1) / stride + 1 : 0;
    slice.whole = begin == 0 && end == dim && stride == 1;
  }
  return result;
}

// The slices as seen by a piece (PieceSlices of slice_ops.cc): only
// untouched axes may be split, and there both pieces are the same range.
StatusOr<std::vector<AxisSlice>> PieceSlices(const KernelContext& ctx, const Shape& logical_full,
                                             const Shape& full_piece, const Shape& part_piece) {
  OFL_ASSIGN_OR_RETURN(std::vector<AxisSlice> slices,
                       ResolveSlice("[" + ctx.op_name + "]", logical_full, ctx.attr()));
  bool valid = full_piece.rank() == logical_full.rank() && part_piece.rank() == logical_full.rank();
  for (int axis = 0; valid && axis < logical_full.rank(); ++axis) {
    valid = slices[axis].whole
                ? full_piece[axis] == part_piece[axis]
                : (full_piece[axis] == logical_full[axis] && part_piece[axis] == slices[axis].count);
  }
  OFL_CHECK_OR_RETURN(valid) << "[" << ctx.op_name
                             << "] cuda kernel: expected pieces split only along unsliced axes, "
                             << "got " << full_piece.ToString() << " and " << part_piece.ToString() << " of "
                             << logical_full.ToString();
  return slices;
}

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
                       PieceSlices(ctx, ctx.inputs[0].logical_shape, x.shape(), y.shape()));
  OFL_ASSIGN_OR_RETURN(SliceIndexing indexing, SlicePlan(ctx, x.shape(), y.shape(), slices));
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  return DispatchBySize(ctx, x.dtype(), [&](auto tag) {
    using U = decltype(tag);
    return CudaBroadcastMapRaw(ctx, stream->native(), indexing.plan, CudaIdentity{}, y.As<U>(),
                               x.As<U>() + indexing.base);
  });
}

Status RunSliceGrad(KernelContext& ctx) {
  const Blob& dy = ctx.in(0);
  const Blob& dx = ctx.out(0);
  OFL_ASSIGN_OR_RETURN(std::vector<AxisSlice> slices,
                       PieceSlices(ctx, ctx.attr().GetShape("shape"), dx.shape(), dy.shape()));
  OFL_ASSIGN_OR_RETURN(SliceIndexing indexing, SlicePlan(ctx, dx.shape(), dy.shape(), slices));
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  if (dx.ByteSize() > 0) {  // zero bits are zero in every dtype
    OFL_RETURN_IF_ERROR(CudaStatus(cudaMemsetAsync(dx.data, 0, dx.ByteSize(), stream->native()),
                                   "[" + ctx.op_name + "] cudaMemsetAsync"));
  }
  if (indexing.plan.count == 0) return Status::Ok();
  return DispatchBySize(ctx, dx.dtype(), [&](auto tag) {
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

// The simplified problem (Simplify of transpose_ops.cc): x has extents
// `dims`; y axis k is x axis perm[k]. Extent-1 axes are dropped and runs of
// y axes that are consecutive x axes merged.
struct TransposePlan {
  std::vector<int64_t> dims;
  std::vector<int> perm;
};

TransposePlan Simplify(const Shape& shape, const std::vector<int>& perm) {
  std::vector<int> new_index(shape.rank(), -1);
  std::vector<int64_t> dims;
  for (int axis = 0; axis < shape.rank(); ++axis) {
    if (shape[axis] == 1) continue;
    new_index[axis] = static_cast<int>(dims.size());
    dims.push_back(shape[axis]);
  }
  std::vector<int> kept;
  for (int axis : perm) {
    if (new_index[axis] >= 0) kept.push_back(new_index[axis]);
  }
  struct Group {
    int first;  // first x axis of the run
    int64_t extent;
  };
  std::vector<Group> groups;  // in y order
  for (size_t k = 0; k < kept.size(); ++k) {
    if (k > 0 && kept[k] == kept[k - 1] + 1) {
      groups.back().extent *= dims[kept[k]];
    } else {
      groups.push_back(Group{kept[k], dims[kept[k]]});
    }
  }
  std::vector<int> by_input(groups.size());
  for (size_t g = 0; g < groups.size(); ++g) by_input[g] = static_cast<int>(g);
  std::sort(by_input.begin(), by_input.end(),
            [&](int a, int b) { return groups[a].first < groups[b].first; });
  TransposePlan plan;
  plan.perm.resize(groups.size());
  for (size_t position = 0; position < by_input.size(); ++position) {
    plan.dims.push_back(groups[by_input[position]].extent);
    plan.perm[by_input[position]] = static_cast<int>(position);
  }
  return plan;
}

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
  const std::vector<int64_t>& given = ctx.attr().GetInts("perm");
  const int rank = x.shape().rank();
  std::vector<int> perm;
  for (int64_t axis : given) perm.push_back(static_cast<int>(axis < 0 ? axis + rank : axis));
  bool valid = static_cast<int>(perm.size()) == rank && y.shape().rank() == rank && x.dtype() == y.dtype();
  std::vector<bool> seen(rank, false);
  for (int k = 0; valid && k < rank; ++k) {
    valid = perm[k] >= 0 && perm[k] < rank && !seen[perm[k]] && y.shape()[k] == x.shape()[perm[k]];
    if (valid) seen[perm[k]] = true;
  }
  OFL_CHECK_OR_RETURN(valid) << "[" << ctx.op_name << "] cuda kernel: expected an output piece of x's piece "
                             << x.shape().ToString() << " permuted, got " << y.shape().ToString();
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  const int64_t count = x.NumElements();
  if (count == 0) return Status::Ok();
  const TransposePlan plan = Simplify(x.shape(), perm);
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
    return DispatchBySize(ctx, x.dtype(), [&](auto tag) {
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
  return DispatchBySize(ctx, x.dtype(), [&](auto tag) {
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

// y[i] = (accumulate ? y[i] : 0) + sum_k inputs[k][i], summed left to right
// in the compute type (float for 16-bit floats), as the CPU's AddN.
template <typename D>
__global__ void AddNKernel(AddNInputs<D> inputs, D* out, int64_t n, bool accumulate) {
  using C = CudaCompute<D>;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    C sum = accumulate ? ToCudaCompute<C>(out[i]) : ToCudaCompute<C>(inputs.pointers[0][i]);
    for (int k = accumulate ? 0 : 1; k < inputs.count; ++k) {
      sum = functors::Add{}(sum, ToCudaCompute<C>(inputs.pointers[k][i]));
    }
    out[i] = FromCudaCompute<D>(sum);
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
  return CudaDispatchStatus(ctx, NumericTypes{}, y.dtype(), [&](auto tag) {
    using D = CudaStorage<decltype(tag)>;
    // More than kAddNPerLaunch inputs go in several launches, the later ones
    // adding to y: exact for f32, f64 and integers; 16-bit sums are rounded
    // to the storage type between launches (the CPU keeps float throughout).
    const int total = static_cast<int>(ctx.inputs.size());
    for (int first = 0; first < total; first += kAddNPerLaunch) {
      AddNInputs<D> inputs;
      inputs.count = std::min(kAddNPerLaunch, total - first);
      for (int k = 0; k < inputs.count; ++k) inputs.pointers[k] = ctx.in(first + k).As<D>();
      AddNKernel<D><<<CudaGridFor(n), kCudaBlock, 0, stream->native()>>>(inputs, y.As<D>(), n, first > 0);
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

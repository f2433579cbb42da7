// Launchers for element-wise CUDA kernels (compiled by nvcc only), shared by
// the element-wise, layout, pipeline and fused families.
//
// Two kinds of map, each with one output and any number of inputs:
//   - same shape (CudaMapRaw / CudaMap): element i of the output from
//     element i of every input. When every pointer is 16-byte aligned the
//     threads move packs of 16 / (largest element size) elements with one
//     vector load or store per operand; the elements past the last whole
//     pack (and every element of a misaligned call) go one by one. The pack
//     loop uses no integer division, so it runs at copy bandwidth.
//   - broadcast (CudaBroadcastMapRaw / CudaBroadcastMap): output index ->
//     input offsets through per-axis strides (0 along broadcast axes), after
//     CudaBroadcastPlan has dropped extent-1 axes and merged neighbouring
//     axes that every operand reads alike. Index math runs in 32 bits when
//     the output has fewer than 2^31 elements.
//
// The *Raw variants hand the functor stored elements (CudaStorage types:
// __half, __nv_bfloat16, float, ...) and store what it returns; the plain
// variants convert to CudaCompute<D> first and back after, which is what
// math functors (ops/elementwise/functors.h) expect. Every launcher returns
// without synchronising, launches nothing for zero elements and reports the
// launch status naming ctx.op_name.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <initializer_list>
#include <type_traits>
#include <utility>
#include <vector>

#include "oneflow_like/shape.h"
#include "ops/common/cuda_helpers.cuh"

namespace ofl {

/// CudaDispatchOr for a `fn(T{})` that returns a Status: that status, or the
/// unsupported-dtype error.
template <typename List, typename Fn>
Status CudaDispatchStatus(const KernelContext& ctx, List list, DType dtype, Fn&& fn) {
  Status status = Status::Ok();
  OFL_RETURN_IF_ERROR(
      CudaDispatchOr(ctx, list, dtype, [&](auto tag) { static_cast<void>(status = fn(tag)); }));
  return status;
}

/// N consecutive elements of type D, aligned so that one access moves all of them.
template <typename D, int N>
struct alignas(sizeof(D) * N) CudaPack {
  D values[N];
};

/// Elements per pack for operands of the given storage types: 16 bytes of the widest.
template <typename... Ds>
constexpr int CudaPackSize() {
  size_t widest = 1;
  for (size_t size : {sizeof(Ds)...}) widest = size > widest ? size : widest;
  return static_cast<int>(16 / widest > 0 ? 16 / widest : 1);
}

/// Adapts a compute-type functor f(CudaCompute<DIn>...) to stored elements.
template <typename DOut, typename F, typename... DIn>
struct CudaComputeAdapter {
  F f;
  __device__ __forceinline__ DOut operator()(DIn... in) const {
    using COut = CudaCompute<DOut>;
    return FromCudaCompute<DOut>(static_cast<COut>(f(ToCudaCompute<CudaCompute<DIn>>(in)...)));
  }
};

namespace cuda_elementwise_internal {

inline bool Aligned16(const void* pointer) { return reinterpret_cast<uintptr_t>(pointer) % 16 == 0; }

// Packs [0, n / N) in vector accesses, then elements [n / N * N, n) one per
// thread. Requires every pointer 16-byte aligned when n >= N.
template <int N, typename F, typename DOut, typename... DIn>
__global__ void VectorMapKernel(int64_t n, F f, DOut* out, const DIn*... in) {
  const int64_t packs = n / N;  // N is a compile-time power of two: a shift
  const int64_t first = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t p = first; p < packs; p += stride) {
    CudaPack<DOut, N> result;
    // One vector load per input (the packs are taken by value), then N
    // scalar applications.
    [&](const auto... loaded) {
#pragma unroll
      for (int j = 0; j < N; ++j) result.values[j] = f(loaded.values[j]...);
    }(reinterpret_cast<const CudaPack<DIn, N>*>(in)[p]...);
    reinterpret_cast<CudaPack<DOut, N>*>(out)[p] = result;
  }
  const int64_t tail = packs * N + first;
  if (tail < n) out[tail] = f(in[tail]...);
}

// Element by element, for calls with a misaligned pointer.
template <typename F, typename DOut, typename... DIn>
__global__ void ScalarMapKernel(int64_t n, F f, DOut* out, const DIn*... in) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    out[i] = f(in[i]...);
  }
}

}  // namespace cuda_elementwise_internal

/// out[i] = f(in[i]...) for i in [0, n), f on stored elements (see top).
/// `out` may be one of the inputs (each element is read before it is written
/// by the same thread); partial overlaps are not allowed.
template <typename F, typename DOut, typename... DIn>
Status CudaMapRaw(const KernelContext& ctx, cudaStream_t stream, int64_t n, F f, DOut* out,
                  const DIn*... in) {
  using namespace cuda_elementwise_internal;
  if (n <= 0) return Status::Ok();
  constexpr int kPack = CudaPackSize<DOut, DIn...>();
  bool aligned = Aligned16(out);
  for (bool input_aligned : {true, Aligned16(in)...}) aligned = aligned && input_aligned;
  if (aligned) {
    const int64_t packs = n / kPack;
    // The tail (< kPack elements) is done by the first threads of the grid.
    const int64_t work = packs > n - packs * kPack ? packs : n - packs * kPack;
    VectorMapKernel<kPack><<<CudaGridFor(work), kCudaBlock, 0, stream>>>(n, f, out, in...);
  } else {
    ScalarMapKernel<<<CudaGridFor(n), kCudaBlock, 0, stream>>>(n, f, out, in...);
  }
  return CudaLaunchStatus(ctx);
}

/// out[i] = f(in[i]...) with f in the compute types (float for 16-bit floats).
template <typename F, typename DOut, typename... DIn>
Status CudaMap(const KernelContext& ctx, cudaStream_t stream, int64_t n, F f, DOut* out, const DIn*... in) {
  return CudaMapRaw(ctx, stream, n, CudaComputeAdapter<DOut, F, DIn...>{f}, out, in...);
}

/// Output extents and, per input, the stride (in elements) of each output
/// axis in that input: 0 where the input repeats. Built by CudaBroadcastPlan.
template <int K>
struct CudaBroadcastIndexing {
  CudaDims out_dims;
  CudaDims strides[K];
  int64_t count = 0;  ///< output elements
  int64_t span = 0;   ///< 1 + the largest offset any input is read at (0 when count is 0)

  /// Whether indices and offsets fit 32-bit math: below 2^31, so that a
  /// grid-stride step (< 2^21 with CudaGridFor's cap) cannot wrap either.
  bool FitsUint32() const { return count < (int64_t{1} << 31) && span < (int64_t{1} << 31); }

  /// The offset in input k of output element `index` (I: int64_t or uint32_t).
  template <typename I>
  __device__ __forceinline__ void Offsets(I index, I (&offsets)[K]) const {
#pragma unroll
    for (int k = 0; k < K; ++k) offsets[k] = 0;
    for (int axis = out_dims.rank - 1; axis >= 0; --axis) {
      const I extent = static_cast<I>(out_dims.d[axis]);
      const I next = index / extent;
      const I position = index - next * extent;
      index = next;
#pragma unroll
      for (int k = 0; k < K; ++k) offsets[k] += position * static_cast<I>(strides[k].d[axis]);
    }
  }
};

/// Plans a broadcast of K inputs to `out`: numpy rules (inputs aligned at
/// the last axis, missing leading axes and extent-1 axes repeat). Extent-1
/// output axes are dropped and neighbouring axes are merged where every
/// input reads them alike, so most calls end with rank 1 to 3. Fails, naming
/// the op, when an input does not broadcast to `out` or more than 8 axes
/// remain.
template <int K>
StatusOr<CudaBroadcastIndexing<K>> CudaBroadcastPlan(const KernelContext& ctx, const Shape& out,
                                                     const Shape* const (&inputs)[K]) {
  const int rank = out.rank();
  // Per input, the element stride of every output axis (0 = repeated).
  std::vector<std::vector<int64_t>> strides(K, std::vector<int64_t>(rank, 0));
  for (int k = 0; k < K; ++k) {
    const Shape& in = *inputs[k];
    const int lead = rank - in.rank();
    OFL_CHECK_OR_RETURN(lead >= 0) << "[" << ctx.op_name << "] cuda kernel: input " << k << " "
                                   << in.ToString() << " does not broadcast to " << out.ToString();
    int64_t stride = 1;
    for (int axis = in.rank() - 1; axis >= 0; --axis) {
      OFL_CHECK_OR_RETURN(in[axis] == 1 || in[axis] == out[axis + lead])
          << "[" << ctx.op_name << "] cuda kernel: input " << k << " " << in.ToString()
          << " does not broadcast to " << out.ToString();
      strides[k][axis + lead] = in[axis] == 1 ? 0 : stride;
      stride *= in[axis];
    }
  }
  // Keep the axes of extent > 1, merging axis `axis` into the kept axis
  // before it when, for every input, stepping the previous axis once equals
  // stepping this one across its whole extent.
  std::vector<int64_t> dims;
  std::vector<std::vector<int64_t>> kept(K);
  for (int axis = 0; axis < rank; ++axis) {
    if (out[axis] == 1) continue;
    bool merge = !dims.empty();
    for (int k = 0; merge && k < K; ++k) merge = kept[k].back() == strides[k][axis] * out[axis];
    if (merge) {
      dims.back() *= out[axis];
      for (int k = 0; k < K; ++k) kept[k].back() = strides[k][axis];
    } else {
      dims.push_back(out[axis]);
      for (int k = 0; k < K; ++k) kept[k].push_back(strides[k][axis]);
    }
  }
  OFL_CHECK_OR_RETURN(dims.size() <= 8)
      << "[" << ctx.op_name << "] cuda kernel: expected at most 8 axes after "
      << "merging, got " << dims.size() << " for output " << out.ToString();
  CudaBroadcastIndexing<K> plan;
  plan.count = out.NumElements();
  plan.span = plan.count;  // an input that broadcasts to out is no larger
  plan.out_dims.rank = static_cast<int>(dims.size());
  for (int k = 0; k < K; ++k) plan.strides[k].rank = plan.out_dims.rank;
  for (size_t axis = 0; axis < dims.size(); ++axis) {
    plan.out_dims.d[axis] = dims[axis];
    for (int k = 0; k < K; ++k) plan.strides[k].d[axis] = kept[k][axis];
  }
  return plan;
}

/// Indexing of one strided operand: element i of a row-major array of
/// extents `dims` sits at offset sum(index_k * strides[k]) (strides >= 0, in
/// elements). Extent-1 axes are dropped and axes merged where the strides
/// allow, so the rank limit of 8 applies after merging; fails naming the op.
/// Serves gathers (slice, transpose) through CudaBroadcastMapRaw and
/// scatters through Offsets.
inline StatusOr<CudaBroadcastIndexing<1>> CudaStridedIndexing(const KernelContext& ctx,
                                                              const std::vector<int64_t>& dims,
                                                              const std::vector<int64_t>& strides) {
  std::vector<int64_t> kept_dims, kept_strides;
  int64_t count = 1, span = 1;
  for (size_t axis = 0; axis < dims.size(); ++axis) {
    count *= dims[axis];
    if (dims[axis] == 1) continue;
    span += (dims[axis] - 1) * strides[axis];
    if (!kept_dims.empty() && kept_strides.back() == strides[axis] * dims[axis]) {
      kept_dims.back() *= dims[axis];
      kept_strides.back() = strides[axis];
    } else {
      kept_dims.push_back(dims[axis]);
      kept_strides.push_back(strides[axis]);
    }
  }
  OFL_CHECK_OR_RETURN(kept_dims.size() <= 8)
      << "[" << ctx.op_name << "] cuda kernel: expected at most 8 axes after merging, got "
      << kept_dims.size();
  CudaBroadcastIndexing<1> plan;
  plan.count = count;
  plan.span = count == 0 ? 0 : span;
  plan.out_dims.rank = plan.strides[0].rank = static_cast<int>(kept_dims.size());
  for (size_t axis = 0; axis < kept_dims.size(); ++axis) {
    plan.out_dims.d[axis] = kept_dims[axis];
    plan.strides[0].d[axis] = kept_strides[axis];
  }
  return plan;
}

/// The raw functor that copies its operand (gathers through a plan).
struct CudaIdentity {
  template <typename U>
  __device__ __forceinline__ U operator()(U value) const {
    return value;
  }
};

namespace cuda_elementwise_internal {

// out[i] = f(in_k[offsets[k]]...); Ks = 0, 1, ..., K-1 pairs each input
// with its offset (a __global__ template may have only one pack).
template <typename I, typename F, typename DOut, size_t... Ks, typename... DIn>
__device__ __forceinline__ void ApplyAt(std::index_sequence<Ks...>, const F& f, I i, const I* offsets,
                                        DOut* out, const DIn*... in) {
  out[i] = f(in[offsets[Ks]]...);
}

template <typename I, typename F, typename DOut, typename... DIn>
__global__ void BroadcastMapKernel(CudaBroadcastIndexing<sizeof...(DIn)> plan, F f, DOut* out,
                                   const DIn*... in) {
  constexpr int K = sizeof...(DIn);
  const I count = static_cast<I>(plan.count);
  for (I i = blockIdx.x * blockDim.x + threadIdx.x; i < count; i += gridDim.x * blockDim.x) {
    I offsets[K];
    plan.Offsets(i, offsets);
    ApplyAt(std::index_sequence_for<DIn...>{}, f, i, offsets, out, in...);
  }
}

}  // namespace cuda_elementwise_internal

/// out[i] = f(in_k[offset_k(i)]...) over a broadcast plan, f on stored elements.
/// `out` must not overlap any input that is read at a broadcast.
template <typename F, typename DOut, typename... DIn>
Status CudaBroadcastMapRaw(const KernelContext& ctx, cudaStream_t stream,
                           const CudaBroadcastIndexing<sizeof...(DIn)>& plan, F f, DOut* out,
                           const DIn*... in) {
  using namespace cuda_elementwise_internal;
  if (plan.count <= 0) return Status::Ok();
  if (plan.FitsUint32()) {
    BroadcastMapKernel<uint32_t><<<CudaGridFor(plan.count), kCudaBlock, 0, stream>>>(plan, f, out, in...);
  } else {
    BroadcastMapKernel<int64_t><<<CudaGridFor(plan.count), kCudaBlock, 0, stream>>>(plan, f, out, in...);
  }
  return CudaLaunchStatus(ctx);
}

/// The compute-type variant of CudaBroadcastMapRaw.
template <typename F, typename DOut, typename... DIn>
Status CudaBroadcastMap(const KernelContext& ctx, cudaStream_t stream,
                        const CudaBroadcastIndexing<sizeof...(DIn)>& plan, F f, DOut* out, const DIn*... in) {
  return CudaBroadcastMapRaw(ctx, stream, plan, CudaComputeAdapter<DOut, F, DIn...>{f}, out, in...);
}

/// out = f(a, b) with numpy broadcasting, f in the compute type: the vector
/// map when both shapes equal the output's, the broadcast map otherwise.
template <typename F, typename D>
Status CudaBinaryMap(const KernelContext& ctx, cudaStream_t stream, const Shape& out_shape, F f, D* out,
                     const D* a, const Shape& a_shape, const D* b, const Shape& b_shape) {
  if (a_shape == out_shape && b_shape == out_shape) {
    return CudaMap(ctx, stream, out_shape.NumElements(), f, out, a, b);
  }
  const Shape* const inputs[2] = {&a_shape, &b_shape};
  OFL_ASSIGN_OR_RETURN(CudaBroadcastIndexing<2> plan, CudaBroadcastPlan<2>(ctx, out_shape, inputs));
  return CudaBroadcastMap(ctx, stream, plan, f, out, a, b);
}

namespace cuda_elementwise_internal {

// Row r, unit j: dst[r * dst_pitch + j] = src[r * src_pitch + j] (in units U).
template <typename I, typename U>
__global__ void CopyRowsKernel(U* dst, int64_t dst_pitch, const U* src, int64_t src_pitch, int64_t rows,
                               int64_t row_units) {
  const I count = static_cast<I>(rows * row_units);
  const I width = static_cast<I>(row_units);
  for (I i = blockIdx.x * blockDim.x + threadIdx.x; i < count; i += gridDim.x * blockDim.x) {
    const I row = i / width;
    const I column = i - row * width;
    dst[row * static_cast<I>(dst_pitch) + column] = src[row * static_cast<I>(src_pitch) + column];
  }
}

}  // namespace cuda_elementwise_internal

/// Copies `rows` rows of `row_bytes` bytes each from `src` (rows
/// `src_pitch` bytes apart) to `dst` (rows `dst_pitch` bytes apart), in the
/// widest unit (16 to 1 bytes) that divides both addresses, both pitches and
/// the row: the blocks of concat/split and the strided rows of unpack/pack.
/// One cudaMemcpyAsync when the rows are contiguous on both sides. The
/// regions must not overlap.
inline Status CudaCopyRows(const KernelContext& ctx, cudaStream_t stream, void* dst, int64_t dst_pitch,
                           const void* src, int64_t src_pitch, int64_t rows, int64_t row_bytes) {
  using namespace cuda_elementwise_internal;
  if (rows <= 0 || row_bytes <= 0) return Status::Ok();
  if (rows == 1 || (dst_pitch == row_bytes && src_pitch == row_bytes)) {
    return CudaStatus(
        cudaMemcpyAsync(dst, src, static_cast<size_t>(rows * row_bytes), cudaMemcpyDeviceToDevice, stream),
        "[" + ctx.op_name + "] cudaMemcpyAsync");
  }
  const uint64_t bits = reinterpret_cast<uintptr_t>(dst) | reinterpret_cast<uintptr_t>(src) |
                        static_cast<uint64_t>(dst_pitch) | static_cast<uint64_t>(src_pitch) |
                        static_cast<uint64_t>(row_bytes);
  int64_t unit = 16;
  while (bits % unit != 0) unit /= 2;
  const int64_t count = rows * (row_bytes / unit);
  // The largest offset read or written, for the choice of 32-bit index math.
  const int64_t span = (rows - 1) * (dst_pitch > src_pitch ? dst_pitch : src_pitch) / unit + row_bytes / unit;
  const bool small = count < (int64_t{1} << 31) && span < (int64_t{1} << 31);
  auto launch = [&](auto unit_tag) {
    using U = decltype(unit_tag);
    U* d = static_cast<U*>(dst);
    const U* s = static_cast<const U*>(src);
    const int64_t dp = dst_pitch / unit, sp = src_pitch / unit, width = row_bytes / unit;
    if (small) {
      CopyRowsKernel<uint32_t><<<CudaGridFor(count), kCudaBlock, 0, stream>>>(d, dp, s, sp, rows, width);
    } else {
      CopyRowsKernel<int64_t><<<CudaGridFor(count), kCudaBlock, 0, stream>>>(d, dp, s, sp, rows, width);
    }
  };
  switch (unit) {
    case 16:
      launch(uint4{});
      break;
    case 8:
      launch(uint64_t{});
      break;
    case 4:
      launch(uint32_t{});
      break;
    case 2:
      launch(uint16_t{});
      break;
    default:
      launch(uint8_t{});
      break;
  }
  return CudaLaunchStatus(ctx);
}

}  // namespace ofl

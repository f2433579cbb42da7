// The row engine of the CUDA softmax, normalisation and loss kernels: each
// row of a [rows, cols] problem is reduced and rewritten by one "row group",
// a warp (cols <= 1024) or a whole block (longer rows), with the row cached
// in registers when it fits so it is read from global memory once.
//
// Element layout inside a group: thread `tid` of `threads` owns chunks
// c = 0, 1, ... of kVec neighbouring elements starting at column
// (c * threads + tid) * kVec. With kVec > 1 the host guarantees
// cols % kVec == 0 and that every row pointer is aligned to kVec elements,
// so a chunk is either wholly inside the row or wholly outside it and is
// loaded with one vector instruction. kChunks > 0 caches that many chunks
// per thread (the host guarantees cols <= kChunks * threads * kVec);
// kChunks == 0 re-reads global memory on every pass (rows too long to cache).
#pragma once

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <type_traits>
#include <utility>

#include "ops/common/cuda_helpers.cuh"
#include "ops/common/cuda_reduce.cuh"

namespace ofl {

/// Threads of a block-per-row group, and rows per block of the warp-per-row kernels.
constexpr int kRowBlockThreads = 1024;
constexpr int kRowWarpBlockThreads = 128;
/// Longest row served by one warp (the issue's threshold).
constexpr int64_t kRowWarpMaxCols = 1024;

/// The threads sharing one row and which rows they visit.
struct RowGroup {
  int tid;
  int threads;
  int64_t first;
  int64_t step;
};

template <bool kWarp>
__device__ __forceinline__ RowGroup RowGroupOf() {
  if constexpr (kWarp) {
    const int warps = blockDim.x >> 5;
    return RowGroup{static_cast<int>(threadIdx.x & 31), 32,
                    static_cast<int64_t>(blockIdx.x) * warps + (threadIdx.x >> 5),
                    static_cast<int64_t>(gridDim.x) * warps};
  } else {
    return RowGroup{static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x),
                    static_cast<int64_t>(blockIdx.x), static_cast<int64_t>(gridDim.x)};
  }
}

/// Reduces over the row group. Block groups synchronise: every thread of the
/// block must call it (the row loops are uniform over the block).
template <bool kWarp, typename C, typename Op>
__device__ __forceinline__ C GroupReduce(C value, Op op, C identity) {
  if constexpr (kWarp) {
    return WarpReduce(value, op);
  } else {
    return BlockReduce(value, op, identity);
  }
}

/// Maximum that skips NaN, as the CPU softmax and cross-entropy loops take it
/// (`max < value ? value : max`): a NaN then reaches the output through
/// exp(NaN - max) instead.
struct CudaNanSkippingMaxOp {
  template <typename C>
  __device__ __forceinline__ C operator()(C a, C b) const {
    return a < b ? b : a;
  }
};

/// Loads / stores kVec elements at `p` (aligned to kVec elements when kVec > 1).
template <int kVec, typename D, typename C>
__device__ __forceinline__ void LoadPack(const D* p, C (&out)[kVec]) {
  if constexpr (kVec == 1) {
    out[0] = ToCudaCompute<C>(p[0]);
  } else {
    struct alignas(sizeof(D) * kVec) Pack {
      D v[kVec];
    };
    const Pack pack = *reinterpret_cast<const Pack*>(p);
#pragma unroll
    for (int v = 0; v < kVec; ++v) out[v] = ToCudaCompute<C>(pack.v[v]);
  }
}
template <int kVec, typename D, typename C>
__device__ __forceinline__ void StorePack(D* p, const C (&in)[kVec]) {
  if constexpr (kVec == 1) {
    p[0] = FromCudaCompute<D>(in[0]);
  } else {
    struct alignas(sizeof(D) * kVec) Pack {
      D v[kVec];
    };
    Pack pack;
#pragma unroll
    for (int v = 0; v < kVec; ++v) pack.v[v] = FromCudaCompute<D>(in[v]);
    *reinterpret_cast<Pack*>(p) = pack;
  }
}

/// Calls f(c, base) for each chunk c of this thread that lies in the row,
/// base being its first column.
template <int kVec, int kChunks, typename F>
__device__ __forceinline__ void ForEachChunk(const RowGroup& group, int64_t cols, F&& f) {
  if constexpr (kChunks > 0) {
#pragma unroll
    for (int c = 0; c < kChunks; ++c) {
      const int64_t base = (static_cast<int64_t>(c) * group.threads + group.tid) * kVec;
      if (base < cols) f(c, base);
    }
  } else {
    for (int64_t base = static_cast<int64_t>(group.tid) * kVec; base < cols;
         base += static_cast<int64_t>(group.threads) * kVec) {
      f(0, base);
    }
  }
}

/// One row of storage type D seen in compute type C: cached in registers
/// when kChunks > 0, else read from global memory on each Fetch.
template <typename D, typename C, int kVec, int kChunks>
struct RowCache {
  const D* row;
  C cache[kChunks > 0 ? kChunks : 1][kVec];

  /// Reads this thread's chunks (no-op when uncached).
  __device__ __forceinline__ void Load(const RowGroup& group, int64_t cols) {
    if constexpr (kChunks > 0) {
      ForEachChunk<kVec, kChunks>(group, cols,
                                  [&](int c, int64_t base) { LoadPack<kVec>(row + base, cache[c]); });
    }
  }
  /// The values of chunk c (first column base).
  __device__ __forceinline__ void Fetch(int c, int64_t base, C (&out)[kVec]) const {
    if constexpr (kChunks > 0) {
#pragma unroll
      for (int v = 0; v < kVec; ++v) out[v] = cache[c][v];
    } else {
      LoadPack<kVec>(row + base, out);
    }
  }
};

/// How a row kernel is instantiated: warp or block groups, chunks cached
/// per thread, and vector width.
struct RowShape {
  bool warp = true;
  int chunks = 0;
  bool vector = false;
};

/// The vector width used for storage type D when rows allow it (16 bytes).
template <typename D>
constexpr int RowVectorWidth() {
  return static_cast<int>(16 / sizeof(D));
}

/// True when `pointer` is aligned to `bytes`.
inline bool IsAlignedTo(const void* pointer, size_t bytes) {
  return reinterpret_cast<uintptr_t>(pointer) % bytes == 0;
}

/// True when every pointer is 16-byte aligned (the vector loads of the row kernels).
inline bool AllAlignedTo16(std::initializer_list<const void*> pointers) {
  for (const void* pointer : pointers) {
    if (!IsAlignedTo(pointer, 16)) return false;
  }
  return true;
}

/// Picks the instantiation for rows of `cols` elements of D; `aligned` says
/// every row pointer the kernel vector-loads is 16-byte aligned.
template <typename D>
RowShape ChooseRowShape(int64_t cols, bool aligned) {
  constexpr int kWidth = RowVectorWidth<D>();
  RowShape shape;
  shape.vector = aligned && cols % kWidth == 0;
  const int vec = shape.vector ? kWidth : 1;
  // Cached elements per thread: 8 or 32 in a warp, 8 in a 1024-thread block.
  if (cols <= 32 * 8) {
    shape.warp = true;
    shape.chunks = 8 / vec > 0 ? 8 / vec : 1;
  } else if (cols <= kRowWarpMaxCols) {
    shape.warp = true;
    shape.chunks = 32 / vec;
  } else if (cols <= int64_t{kRowBlockThreads} * 8) {
    shape.warp = false;
    shape.chunks = 8 / vec > 0 ? 8 / vec : 1;
  } else {
    shape.warp = false;
    shape.chunks = 0;
  }
  return shape;
}

/// Calls launch(vec, chunks, warp) with std::integral_constant arguments for
/// the instantiation `shape` names (the cases ChooseRowShape produces), and
/// the grid / block to launch it with for `rows` rows.
template <typename D, typename Launch>
void DispatchRowShape(const RowShape& shape, int64_t rows, Launch&& launch) {
  constexpr int kWidth = RowVectorWidth<D>();
  using std::integral_constant;
  const int64_t warps_per_block = kRowWarpBlockThreads / 32;
  const int64_t cap = int64_t{132} * 32;
  const int64_t warp_blocks = (rows + warps_per_block - 1) / warps_per_block;
  const dim3 warp_grid(static_cast<unsigned int>(warp_blocks < cap ? warp_blocks : cap));
  const dim3 block_grid(static_cast<unsigned int>(rows < cap ? rows : cap));
  auto with_vec = [&](auto vec) {
    constexpr int kVec = decltype(vec)::value;
    constexpr int kSmall = 8 / kVec > 0 ? 8 / kVec : 1;
    if (shape.warp) {
      if (shape.chunks == kSmall) {
        launch(vec, integral_constant<int, kSmall>{}, std::true_type{}, warp_grid,
               dim3(kRowWarpBlockThreads));
      } else {
        launch(vec, integral_constant<int, 32 / kVec>{}, std::true_type{}, warp_grid,
               dim3(kRowWarpBlockThreads));
      }
    } else if (shape.chunks > 0) {
      launch(vec, integral_constant<int, kSmall>{}, std::false_type{}, block_grid, dim3(kRowBlockThreads));
    } else {
      launch(vec, integral_constant<int, 0>{}, std::false_type{}, block_grid, dim3(kRowBlockThreads));
    }
  };
  if (shape.vector) {
    with_vec(integral_constant<int, kWidth>{});
  } else {
    with_vec(integral_constant<int, 1>{});
  }
}

/// The statistics of one softmax row (see SoftmaxRow).
template <typename C>
struct SoftmaxStats {
  C max;
  C sum;
};

/// The softmax pass shared by softmax, log_softmax, causal_softmax and
/// sparse_softmax_cross_entropy, as their CPU loops compute it: over the
/// first `visible` columns, max = the NaN-skipping maximum of scale * x and
/// sum = sum of exp(scale * x - max); then yr[j] = exp(scale * x - max) / sum
/// (kLog: scale * x - (max + log sum)) for j < visible and 0 beyond.
/// scale == 1 and visible == cols give the plain softmax (1 * x == x
/// exactly, NaN and infinities included). Every thread of the group calls it.
template <bool kLog, bool kWarp, int kVec, int kChunks, typename D, typename C>
__device__ __forceinline__ SoftmaxStats<C> SoftmaxRow(const RowGroup& group,
                                                      const RowCache<D, C, kVec, kChunks>& xs, int64_t cols,
                                                      int64_t visible, C scale, D* yr) {
  const C lowest = -static_cast<C>(INFINITY);
  C max = lowest;
  ForEachChunk<kVec, kChunks>(group, cols, [&](int c, int64_t base) {
    C values[kVec];
    xs.Fetch(c, base, values);
#pragma unroll
    for (int v = 0; v < kVec; ++v) {
      if (base + v < visible) max = CudaNanSkippingMaxOp{}(max, scale * values[v]);
    }
  });
  max = GroupReduce<kWarp>(max, CudaNanSkippingMaxOp{}, lowest);
  C sum = 0;
  ForEachChunk<kVec, kChunks>(group, cols, [&](int c, int64_t base) {
    C values[kVec];
    xs.Fetch(c, base, values);
#pragma unroll
    for (int v = 0; v < kVec; ++v) {
      if (base + v < visible) sum += exp(scale * values[v] - max);
    }
  });
  sum = GroupReduce<kWarp>(sum, CudaSumOp{}, C(0));
  const C shift = max + log(sum);
  const C inverse = C(1) / sum;
  ForEachChunk<kVec, kChunks>(group, cols, [&](int c, int64_t base) {
    C values[kVec];
    xs.Fetch(c, base, values);
#pragma unroll
    for (int v = 0; v < kVec; ++v) {
      const C scaled = scale * values[v];
      values[v] = base + v >= visible ? C(0) : (kLog ? scaled - shift : exp(scaled - max) * inverse);
    }
    StorePack<kVec>(yr + base, values);
  });
  return SoftmaxStats<C>{max, sum};
}

/// The stream workspace as `count` elements of E, or an error naming the op
/// and the bytes it needs.
template <typename E>
StatusOr<E*> WorkspaceFor(const KernelContext& ctx, const CudaStream& stream, int64_t count) {
  const size_t bytes = static_cast<size_t>(count) * sizeof(E);
  OFL_CHECK_OR_RETURN(bytes <= stream.workspace_bytes())
      << "[" << ctx.op_name << "] cuda kernel: needs " << bytes
      << " bytes of stream workspace, the stream has " << stream.workspace_bytes();
  return static_cast<E*>(stream.workspace());
}

/// out[0] = zero ? 0 : (sum of partials[0, count)) / divisor, in one block
/// (second stage of the loss reductions). Launch with kRowBlockThreads threads.
template <typename D, typename C>
__global__ void __launch_bounds__(kRowBlockThreads)
    SumPartialsKernel(const C* partials, int64_t count, C divisor, bool zero, D* out) {
  C sum = 0;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) sum += partials[i];
  sum = BlockReduce(sum, CudaSumOp{}, C(0));
  if (threadIdx.x == 0) out[0] = FromCudaCompute<D>(zero ? C(0) : sum / divisor);
}

}  // namespace ofl

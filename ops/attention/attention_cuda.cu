// CUDA kernels of fused_causal_attention and fused_causal_attention_grad.
//
// Two paths, the same math as the CPU kernels of fused_attention_op.cc:
//
//  * Flash path: f16 and bf16 with Dh = 64 or 128 and 16-byte aligned
//    inputs. Tensor cores through nvcuda::wmma (16x16x16, f32 accumulators).
//    Blocks of 4 warps; tiles of kTile = 64 query rows and 64 keys; each warp
//    owns 16 rows of the block's tile.
//      forward:  one block per (b*h, query tile); loops over the key tiles
//                up to the causal diagonal (tiles wholly above it are never
//                loaded) with an online softmax (running max and sum in f32
//                per row); the output accumulator lives in shared memory
//                (f32) so rows can be rescaled; writes y and lse.
//      backward: D = rowsum(dy * y) by a small kernel into the stream
//                workspace; then two kernels that recompute p from q, k and
//                lse: one block per (b*h, key tile) accumulates dk and dv in
//                wmma registers over the query tiles that see the tile, and
//                one block per (b*h, query tile) accumulates dq over its key
//                tiles (a separate dq pass: no atomics, and no f32 dq buffer
//                that would not fit the 32 MiB workspace at real sizes).
//  * Generic path: every other case (f32, f64, other head dims, unaligned
//    pointers). One warp per query row (forward, dq) or key row (dk, dv),
//    no tensor cores, dot products reduced across the warp; the output
//    columns are produced kGenericChunk at a time (recomputing the scores
//    per chunk) so any Dh works without shared memory.
//
// Shared memory per block (bytes), Dh = 64 / 128:
//   forward  Q, K, V tiles (16-bit) + S (f32) + P (16-bit) + O (f32) + row
//            corrections: 65,792 / 106,752
//   dk, dv   K, V, Q, dY tiles + S^T, dP^T (f32) + P^T, dS^T (16-bit) + lse,
//            D + 4 store scratch tiles: 86,528 / 119,296
//   dq       Q, dY, K, V tiles + S, dP (f32) + dS (16-bit) + lse, D +
//            scratch: 78,336 / 111,104
// (computed by the Layout structs below; every kernel opts in to more than
// 48 KiB with cudaFuncSetAttribute).
#include <mma.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <type_traits>

#include "ops/attention/fused_attention.h"
#include "ops/common/cuda_helpers.cuh"
#include "ops/common/cuda_reduce.cuh"
#include "ops/cuda_kernels.h"

namespace ofl {

namespace {

namespace wmma = nvcuda::wmma;

constexpr int kWarp = 32;

__device__ __forceinline__ float DeviceExp(float x) { return expf(x); }
__device__ __forceinline__ double DeviceExp(double x) { return exp(x); }
__device__ __forceinline__ float DeviceLog(float x) { return logf(x); }
__device__ __forceinline__ double DeviceLog(double x) { return log(x); }

// p = exp(scale <q_i, k_j> - lse_i) and dS = p (<dy_i, v_j> - D_i) of one
// (query, key) pair, as the CPU kernel computes them; both 0 for a pair the
// mask hides. The hidden pair returns 0 rather than p * (dP - D) with p = 0:
// tiles hold keys a query never sees, and a non-finite dP there would turn
// the product into NaN where the CPU kernel never looks.
template <typename C>
struct GradientTerms {
  C p, dscore;
};
template <typename C>
__device__ __forceinline__ GradientTerms<C> GradientTermsOf(bool visible, C scaled_score, C dprob, C lse,
                                                            C delta) {
  if (!visible) return {C(0), C(0)};
  const C p = DeviceExp(scaled_score - lse);
  return {p, p * (dprob - delta)};
}

// ---- Generic path ------------------------------------------------------------

constexpr int kGenericWarps = 4;    // warps per block
constexpr int kGenericPerLane = 4;  // output columns per lane per chunk
constexpr int kGenericChunk = kWarp * kGenericPerLane;

// The row (query or key) of the calling warp: one warp per row.
__device__ __forceinline__ int64_t GenericWarpRow() {
  return int64_t{blockIdx.x} * kGenericWarps + threadIdx.x / kWarp;
}

// <a, b> over dh elements, summed across the warp (every lane gets the same
// bits: the xor butterfly adds the same pairs in every lane).
template <typename D, typename C>
__device__ __forceinline__ C WarpDot(const D* a, const D* b, int64_t dh, int lane) {
  C partial = 0;
  for (int64_t d = lane; d < dh; d += kWarp) partial += ToCudaCompute<C>(a[d]) * ToCudaCompute<C>(b[d]);
  return WarpReduce(partial, CudaSumOp{});
}

// Output columns [base, base + kGenericChunk) of one row, summed in C: lane
// l owns columns base + r * kWarp + l (r < kGenericPerLane) below dh.
template <typename C>
class ColumnChunk {
 public:
  __device__ ColumnChunk(int64_t base, int64_t dh, int lane) : base_(base), dh_(dh), lane_(lane) {}

  // sum += weight * row[columns].
  template <typename D>
  __device__ __forceinline__ void Add(C weight, const D* row) {
#pragma unroll
    for (int r = 0; r < kGenericPerLane; ++r) {
      const int64_t d = base_ + r * kWarp + lane_;
      if (d < dh_) sum_[r] += weight * ToCudaCompute<C>(row[d]);
    }
  }

  // row[columns] = sum * factor, rounded once to D.
  template <typename D>
  __device__ __forceinline__ void Store(D* row, C factor) const {
#pragma unroll
    for (int r = 0; r < kGenericPerLane; ++r) {
      const int64_t d = base_ + r * kWarp + lane_;
      if (d < dh_) row[d] = FromCudaCompute<D>(sum_[r] * factor);
    }
  }

 private:
  int64_t base_, dh_;
  int lane_;
  C sum_[kGenericPerLane] = {};
};

// One warp per query row: max, sum, then y chunk by chunk, as the CPU kernel
// (max ignores NaN scores; a NaN score still poisons the sum, y and lse).
template <typename D>
__global__ void __launch_bounds__(kGenericWarps* kWarp)
    GenericForwardKernel(const D* __restrict__ q, const D* __restrict__ k, const D* __restrict__ v,
                         D* __restrict__ y, CudaCompute<D>* __restrict__ lse, AttentionDims dims,
                         CudaCompute<D> scale) {
  using C = CudaCompute<D>;
  const int lane = threadIdx.x % kWarp;
  const int64_t row = GenericWarpRow();
  if (row >= dims.matrices * dims.tq) return;  // the whole warp leaves together
  const AttentionQueryRow at = AttentionQueryRow::Of(row, dims);
  const D* qr = q + at.q_offset;
  const D* km = k + at.kv_offset;
  const D* vm = v + at.kv_offset;
  const auto score = [&](int64_t j) { return scale * WarpDot<D, C>(qr, km + j * dims.dh, dims.dh, lane); };
  C max = -INFINITY;
  for (int64_t j = 0; j < at.visible; ++j) {
    const C s = score(j);
    if (s > max) max = s;
  }
  C sum = 0;
  for (int64_t j = 0; j < at.visible; ++j) sum += DeviceExp(score(j) - max);
  const C inverse = C(1) / sum;
  for (int64_t base = 0; base < dims.dh; base += kGenericChunk) {
    ColumnChunk<C> out(base, dims.dh, lane);
    for (int64_t j = 0; j < at.visible; ++j) out.Add(DeviceExp(score(j) - max), vm + j * dims.dh);
    out.Store(y + at.q_offset, inverse);
  }
  if (lane == 0) lse[row] = max + DeviceLog(sum);
}

// D_i = <dy_i, y_i> per query row, one warp per row (both paths).
template <typename D>
__global__ void __launch_bounds__(kGenericWarps* kWarp)
    RowDotKernel(const D* __restrict__ dy, const D* __restrict__ y, CudaCompute<D>* __restrict__ delta,
                 int64_t rows, int64_t dh) {
  using C = CudaCompute<D>;
  const int lane = threadIdx.x % kWarp;
  const int64_t row = GenericWarpRow();
  if (row >= rows) return;
  const C dot = WarpDot<D, C>(dy + row * dh, y + row * dh, dh, lane);
  if (lane == 0) delta[row] = dot;
}

// One warp per query row i: dq_i = scale sum_j p_ij (<dy_i, v_j> - D_i) k_j.
template <typename D>
__global__ void __launch_bounds__(kGenericWarps* kWarp)
    GenericGradQueryKernel(const D* __restrict__ q, const D* __restrict__ k, const D* __restrict__ v,
                           const CudaCompute<D>* __restrict__ lse, const D* __restrict__ dy,
                           const CudaCompute<D>* __restrict__ delta, D* __restrict__ dq, AttentionDims dims,
                           CudaCompute<D> scale) {
  using C = CudaCompute<D>;
  const int lane = threadIdx.x % kWarp;
  const int64_t row = GenericWarpRow();
  if (row >= dims.matrices * dims.tq) return;
  const AttentionQueryRow at = AttentionQueryRow::Of(row, dims);
  const D* qr = q + at.q_offset;
  const D* dyr = dy + at.q_offset;
  const D* km = k + at.kv_offset;
  const D* vm = v + at.kv_offset;
  for (int64_t base = 0; base < dims.dh; base += kGenericChunk) {
    ColumnChunk<C> dq_sum(base, dims.dh, lane);
    for (int64_t j = 0; j < at.visible; ++j) {
      const GradientTerms<C> terms =
          GradientTermsOf<C>(true, scale * WarpDot<D, C>(qr, km + j * dims.dh, dims.dh, lane),
                             WarpDot<D, C>(dyr, vm + j * dims.dh, dims.dh, lane), lse[row], delta[row]);
      dq_sum.Add(terms.dscore, km + j * dims.dh);
    }
    dq_sum.Store(dq + at.q_offset, scale);
  }
}

// One warp per key row j: dk_j = scale sum_i dS_ij q_i and dv_j = sum_i p_ij
// dy_i over the queries i that see j. A key no query sees (only when Tq ==
// 0) gets zeros.
template <typename D>
__global__ void __launch_bounds__(kGenericWarps* kWarp)
    GenericGradKeyValueKernel(const D* __restrict__ q, const D* __restrict__ k, const D* __restrict__ v,
                              const CudaCompute<D>* __restrict__ lse, const D* __restrict__ dy,
                              const CudaCompute<D>* __restrict__ delta, D* __restrict__ dk,
                              D* __restrict__ dv, AttentionDims dims, CudaCompute<D> scale) {
  using C = CudaCompute<D>;
  const int lane = threadIdx.x % kWarp;
  const int64_t row = GenericWarpRow();
  if (row >= dims.matrices * dims.tk) return;
  const int64_t matrix = row / dims.tk;
  const D* kr = k + row * dims.dh;
  const D* vr = v + row * dims.dh;
  const D* qm = q + matrix * dims.tq * dims.dh;
  const D* dym = dy + matrix * dims.tq * dims.dh;
  const int64_t first_query = FirstQuerySeeing(row % dims.tk, dims.tq, dims.tk);
  for (int64_t base = 0; base < dims.dh; base += kGenericChunk) {
    ColumnChunk<C> dk_sum(base, dims.dh, lane);
    ColumnChunk<C> dv_sum(base, dims.dh, lane);
    for (int64_t i = first_query; i < dims.tq; ++i) {
      const int64_t query_row = matrix * dims.tq + i;
      const GradientTerms<C> terms = GradientTermsOf<C>(
          true, scale * WarpDot<D, C>(qm + i * dims.dh, kr, dims.dh, lane),
          WarpDot<D, C>(dym + i * dims.dh, vr, dims.dh, lane), lse[query_row], delta[query_row]);
      dk_sum.Add(terms.dscore, qm + i * dims.dh);
      dv_sum.Add(terms.p, dym + i * dims.dh);
    }
    dk_sum.Store(dk + row * dims.dh, scale);
    dv_sum.Store(dv + row * dims.dh, C(1));
  }
}

// ---- Flash path (f16, bf16; Dh = 64 or 128) -----------------------------------

constexpr int kTile = 64;       // query rows and keys per tile
constexpr int kFlashWarps = 4;  // each warp owns kWarpRows rows of a tile
constexpr int kWarpRows = kTile / kFlashWarps;
constexpr int kFlashThreads = kFlashWarps * kWarp;
constexpr int kFragment = 16;  // wmma m = n = k

static_assert(kWarpRows == kFragment, "each warp owns one fragment row of the tile");

// Row r of a warp's [16][kTile] score block belongs to lanes 2r and 2r + 1,
// which take columns [0, 32) and [32, 64). The scores reach the lanes
// through shared memory (store_matrix_sync): the element layout of a wmma
// accumulator fragment is unspecified.
constexpr int kColumnsPerLane = kTile / 2;

OFL_HOST_DEVICE constexpr int64_t TilesOf(int64_t rows) { return (rows + kTile - 1) / kTile; }

template <typename D>
using FragmentA = wmma::fragment<wmma::matrix_a, kFragment, kFragment, kFragment, D, wmma::row_major>;
template <typename D>
using FragmentBRow = wmma::fragment<wmma::matrix_b, kFragment, kFragment, kFragment, D, wmma::row_major>;
template <typename D>
using FragmentBCol = wmma::fragment<wmma::matrix_b, kFragment, kFragment, kFragment, D, wmma::col_major>;
using FragmentAcc = wmma::fragment<wmma::accumulator, kFragment, kFragment, kFragment, float>;

// Byte offsets of the shared-memory buffers; every offset is a multiple of
// 256 so wmma pointers (which need 32-byte alignment) stay aligned.
constexpr size_t AlignUp(size_t bytes) { return (bytes + 255) / 256 * 256; }

template <int kHeadDim>
struct ForwardLayout {
  static constexpr size_t kTileBytes = size_t{kTile} * kHeadDim * 2;  // 16-bit [64][Dh]
  static constexpr size_t q = 0;
  static constexpr size_t k = q + kTileBytes;
  static constexpr size_t v = k + kTileBytes;
  static constexpr size_t scores = v + kTileBytes;                          // f32 [64][64]
  static constexpr size_t probs = scores + size_t{kTile} * kTile * 4;       // 16-bit [64][64]
  static constexpr size_t out = probs + size_t{kTile} * kTile * 2;          // f32 [64][Dh]
  static constexpr size_t correction = out + size_t{kTile} * kHeadDim * 4;  // f32 [64]
  static constexpr size_t bytes = AlignUp(correction + kTile * 4);
};

template <int kHeadDim>
struct KeyValueGradLayout {
  static constexpr size_t kTileBytes = size_t{kTile} * kHeadDim * 2;
  static constexpr size_t k = 0;
  static constexpr size_t v = k + kTileBytes;
  static constexpr size_t q = v + kTileBytes;
  static constexpr size_t dy = q + kTileBytes;
  static constexpr size_t scores_t = dy + kTileBytes;  // f32 [64 keys][64 queries]
  static constexpr size_t dprobs_t = scores_t + size_t{kTile} * kTile * 4;
  static constexpr size_t probs_t = dprobs_t + size_t{kTile} * kTile * 4;  // 16-bit
  static constexpr size_t dscores_t = probs_t + size_t{kTile} * kTile * 2;
  static constexpr size_t lse = dscores_t + size_t{kTile} * kTile * 2;  // f32 [64]
  static constexpr size_t delta = lse + kTile * 4;                      // f32 [64]
  static constexpr size_t scratch = AlignUp(delta + kTile * 4);         // f32 [4][16][16]
  static constexpr size_t bytes = AlignUp(scratch + size_t{kFlashWarps} * kFragment * kFragment * 4);
};

template <int kHeadDim>
struct QueryGradLayout {
  static constexpr size_t kTileBytes = size_t{kTile} * kHeadDim * 2;
  static constexpr size_t q = 0;
  static constexpr size_t dy = q + kTileBytes;
  static constexpr size_t k = dy + kTileBytes;
  static constexpr size_t v = k + kTileBytes;
  static constexpr size_t scores = v + kTileBytes;  // f32 [64 queries][64 keys]
  static constexpr size_t dprobs = scores + size_t{kTile} * kTile * 4;
  static constexpr size_t dscores = dprobs + size_t{kTile} * kTile * 4;  // 16-bit
  static constexpr size_t lse = AlignUp(dscores + size_t{kTile} * kTile * 2);
  static constexpr size_t delta = lse + kTile * 4;
  static constexpr size_t scratch = AlignUp(delta + kTile * 4);
  static constexpr size_t bytes = AlignUp(scratch + size_t{kFlashWarps} * kFragment * kFragment * 4);
};

static_assert(ForwardLayout<64>::bytes == 65792 && ForwardLayout<128>::bytes == 106752);
static_assert(KeyValueGradLayout<64>::bytes == 86528 && KeyValueGradLayout<128>::bytes == 119296);
static_assert(QueryGradLayout<64>::bytes == 78336 && QueryGradLayout<128>::bytes == 111104);
// The opt-in limit of sm_90 is 227 KiB per block.
static_assert(KeyValueGradLayout<128>::bytes <= 227 * 1024);

// The block's place: one block per (b*h matrix, tile), `tiles` tiles (of
// query rows or keys) per matrix; `start` is the tile's first row.
struct FlashBlock {
  int64_t matrix, start;
  int warp, lane;
};
__device__ __forceinline__ FlashBlock FlashBlockOf(int64_t tiles) {
  return FlashBlock{blockIdx.x / tiles, (blockIdx.x % tiles) * kTile, static_cast<int>(threadIdx.x / kWarp),
                    static_cast<int>(threadIdx.x % kWarp)};
}

// Copies rows [first, first + kTile) of a [limit][kHeadDim] matrix into a
// [kTile][kHeadDim] shared tile with 16-byte loads; rows >= limit become
// zeros. The whole block calls it. `source` is 16-byte aligned (checked by
// the host) and a row is kHeadDim * 2 bytes, a multiple of 16.
template <typename D, int kHeadDim>
__device__ __forceinline__ void LoadTile(D* tile, const D* source, int64_t first, int64_t limit) {
  constexpr int kVectorsPerRow = kHeadDim * 2 / 16;
  uint4* tile_vectors = reinterpret_cast<uint4*>(tile);
  for (int e = threadIdx.x; e < kTile * kVectorsPerRow; e += kFlashThreads) {
    const int r = e / kVectorsPerRow;
    const int c = e % kVectorsPerRow;
    const int64_t row = first + r;
    uint4 value = make_uint4(0, 0, 0, 0);
    if (row < limit) value = reinterpret_cast<const uint4*>(source + row * kHeadDim)[c];
    tile_vectors[e] = value;
  }
}

// The loop step of every flash kernel: waits until no warp reads the two
// tiles (or what `also_load` writes) any more, loads rows [first, first +
// kTile) of the two [limit][kHeadDim] matrices, runs `also_load()`, and
// waits until all of it is visible to every warp. The whole block calls it.
template <typename D, int kHeadDim, typename AlsoLoad>
__device__ __forceinline__ void ReloadTiles(D* tile_a, const D* source_a, D* tile_b, const D* source_b,
                                            int64_t first, int64_t limit, AlsoLoad also_load) {
  __syncthreads();
  LoadTile<D, kHeadDim>(tile_a, source_a, first, limit);
  LoadTile<D, kHeadDim>(tile_b, source_b, first, limit);
  also_load();
  __syncthreads();
}

// out[16][16 * n_blocks] (f32, ld = out_ld) = a[16][kDepth] b^T where b is
// stored [16 * n_blocks][kDepth] row-major: a row of a against a row of b.
template <typename D, int kDepth, int kBlocks>
__device__ __forceinline__ void MultiplyTransposed(const D* a, const D* b, float* out, int out_ld) {
#pragma unroll
  for (int n = 0; n < kBlocks; ++n) {
    FragmentAcc acc;
    wmma::fill_fragment(acc, 0.0f);
#pragma unroll
    for (int kk = 0; kk < kDepth / kFragment; ++kk) {
      FragmentA<D> a_fragment;
      FragmentBCol<D> b_fragment;
      wmma::load_matrix_sync(a_fragment, a + kk * kFragment, kDepth);
      // b^T as a col-major [kDepth][16] block: element (d, key) at key * kDepth + d.
      wmma::load_matrix_sync(b_fragment, b + n * kFragment * kDepth + kk * kFragment, kDepth);
      wmma::mma_sync(acc, a_fragment, b_fragment, acc);
    }
    wmma::store_matrix_sync(out + n * kFragment, acc, out_ld, wmma::mem_row_major);
  }
}

// acc[n] += a[16][kTile] (16-bit, ld kTile) b[kTile][kHeadDim] (row-major)
// for the kHeadDim / 16 column blocks n.
template <typename D, int kHeadDim>
__device__ __forceinline__ void AccumulateProduct(FragmentAcc (&acc)[kHeadDim / kFragment], const D* a,
                                                  const D* b) {
#pragma unroll
  for (int kk = 0; kk < kTile / kFragment; ++kk) {
    FragmentA<D> a_fragment;
    wmma::load_matrix_sync(a_fragment, a + kk * kFragment, kTile);
#pragma unroll
    for (int n = 0; n < kHeadDim / kFragment; ++n) {
      FragmentBRow<D> b_fragment;
      wmma::load_matrix_sync(b_fragment, b + kk * kFragment * kHeadDim + n * kFragment, kHeadDim);
      wmma::mma_sync(acc[n], a_fragment, b_fragment, acc[n]);
    }
  }
}

// Writes factor * acc (a warp's [16][kHeadDim] rows) to rows [first, first +
// 16) of a [limit][kHeadDim] output, skipping rows >= limit, through a
// [16][16] f32 scratch tile of this warp.
template <typename D, int kHeadDim>
__device__ __forceinline__ void StoreRows(const FragmentAcc (&acc)[kHeadDim / kFragment], float factor,
                                          float* scratch, D* out, int64_t first, int64_t limit, int lane) {
#pragma unroll
  for (int n = 0; n < kHeadDim / kFragment; ++n) {
    wmma::store_matrix_sync(scratch, acc[n], kFragment, wmma::mem_row_major);
    __syncwarp();
    for (int e = lane; e < kFragment * kFragment; e += kWarp) {
      const int64_t row = first + e / kFragment;
      if (row < limit)
        out[row * kHeadDim + n * kFragment + e % kFragment] = FromCudaCompute<D>(factor * scratch[e]);
    }
    __syncwarp();
  }
}

// The number of key tiles the query rows [query_start, query_start + kTile)
// below tq need: keys up to the last row's diagonal; tiles wholly above it
// are never loaded.
__device__ __forceinline__ int64_t KeyTilesFor(int64_t query_start, int64_t tq, int64_t tk) {
  const int64_t last_query = (query_start + kTile < tq ? query_start + kTile : tq) - 1;
  return TilesOf(VisibleKeys(last_query, tq, tk));
}

// Loads lse and D of query rows [first, first + kTile) (0 past tq).
__device__ __forceinline__ void LoadRowStatistics(float* lse_tile, float* delta_tile, const float* lse,
                                                  const float* delta, int64_t first, int64_t tq) {
  for (int e = threadIdx.x; e < kTile; e += kFlashThreads) {
    const int64_t row = first + e;
    lse_tile[e] = row < tq ? lse[row] : 0.0f;
    delta_tile[e] = row < tq ? delta[row] : 0.0f;
  }
}

template <typename D, int kHeadDim>
__global__ void __launch_bounds__(kFlashThreads)
    FlashForwardKernel(const D* __restrict__ q, const D* __restrict__ k, const D* __restrict__ v,
                       D* __restrict__ y, float* __restrict__ lse, AttentionDims dims, float scale) {
  using Layout = ForwardLayout<kHeadDim>;
  extern __shared__ __align__(256) unsigned char shared[];
  D* q_tile = reinterpret_cast<D*>(shared + Layout::q);
  D* k_tile = reinterpret_cast<D*>(shared + Layout::k);
  D* v_tile = reinterpret_cast<D*>(shared + Layout::v);
  float* scores = reinterpret_cast<float*>(shared + Layout::scores);
  D* probs = reinterpret_cast<D*>(shared + Layout::probs);
  float* out = reinterpret_cast<float*>(shared + Layout::out);
  float* correction = reinterpret_cast<float*>(shared + Layout::correction);

  const FlashBlock block = FlashBlockOf(TilesOf(dims.tq));
  const int64_t query_start = block.start;
  const D* km = k + block.matrix * dims.tk * kHeadDim;
  const D* vm = v + block.matrix * dims.tk * kHeadDim;

  LoadTile<D, kHeadDim>(q_tile, q + block.matrix * dims.tq * kHeadDim, query_start, dims.tq);
  for (int e = threadIdx.x; e < kTile * kHeadDim; e += kFlashThreads) out[e] = 0.0f;

  // This lane's row of the warp's block, and its half of the key columns.
  const int row = block.lane / 2;
  const int half = block.lane % 2;
  const int block_row = block.warp * kWarpRows + row;
  // A padding row (query >= tq) sees every key, so its scores stay finite;
  // it is never written.
  const int64_t query = query_start + block_row;
  const int64_t visible = VisibleKeys(query, dims.tq, dims.tk);
  float* warp_scores = scores + block.warp * kWarpRows * kTile;
  D* warp_probs = probs + block.warp * kWarpRows * kTile;
  float* warp_out = out + block.warp * kWarpRows * kHeadDim;
  const D* warp_q = q_tile + block.warp * kWarpRows * kHeadDim;
  float row_max = -INFINITY;
  float row_sum = 0.0f;

  // Every row of a real query sees key 0, so tile 0 gives it a finite
  // maximum unless its scores are themselves -inf or NaN (the CPU kernel
  // gives NaN there too).
  const int64_t key_tiles = KeyTilesFor(query_start, dims.tq, dims.tk);
  for (int64_t tile = 0; tile < key_tiles; ++tile) {
    const int64_t key_start = tile * kTile;
    // The first step also publishes the Q tile and the zeroed output.
    ReloadTiles<D, kHeadDim>(k_tile, km, v_tile, vm, key_start, dims.tk, [] {});

    MultiplyTransposed<D, kHeadDim, kTile / kFragment>(warp_q, k_tile, warp_scores, kTile);
    __syncwarp();

    // Online softmax on this lane's half row: masked keys (j >= visible,
    // padding keys included) score -inf. max ignores NaN as the CPU does.
    float* score_row = warp_scores + row * kTile + half * kColumnsPerLane;
    float tile_max = -INFINITY;
    for (int c = 0; c < kColumnsPerLane; ++c) {
      const int64_t key = key_start + half * kColumnsPerLane + c;
      const float s = key < visible ? scale * score_row[c] : -INFINITY;
      score_row[c] = s;
      if (s > tile_max) tile_max = s;
    }
    const float other_max = __shfl_xor_sync(0xffffffffu, tile_max, 1);
    if (other_max > tile_max) tile_max = other_max;
    const float new_max = tile_max > row_max ? tile_max : row_max;
    // Equal maxima (including -inf == -inf before any finite score) need no
    // rescale; exp(-inf - -inf) would be NaN.
    const float rescale = new_max == row_max ? 1.0f : expf(row_max - new_max);
    float tile_sum = 0.0f;
    D* prob_row = warp_probs + row * kTile + half * kColumnsPerLane;
    for (int c = 0; c < kColumnsPerLane; ++c) {
      const float p = expf(score_row[c] - new_max);
      prob_row[c] = FromCudaCompute<D>(p);
      tile_sum += p;
    }
    tile_sum += __shfl_xor_sync(0xffffffffu, tile_sum, 1);
    row_sum = row_sum * rescale + tile_sum;
    row_max = new_max;
    if (half == 0) correction[block_row] = rescale;
    __syncwarp();

    // The row-wise rescale goes through shared memory, not through fragment
    // elements (whose rows are unspecified).
    for (int e = block.lane; e < kWarpRows * kHeadDim; e += kWarp) {
      warp_out[e] *= correction[block.warp * kWarpRows + e / kHeadDim];
    }
    __syncwarp();
    FragmentAcc acc[kHeadDim / kFragment];
#pragma unroll
    for (int n = 0; n < kHeadDim / kFragment; ++n) {
      wmma::load_matrix_sync(acc[n], warp_out + n * kFragment, kHeadDim, wmma::mem_row_major);
    }
    AccumulateProduct<D, kHeadDim>(acc, warp_probs, v_tile);
#pragma unroll
    for (int n = 0; n < kHeadDim / kFragment; ++n) {
      wmma::store_matrix_sync(warp_out + n * kFragment, acc[n], kHeadDim, wmma::mem_row_major);
    }
    __syncwarp();
  }

  if (query < dims.tq) {
    const float inverse = 1.0f / row_sum;
    const float* out_row = warp_out + row * kHeadDim;
    D* y_row = y + (block.matrix * dims.tq + query) * kHeadDim;
    for (int c = half * (kHeadDim / 2); c < (half + 1) * (kHeadDim / 2); ++c) {
      y_row[c] = FromCudaCompute<D>(out_row[c] * inverse);
    }
    if (half == 0) lse[block.matrix * dims.tq + query] = row_max + logf(row_sum);
  }
}

// One block per (b*h, key tile): dk and dv of its 64 keys, accumulated in
// wmma registers over every query tile that sees one of them. Warp w owns
// keys [16w, 16w + 16) of the tile and works on transposed blocks
// (S^T = K Q^T, dP^T = V dY^T) so its rows are its keys.
template <typename D, int kHeadDim>
__global__ void __launch_bounds__(kFlashThreads)
    FlashGradKeyValueKernel(const D* __restrict__ q, const D* __restrict__ k, const D* __restrict__ v,
                            const float* __restrict__ lse, const D* __restrict__ dy,
                            const float* __restrict__ delta, D* __restrict__ dk, D* __restrict__ dv,
                            AttentionDims dims, float scale) {
  using Layout = KeyValueGradLayout<kHeadDim>;
  extern __shared__ __align__(256) unsigned char shared[];
  D* k_tile = reinterpret_cast<D*>(shared + Layout::k);
  D* v_tile = reinterpret_cast<D*>(shared + Layout::v);
  D* q_tile = reinterpret_cast<D*>(shared + Layout::q);
  D* dy_tile = reinterpret_cast<D*>(shared + Layout::dy);
  float* scores_t = reinterpret_cast<float*>(shared + Layout::scores_t);
  float* dprobs_t = reinterpret_cast<float*>(shared + Layout::dprobs_t);
  D* probs_t = reinterpret_cast<D*>(shared + Layout::probs_t);
  D* dscores_t = reinterpret_cast<D*>(shared + Layout::dscores_t);
  float* lse_tile = reinterpret_cast<float*>(shared + Layout::lse);
  float* delta_tile = reinterpret_cast<float*>(shared + Layout::delta);
  float* scratch = reinterpret_cast<float*>(shared + Layout::scratch);

  const FlashBlock block = FlashBlockOf(TilesOf(dims.tk));
  const int64_t key_start = block.start;
  const D* qm = q + block.matrix * dims.tq * kHeadDim;
  const D* dym = dy + block.matrix * dims.tq * kHeadDim;
  const float* lse_m = lse + block.matrix * dims.tq;
  const float* delta_m = delta + block.matrix * dims.tq;
  LoadTile<D, kHeadDim>(k_tile, k + block.matrix * dims.tk * kHeadDim, key_start, dims.tk);
  LoadTile<D, kHeadDim>(v_tile, v + block.matrix * dims.tk * kHeadDim, key_start, dims.tk);

  const int row = block.lane / 2;   // key row of the warp's block
  const int half = block.lane % 2;  // query columns [32 half, 32 half + 32)
  const int64_t key = key_start + block.warp * kWarpRows + row;
  float* warp_scores = scores_t + block.warp * kWarpRows * kTile;
  float* warp_dprobs = dprobs_t + block.warp * kWarpRows * kTile;
  D* warp_probs = probs_t + block.warp * kWarpRows * kTile;
  D* warp_dscores = dscores_t + block.warp * kWarpRows * kTile;
  const D* warp_k = k_tile + block.warp * kWarpRows * kHeadDim;
  const D* warp_v = v_tile + block.warp * kWarpRows * kHeadDim;

  FragmentAcc dk_acc[kHeadDim / kFragment];
  FragmentAcc dv_acc[kHeadDim / kFragment];
#pragma unroll
  for (int n = 0; n < kHeadDim / kFragment; ++n) {
    wmma::fill_fragment(dk_acc[n], 0.0f);
    wmma::fill_fragment(dv_acc[n], 0.0f);
  }

  // Query tiles before the one holding the first query that sees key_start
  // see none of this tile's keys. With Tq == 0 there is no query tile and
  // dk, dv are zeros.
  const int64_t query_tiles = TilesOf(dims.tq);
  for (int64_t tile = FirstQuerySeeing(key_start, dims.tq, dims.tk) / kTile; tile < query_tiles; ++tile) {
    const int64_t query_start = tile * kTile;
    // The first step also publishes the K and V tiles.
    ReloadTiles<D, kHeadDim>(q_tile, qm, dy_tile, dym, query_start, dims.tq, [&] {
      LoadRowStatistics(lse_tile, delta_tile, lse_m, delta_m, query_start, dims.tq);
    });

    MultiplyTransposed<D, kHeadDim, kTile / kFragment>(warp_k, q_tile, warp_scores, kTile);
    MultiplyTransposed<D, kHeadDim, kTile / kFragment>(warp_v, dy_tile, warp_dprobs, kTile);
    __syncwarp();

    for (int c = half * kColumnsPerLane; c < (half + 1) * kColumnsPerLane; ++c) {
      const int64_t query = query_start + c;
      // Padding keys (key >= tk) fail key < VisibleKeys(...) <= tk.
      const bool seen = query < dims.tq && key < VisibleKeys(query, dims.tq, dims.tk);
      const GradientTerms<float> terms =
          GradientTermsOf<float>(seen, scale * warp_scores[row * kTile + c], warp_dprobs[row * kTile + c],
                                 lse_tile[c], delta_tile[c]);
      warp_probs[row * kTile + c] = FromCudaCompute<D>(terms.p);
      warp_dscores[row * kTile + c] = FromCudaCompute<D>(terms.dscore);
    }
    __syncwarp();
    AccumulateProduct<D, kHeadDim>(dv_acc, warp_probs, dy_tile);
    AccumulateProduct<D, kHeadDim>(dk_acc, warp_dscores, q_tile);
  }

  float* warp_scratch = scratch + block.warp * kFragment * kFragment;
  const int64_t first_key = key_start + block.warp * kWarpRows;
  D* dk_m = dk + block.matrix * dims.tk * kHeadDim;
  D* dv_m = dv + block.matrix * dims.tk * kHeadDim;
  StoreRows<D, kHeadDim>(dk_acc, scale, warp_scratch, dk_m, first_key, dims.tk, block.lane);
  StoreRows<D, kHeadDim>(dv_acc, 1.0f, warp_scratch, dv_m, first_key, dims.tk, block.lane);
}

// One block per (b*h, query tile): dq of its 64 rows over the key tiles up
// to the causal diagonal. Warp w owns query rows [16w, 16w + 16).
template <typename D, int kHeadDim>
__global__ void __launch_bounds__(kFlashThreads)
    FlashGradQueryKernel(const D* __restrict__ q, const D* __restrict__ k, const D* __restrict__ v,
                         const float* __restrict__ lse, const D* __restrict__ dy,
                         const float* __restrict__ delta, D* __restrict__ dq, AttentionDims dims,
                         float scale) {
  using Layout = QueryGradLayout<kHeadDim>;
  extern __shared__ __align__(256) unsigned char shared[];
  D* q_tile = reinterpret_cast<D*>(shared + Layout::q);
  D* dy_tile = reinterpret_cast<D*>(shared + Layout::dy);
  D* k_tile = reinterpret_cast<D*>(shared + Layout::k);
  D* v_tile = reinterpret_cast<D*>(shared + Layout::v);
  float* scores = reinterpret_cast<float*>(shared + Layout::scores);
  float* dprobs = reinterpret_cast<float*>(shared + Layout::dprobs);
  D* dscores = reinterpret_cast<D*>(shared + Layout::dscores);
  float* lse_tile = reinterpret_cast<float*>(shared + Layout::lse);
  float* delta_tile = reinterpret_cast<float*>(shared + Layout::delta);
  float* scratch = reinterpret_cast<float*>(shared + Layout::scratch);

  const FlashBlock block = FlashBlockOf(TilesOf(dims.tq));
  const int64_t query_start = block.start;
  const D* km = k + block.matrix * dims.tk * kHeadDim;
  const D* vm = v + block.matrix * dims.tk * kHeadDim;
  LoadTile<D, kHeadDim>(q_tile, q + block.matrix * dims.tq * kHeadDim, query_start, dims.tq);
  LoadTile<D, kHeadDim>(dy_tile, dy + block.matrix * dims.tq * kHeadDim, query_start, dims.tq);
  LoadRowStatistics(lse_tile, delta_tile, lse + block.matrix * dims.tq, delta + block.matrix * dims.tq,
                    query_start, dims.tq);

  const int row = block.lane / 2;
  const int half = block.lane % 2;
  const int block_row = block.warp * kWarpRows + row;
  // A padding row (query >= tq) sees no key: its dS is 0.
  const int64_t query = query_start + block_row;
  const int64_t visible = query < dims.tq ? VisibleKeys(query, dims.tq, dims.tk) : 0;
  float* warp_scores = scores + block.warp * kWarpRows * kTile;
  float* warp_dprobs = dprobs + block.warp * kWarpRows * kTile;
  D* warp_dscores = dscores + block.warp * kWarpRows * kTile;
  const D* warp_q = q_tile + block.warp * kWarpRows * kHeadDim;
  const D* warp_dy = dy_tile + block.warp * kWarpRows * kHeadDim;

  FragmentAcc dq_acc[kHeadDim / kFragment];
#pragma unroll
  for (int n = 0; n < kHeadDim / kFragment; ++n) wmma::fill_fragment(dq_acc[n], 0.0f);

  const int64_t key_tiles = KeyTilesFor(query_start, dims.tq, dims.tk);
  for (int64_t tile = 0; tile < key_tiles; ++tile) {
    const int64_t key_start = tile * kTile;
    // The first step also publishes the Q, dY, lse and D tiles.
    ReloadTiles<D, kHeadDim>(k_tile, km, v_tile, vm, key_start, dims.tk, [] {});

    MultiplyTransposed<D, kHeadDim, kTile / kFragment>(warp_q, k_tile, warp_scores, kTile);
    MultiplyTransposed<D, kHeadDim, kTile / kFragment>(warp_dy, v_tile, warp_dprobs, kTile);
    __syncwarp();

    for (int c = half * kColumnsPerLane; c < (half + 1) * kColumnsPerLane; ++c) {
      const GradientTerms<float> terms =
          GradientTermsOf<float>(key_start + c < visible, scale * warp_scores[row * kTile + c],
                                 warp_dprobs[row * kTile + c], lse_tile[block_row], delta_tile[block_row]);
      warp_dscores[row * kTile + c] = FromCudaCompute<D>(terms.dscore);
    }
    __syncwarp();
    AccumulateProduct<D, kHeadDim>(dq_acc, warp_dscores, k_tile);
  }

  StoreRows<D, kHeadDim>(dq_acc, scale, scratch + block.warp * kFragment * kFragment,
                         dq + block.matrix * dims.tq * kHeadDim, query_start + block.warp * kWarpRows,
                         dims.tq, block.lane);
}

// ---- Host side -----------------------------------------------------------------

bool Aligned16(const void* pointer) { return reinterpret_cast<uintptr_t>(pointer) % 16 == 0; }

// The flash path (16-bit types only, chosen at compile time by the caller)
// takes Dh = 64 or 128 with loaded pointers that allow 16-byte vector loads.
bool UseFlash(int64_t dh, std::initializer_list<const void*> loaded) {
  if (dh != 64 && dh != 128) return false;
  for (const void* pointer : loaded) {
    if (!Aligned16(pointer)) return false;
  }
  return true;
}

// Launches `kernel` on `blocks` blocks (at least 1) of `threads`, opting in
// to `shared_bytes` of dynamic shared memory where that is over the 48 KiB
// default. gridDim.x is at most 2^31 - 1: larger calls are an error, not a
// wrapped grid.
template <typename... Params, typename... Args>
Status LaunchKernel(const KernelContext& ctx, void (*kernel)(Params...), int64_t blocks, int threads,
                    size_t shared_bytes, cudaStream_t stream, Args... args) {
  OFL_CHECK_OR_RETURN(blocks <= std::numeric_limits<int32_t>::max())
      << "[" << ctx.op_name << "] cuda kernel: " << blocks << " blocks exceed the grid limit 2^31 - 1";
  if (shared_bytes > 48 * 1024) {
    OFL_RETURN_IF_ERROR(CudaStatus(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                        static_cast<int>(shared_bytes)),
                                   "[" + ctx.op_name + "] cuda kernel: setting " +
                                       std::to_string(shared_bytes) + " bytes of shared memory"));
  }
  kernel<<<static_cast<unsigned int>(blocks), threads, shared_bytes, stream>>>(args...);
  return CudaLaunchStatus(ctx);
}

// One warp per row over `rows` rows.
int64_t GenericBlocks(int64_t rows) { return (rows + kGenericWarps - 1) / kGenericWarps; }

template <typename D, int kHeadDim>
Status LaunchFlashForward(const KernelContext& ctx, cudaStream_t stream, const D* q, const D* k, const D* v,
                          D* y, float* lse, const AttentionDims& dims, float scale) {
  return LaunchKernel(ctx, FlashForwardKernel<D, kHeadDim>, dims.matrices * TilesOf(dims.tq), kFlashThreads,
                      ForwardLayout<kHeadDim>::bytes, stream, q, k, v, y, lse, dims, scale);
}

template <typename D, int kHeadDim>
Status LaunchFlashBackward(const KernelContext& ctx, cudaStream_t stream, const D* q, const D* k, const D* v,
                           const float* lse, const D* dy, const float* delta, D* dq, D* dk, D* dv,
                           const AttentionDims& dims, float scale) {
  OFL_RETURN_IF_ERROR(LaunchKernel(
      ctx, FlashGradKeyValueKernel<D, kHeadDim>, dims.matrices * TilesOf(dims.tk), kFlashThreads,
      KeyValueGradLayout<kHeadDim>::bytes, stream, q, k, v, lse, dy, delta, dk, dv, dims, scale));
  if (dims.tq == 0) return Status::Ok();  // dq is empty
  return LaunchKernel(ctx, FlashGradQueryKernel<D, kHeadDim>, dims.matrices * TilesOf(dims.tq), kFlashThreads,
                      QueryGradLayout<kHeadDim>::bytes, stream, q, k, v, lse, dy, delta, dq, dims, scale);
}

template <typename D>
constexpr bool kSixteenBit = std::is_same_v<D, __half> || std::is_same_v<D, __nv_bfloat16>;

// Dispatches `launch(T{})` (host element type T) over the dtypes of the CPU
// kernels (FloatTypes); `launch` returns a Status, which CudaDispatchOr
// would drop.
template <typename Launch>
Status DispatchFloat(const KernelContext& ctx, DType dtype, Launch&& launch) {
  switch (dtype) {
    case DType::kF32:
      return launch(float{});
    case DType::kF64:
      return launch(double{});
    case DType::kF16:
      return launch(Float16{});
    case DType::kBF16:
      return launch(BFloat16{});
    default:
      return UnsupportedCudaDType(ctx, dtype);
  }
}

template <typename T>
Status ForwardFor(KernelContext& ctx, cudaStream_t stream, const AttentionDims& dims, double scale) {
  using D = CudaStorage<T>;
  using C = CudaCompute<D>;
  const D* q = reinterpret_cast<const D*>(ctx.in(0).As<T>());
  const D* k = reinterpret_cast<const D*>(ctx.in(1).As<T>());
  const D* v = reinterpret_cast<const D*>(ctx.in(2).As<T>());
  D* y = reinterpret_cast<D*>(ctx.out(0).As<T>());
  C* lse = ctx.out(1).As<C>();
  if constexpr (kSixteenBit<D>) {
    if (UseFlash(dims.dh, {q, k, v})) {
      const float s = static_cast<float>(scale);
      if (dims.dh == 64) return LaunchFlashForward<D, 64>(ctx, stream, q, k, v, y, lse, dims, s);
      return LaunchFlashForward<D, 128>(ctx, stream, q, k, v, y, lse, dims, s);
    }
  }
  return LaunchKernel(ctx, GenericForwardKernel<D>, GenericBlocks(dims.matrices * dims.tq),
                      kGenericWarps * kWarp, 0, stream, q, k, v, y, lse, dims, static_cast<C>(scale));
}

template <typename T>
Status BackwardFor(KernelContext& ctx, CudaStream* cuda_stream, const AttentionDims& dims, double scale) {
  using D = CudaStorage<T>;
  using C = CudaCompute<D>;
  const cudaStream_t stream = cuda_stream->native();
  const D* q = reinterpret_cast<const D*>(ctx.in(0).As<T>());
  const D* k = reinterpret_cast<const D*>(ctx.in(1).As<T>());
  const D* v = reinterpret_cast<const D*>(ctx.in(2).As<T>());
  const D* y = reinterpret_cast<const D*>(ctx.in(3).As<T>());
  const C* lse = ctx.in(4).As<C>();
  const D* dy = reinterpret_cast<const D*>(ctx.in(5).As<T>());
  D* dq = reinterpret_cast<D*>(ctx.out(0).As<T>());
  D* dk = reinterpret_cast<D*>(ctx.out(1).As<T>());
  D* dv = reinterpret_cast<D*>(ctx.out(2).As<T>());

  // D = rowsum(dy * y) lives in the stream workspace for the launches below.
  const int64_t rows = dims.matrices * dims.tq;
  const size_t delta_bytes = static_cast<size_t>(rows) * sizeof(C);
  OFL_CHECK_OR_RETURN(delta_bytes <= cuda_stream->workspace_bytes())
      << "[" << ctx.op_name << "] cuda kernel: needs " << delta_bytes
      << " bytes of stream workspace for rowsum(dy * y) of " << rows << " query rows, has "
      << cuda_stream->workspace_bytes();
  C* delta = static_cast<C*>(cuda_stream->workspace());
  if (rows > 0) {
    OFL_RETURN_IF_ERROR(LaunchKernel(ctx, RowDotKernel<D>, GenericBlocks(rows), kGenericWarps * kWarp, 0,
                                     stream, dy, y, delta, rows, dims.dh));
  }
  if constexpr (kSixteenBit<D>) {
    if (UseFlash(dims.dh, {q, k, v, dy})) {
      const float s = static_cast<float>(scale);
      if (dims.dh == 64) {
        return LaunchFlashBackward<D, 64>(ctx, stream, q, k, v, lse, dy, delta, dq, dk, dv, dims, s);
      }
      return LaunchFlashBackward<D, 128>(ctx, stream, q, k, v, lse, dy, delta, dq, dk, dv, dims, s);
    }
  }
  OFL_RETURN_IF_ERROR(LaunchKernel(ctx, GenericGradKeyValueKernel<D>, GenericBlocks(dims.matrices * dims.tk),
                                   kGenericWarps * kWarp, 0, stream, q, k, v, lse, dy, delta, dk, dv, dims,
                                   static_cast<C>(scale)));
  if (rows == 0) return Status::Ok();  // dq is empty
  return LaunchKernel(ctx, GenericGradQueryKernel<D>, GenericBlocks(rows), kGenericWarps * kWarp, 0, stream,
                      q, k, v, lse, dy, delta, dq, dims, static_cast<C>(scale));
}

Status FusedAttentionCuda(KernelContext& ctx) {
  const AttentionDims dims = AttentionDims::Of(ctx.in(0).shape(), ctx.in(1).shape());
  if (dims.matrices * dims.tq == 0) return Status::Ok();  // y and lse are empty
  OFL_ASSIGN_OR_RETURN(CudaStream * cuda_stream, CudaStreamOf(ctx));
  const double scale = ResolvedAttentionScale(ctx.attr().GetFloat("scale"), dims.dh);
  return DispatchFloat(ctx, ctx.in(0).dtype(), [&](auto tag) {
    return ForwardFor<decltype(tag)>(ctx, cuda_stream->native(), dims, scale);
  });
}

Status FusedAttentionGradCuda(KernelContext& ctx) {
  const AttentionDims dims = AttentionDims::Of(ctx.in(0).shape(), ctx.in(1).shape());
  // dk and dv empty means dq empty too (Tk == 0 forces Tq == 0; Dh == 0 empties all three).
  if (dims.matrices * dims.tk * dims.dh == 0) return Status::Ok();
  OFL_ASSIGN_OR_RETURN(CudaStream * cuda_stream, CudaStreamOf(ctx));
  const double scale = ResolvedAttentionScale(ctx.attr().GetFloat("scale"), dims.dh);
  return DispatchFloat(ctx, ctx.in(0).dtype(),
                       [&](auto tag) { return BackwardFor<decltype(tag)>(ctx, cuda_stream, dims, scale); });
}

}  // namespace

Status RegisterAttentionCudaKernels(KernelRegistry& kernels) {
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, kFusedCausalAttention, FloatTypes{}, FusedAttentionCuda));
  return RegisterCudaKernel(kernels, kFusedCausalAttentionGrad, FloatTypes{}, FusedAttentionGradCuda);
}

}  // namespace ofl

// What the CPU and CUDA kernels of fused_causal_attention and
// fused_causal_attention_grad share: the op names, the dimensions of a call,
// the scale rule, the causal visibility rule and the indexing of one query
// row. Kept in one header (usable from g++ C++20 and nvcc C++17; the
// OFL_HOST_DEVICE functions run on both sides) so the two backends cannot
// disagree on any of them.
#pragma once

#include <cmath>
#include <cstdint>

#include "oneflow_like/macros.h"
#include "oneflow_like/shape.h"

namespace ofl {

inline constexpr const char* kFusedCausalAttention = "fused_causal_attention";
inline constexpr const char* kFusedCausalAttentionGrad = "fused_causal_attention_grad";

/// The dimensions of one call, from q [B, H, Tq, Dh] and k [B, H, Tk, Dh].
/// Plain data, so CUDA kernels take it by value.
struct AttentionDims {
  int64_t matrices = 0;  // B * H
  int64_t tq = 0, tk = 0, dh = 0;
  static AttentionDims Of(const Shape& q, const Shape& k) {
    return AttentionDims{q[0] * q[1], q[2], k[2], q[3]};
  }
};

/// The score scale the kernels use: the attribute `scale`, or 1 / sqrt(Dh)
/// when it is 0 (the default). Dh == 0 (every score 0) takes 1 instead of
/// an infinite scale, so an empty head dimension gives a uniform softmax
/// rather than NaN.
inline double ResolvedAttentionScale(double scale_attr, int64_t head_dim) {
  if (scale_attr != 0.0) return scale_attr;
  return head_dim > 0 ? 1.0 / std::sqrt(static_cast<double>(head_dim)) : 1.0;
}

/// The number of keys query row `query` (0-based, of `tq`) sees among `tk`:
/// keys j <= query + (tk - tq), the mask of causal_softmax. With tq <= tk
/// every query sees at least one key; a row past tq (a padding row of a
/// CUDA tile) sees all tk.
OFL_HOST_DEVICE constexpr int64_t VisibleKeys(int64_t query, int64_t tq, int64_t tk) {
  const int64_t visible = query + (tk - tq) + 1;
  return visible < 0 ? 0 : (visible > tk ? tk : visible);
}

/// The first query row that sees key `key`, the inverse of VisibleKeys:
/// query i sees key j iff i >= j - (tk - tq).
OFL_HOST_DEVICE constexpr int64_t FirstQuerySeeing(int64_t key, int64_t tq, int64_t tk) {
  const int64_t first = key - (tk - tq);
  return first > 0 ? first : 0;
}

/// Query row `row` of the B * H * Tq rows of a call: its (b, h) matrix, its
/// position in the matrix, the keys it sees, and the element offsets of its
/// q (y, dy, dq) row and of its matrix of k and v.
struct AttentionQueryRow {
  int64_t matrix, query, visible;
  int64_t q_offset, kv_offset;
  OFL_HOST_DEVICE static AttentionQueryRow Of(int64_t row, const AttentionDims& dims) {
    const int64_t matrix = row / dims.tq;
    const int64_t query = row % dims.tq;
    return AttentionQueryRow{matrix, query, VisibleKeys(query, dims.tq, dims.tk), row * dims.dh,
                             matrix * dims.tk * dims.dh};
  }
};

}  // namespace ofl

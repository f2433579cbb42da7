// What the CPU and CUDA kernels of fused_causal_attention and
// fused_causal_attention_grad share: the op names, the scale rule and the
// causal visibility rule. Kept in one header so the two backends cannot
// disagree on either.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace ofl {

inline constexpr const char* kFusedCausalAttention = "fused_causal_attention";
inline constexpr const char* kFusedCausalAttentionGrad = "fused_causal_attention_grad";

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
/// every query sees at least one key.
inline int64_t VisibleKeys(int64_t query, int64_t tq, int64_t tk) {
  return std::clamp<int64_t>(query + (tk - tq) + 1, 0, tk);
}

}  // namespace ofl

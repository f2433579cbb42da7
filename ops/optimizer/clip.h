// Global-norm gradient clipping as a composite over an OpEmitter (no op of
// its own): the compiler sees ordinary ops and deduces their SBP.
//
//   s_i = reduce_sum(mul(g_i, g_i))          per gradient, over all axes -> []
//   scale = clip_scale(add_n(s_0, ..., s_n), max_norm)
//   g_i' = mul(g_i, scale)                    [] broadcast over g_i
//
// A fused kernel comes with the CUDA backend.
#pragma once

#include <vector>

#include "ops/op_schema.h"

namespace ofl {

/// The gradients scaled so that their global L2 norm is at most `max_norm`
/// (unchanged when it already is). All gradients share one floating-point
/// dtype; `max_norm` > 0.
StatusOr<std::vector<ValueRef>> ClipByGlobalNorm(OpEmitter& emitter, const std::vector<ValueRef>& grads,
                                                 double max_norm);

}  // namespace ofl

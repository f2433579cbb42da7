// Causal self-attention as a composite over an OpEmitter (no op of its
// own): the compiler sees ordinary ops, so the gradient, SBP deduction and
// a later fusion pass come for free.
//
//   scores = batch_matmul(q, k, transpose_b = true, alpha = 1 / sqrt(Dh))   [B, H, Tq, Tk]
//   probs  = causal_softmax(scores)                                         key j > i + Tk - Tq masked
//   y      = batch_matmul(probs, v)                                         [B, H, Tq, Dh]
//
// Splitting B or H (data or head parallel) keeps every op local; splitting
// Tq works too because causal_softmax masks by the logical query row.
// A fused kernel comes with the CUDA backend.
#pragma once

#include "oneflow_like/kernel.h"
#include "ops/op_schema.h"

namespace ofl {

/// softmax(q k^T / sqrt(Dh), causal mask) v for q [B, H, Tq, Dh] and k, v
/// [B, H, Tk, Dh] with Tq <= Tk (the queries are the last Tq positions).
/// Errors begin with "[causal_self_attention]".
StatusOr<ValueRef> CausalSelfAttention(OpEmitter& emitter, ValueRef q, ValueRef k, ValueRef v);

/// The fused attention ops (fused_causal_attention and its gradient).
Status RegisterAttentionOps(OpRegistry& ops, KernelRegistry& kernels);

}  // namespace ofl

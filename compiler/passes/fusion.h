// The `fusion` pass: rewrites two chains into the fused ops of ops/fused/,
// each of which reads and writes memory once where the chain did twice.
// Runs after SBP deduction and boxing insertion, so it rewrites nodes in
// place: the fused node keeps the replaced node's id, name, role,
// placement and output values (with their sbp), and reads each input with
// the NdSbp the replaced nodes read it with (Node::input_sbps), which the
// input value already carries. Rewrites:
//
// 1. bias_add + gelu (and gelu's backward), Megatron's fused bias-gelu:
//
//   before: %t  = bias_add(%x, %b){axis}                        forward
//           %y  = gelu(%t){approximate}                         forward
//           %dt = gelu_grad(%t, %dy){approximate}               backward (0 or
//           more)
//   after:  %y  = bias_add_gelu(%x, %b){axis, approximate}      (the gelu node)
//           %dt = bias_add_gelu_grad(%dy, %x, %b){axis, approximate}  (each
//           gelu_grad node) the bias_add node is removed: %t is no longer
//           stored between forward and backward; the backward recomputes x + b.
//
//   Fused only when every use of %t is that one gelu (input 0) or a
//   gelu_grad with the same `approximate` reading %t as its saved input,
//   %t is not fetched, not the loss and not a recorded gradient, and the
//   bias_add, gelu and gelu_grad nodes share one placement. A boxing node
//   reading %t (the intermediate changes layout), a second gelu, or any
//   other reader keeps the chain: %t must be materialised for that reader
//   anyway, so fusing would add the bias twice without saving the write.
//
// 2. The clipped Adam update, global-norm clipping's scaled gradient:
//
//   before: %g2 = mul(%g, %scale)            ([] scale from clip_scale)
//           adam_update(%p, %g2, %m, %v, %lr, %step){attrs}
//   after:  adam_update_scaled(%p, %g, %m, %v, %lr, %step, %scale){attrs}
//           (the adam_update node; the mul node is removed)
//
//   Fused only when %g2 has exactly that one use (not fetched, not the
//   loss), mul does not broadcast %g (mul(%scale, %g) is recognised too)
//   and both nodes share one placement. A %g2 in Partial layout reaches
//   adam_update through a boxing node, which is another use: not fused.
//
// When it hurts: the backward of rewrite 1 recomputes x + b (one add per
// element, hidden behind memory traffic on CPUs and GPUs alike), and it
// keeps x alive until the backward in place of t: the same bytes, so peak
// memory only drops where x is saved for another reader anyway. Rewrite 2
// never does more work than the chain.
//
// Linear in graph size: one ComputeUses, then O(uses) per candidate.
// Dead nodes this leaves are removed here; dead_node_elimination, which
// runs after fusion, finds nothing more from it.
#pragma once

#include <memory>

#include "compiler/passes/pass.h"

namespace ofl::compiler {

/// The `fusion` pass (bias_add + gelu, and mul + adam_update).
std::unique_ptr<Pass> MakeFusionPass();

}  // namespace ofl::compiler

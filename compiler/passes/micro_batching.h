// The `micro_batching` pass: gradient accumulation and the checks of
// pipeline stages (DESIGN.md section 5; ops/pipeline/pipeline.h).
//
// Stages (whenever a node carries Node::stage >= 0, with or without
// micro-batches): stages are numbered 0..S-1 with none empty, every stage's
// forward ops share one placement, no two stages share a device, and a
// forward op of stage s reads nothing computed (directly or through unstaged
// ops) in a later stage. Errors name the ops and stages, e.g.
//   "'head/matmul' (matmul) in stage 0 reads a value computed in stage 1
//    ('h3/add' (add)): in forward a stage may read only its own and earlier
//    stages"
//
// Micro-batches (the optimizer AttrMap's micro_batches M > 1):
//   - every input x read by an op becomes unpack(x; M): axis 0 is the batch
//     axis, split into M strided micro-batches;
//   - the micro-batch region is what depends on an input; a value computed
//     once per step (a variable, anything not depending on an input) read
//     inside it is read through repeat(value; M), whose gradient (autograd)
//     is acc: the per-micro-batch gradients are summed, once per step;
//   - ops of the region are re-inferred with the micro-batch shape; an
//     attribute `shape` (reshape, broadcast_to) of such an op has its axis 0
//     divided by M (axis 0 stays the batch axis throughout; an extent not
//     divisible by M is an error naming the op);
//   - a fetched value of the region is packed back to the whole batch
//     (pack), or, for a scalar, averaged over the micro-batches (floating
//     point: acc then * 1/M, the mean of a mean loss) or summed (integers);
//   - autograd then seeds the loss gradient with 1/M, so the summed gradient
//     is that of the mean loss over the whole batch.
// Lowering gives the region's actors acts_per_step = M (runtime/plan.h).
#pragma once

#include <memory>

#include "compiler/passes/pass.h"

namespace ofl::compiler {

/// The `micro_batching` pass.
std::unique_ptr<Pass> MakeMicroBatchingPass();

/// The optimizer AttrMap's micro_batches (1 when absent); an error names a
/// wrong type or value.
StatusOr<int64_t> MicroBatchesOf(const Graph& graph);

}  // namespace ofl::compiler

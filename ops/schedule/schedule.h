// Schedule ops: what the optimizer pass needs to drive training steps from
// inside the graph, so that a compiled plan needs no host-side step logic.
//
//   learning_rate_schedule(step: i64 []) -> learning_rate []
//       step is 1-based (the number of this update, as adam_update reads it):
//       linear warm-up  lr t / W               for t <= W (W = warmup_steps),
//       cosine decay    min + (lr - min) (1 + cos(pi u / D)) / 2, u = t - W,
//                                              for 0 <= u < D (D = decay_steps),
//       constant        min after the decay;   lr when D = 0.
//   increment(counter: i32|i64) -> (counter in place)
//       counter += 1; advances the step variable once per training step. It
//       has no outputs; the runtime orders it after every reader of the
//       counter in the step (ops/optimizer/optimizer.h).
#pragma once

#include "oneflow_like/kernel.h"
#include "ops/op_schema.h"

namespace ofl {

/// Registers learning_rate_schedule and increment.
Status RegisterScheduleOps(OpRegistry& ops, KernelRegistry& kernels);

/// The learning rate of 1-based step `step` under the schedule above; shared
/// by the kernel and by tests as the one definition of the formula.
double ScheduledLearningRate(int64_t step, double learning_rate, int64_t warmup_steps, int64_t decay_steps,
                             double min_learning_rate);

}  // namespace ofl

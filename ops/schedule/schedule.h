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

#include <cmath>
#include <cstdint>

#include "oneflow_like/kernel.h"
#include "oneflow_like/macros.h"
#include "ops/op_schema.h"

namespace ofl {

/// Registers learning_rate_schedule and increment.
Status RegisterScheduleOps(OpRegistry& ops, KernelRegistry& kernels);

/// The learning rate of 1-based step `step` (>= 1) under the schedule
/// above; the one definition of the formula, shared by the CPU and CUDA
/// kernels and by tests.
inline OFL_HOST_DEVICE double ScheduledLearningRate(int64_t step, double learning_rate, int64_t warmup_steps,
                                                    int64_t decay_steps, double min_learning_rate) {
  if (step <= warmup_steps) {
    // Step 1 already moves (lr / W): a warm-up that starts at exactly 0
    // would waste the first update.
    return learning_rate * static_cast<double>(step) / static_cast<double>(warmup_steps);
  }
  if (decay_steps == 0) return learning_rate;
  const int64_t since_warmup = step - warmup_steps;
  if (since_warmup >= decay_steps) return min_learning_rate;
  const double progress = static_cast<double>(since_warmup) / static_cast<double>(decay_steps);
  constexpr double kPi = 3.14159265358979323846;  // std::numbers::pi, which nvcc's C++17 lacks
  return min_learning_rate + (learning_rate - min_learning_rate) * 0.5 * (1.0 + std::cos(kPi * progress));
}

}  // namespace ofl

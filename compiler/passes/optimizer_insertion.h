// The `optimizer_insertion` pass: turns graph.gradients() into in-place
// parameter updates, configured by graph.optimizer().
//
// Runs when graph.gradients() is non-empty and no optimizer node exists yet
// (a graph parsed from compiled IR text already has its updates).
//
// Configuration keys (graph.optimizer(), written by api Minimize, see
// api/optimizer.h; a missing key takes its default;
// an unknown key, a wrong type or a bad value is an error naming the key):
//   kind              "sgd" | "adam" | "adamw"                 ("sgd")
//   learning_rate     peak learning rate, >= 0                 (0.001)
//   momentum          SGD momentum, >= 0                       (0)
//   beta1, beta2      Adam moment decays, in [0, 1)            (0.9, 0.999)
//   epsilon           Adam denominator term, >= 0              (1e-8)
//   weight_decay      >= 0: L2 for sgd/adam, decoupled for adamw (0)
//   clip_norm         global-norm clipping, > 0; 0 = none      (0)
//   warmup_steps      linear warm-up steps, >= 0               (0)
//   decay_steps       cosine decay steps after warm-up, >= 0   (0 = constant)
//   min_learning_rate end of the decay, in [0, learning_rate]  (0)
// Integer keys accept an integral float (Python passes numbers as floats).
//
// Emitted (role optimizer):
//   optimizer.step          variable i64 [] zeros, trainable=false: updates
//                           done so far; read by users and checkpoints.
//   step1 = scalar_add(optimizer.step, 1)            the 1-based step
//   lr    = learning_rate_schedule(step1) per parameter dtype when
//           warmup_steps or decay_steps is set, else fill(learning_rate)
//   clipping (clip_norm > 0): the ops of ClipByGlobalNorm (ops/optimizer/
//           clip.h), but each gradient's square-sum and scaling stay on
//           that gradient's placement (pipeline stages do not ship whole
//           gradients); the add_n and clip_scale run on the helper placement.
//   per trainable variable "<name>" (graph.gradients(), in value order):
//     sgd   : variable "<name>.momentum";     sgd_update(w, g, buf, lr)
//     adam* : variables "<name>.adam_m", "<name>.adam_v";
//             adam_update(w, g, m, v, lr, step1) (adamw: decoupled_weight_decay)
//     state variables: zeros, trainable=false, the parameter's placement and
//     sbp hint, so sharded parameters get sharded state.
//   increment(optimizer.step), emitted last: the runtime orders it after
//   every reader of the step.
// The scalar helpers (step, step1, learning rates, add_n and clip_scale of
// clipping) go on the placement of the first trainable variable (lowest
// value id): a [] tensor costs nothing to broadcast from there.
//
// graph.gradients() keeps the raw (unclipped) gradients.
//
// When it hurts: plain SGD (momentum 0) still keeps a momentum buffer,
// because sgd_update reads one (one parameter-sized tensor per variable).
#pragma once

#include <memory>

#include "compiler/passes/pass.h"

namespace ofl::compiler {

/// The `optimizer_insertion` pass.
std::unique_ptr<Pass> MakeOptimizerInsertionPass();

}  // namespace ofl::compiler

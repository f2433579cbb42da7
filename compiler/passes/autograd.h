// The `autograd` pass: emits the backward graph of graph.loss() through the
// ops' gradient rules (reverse-mode), and records the gradient of every
// trainable variable in graph.gradients().
//
// Runs when graph.loss() >= 0 and options.enable_training, once: a graph
// that already has gradients (e.g. parsed from compiled IR text) is left
// alone. The loss must be a floating-point scalar ([]).
//
//   before:                              after: the same, plus (role backward)
//     %0 = input() name "x"                %4 = fill() {shape=[], value=1.0} name "mse.grad/fill"
//     %1 = variable() name "w"             ... mse_loss's rule             name "mse.grad/..."
//     %2 = matmul(%0, %1) name "mm"        %9 = matmul(%0, %8) {transpose_a=true} name "mm.grad/matmul"
//     %3 = mse_loss(%2, %t) name "mse"     gradient %1 = %9
//     minimize %3
//
// Which nodes get a rule: those with an output that both depends on a
// trainable variable (variable nodes with attr trainable, default true)
// through floating-point values and that the loss depends on. Integer
// values carry no gradient. Each rule is emitted on the forward node's
// placement with name prefix "<forward node name>.grad". An output nobody
// differentiates gets zeros; a value with several uses gets one add_n of
// all contributions (not a chain: one op that SBP deduction and fusion see
// whole). A forward value's SBP hint is carried to its gradient (S(k) stays
// S(k), B and P become B): the user's hints at block boundaries thereby fix
// the backward layout too (Megatron's f/g). A node on such a path whose op has no gradient rule is an error
// naming the node. Boxing nodes pass their gradient through.
//
// When it hurts: every forward activation a rule reads stays alive until
// the backward pass (no rematerialisation), and a tensor with many uses
// sums all contributions at once, holding them all.
#pragma once

#include <memory>

#include "compiler/passes/pass.h"

namespace ofl::compiler {

/// The `autograd` pass.
std::unique_ptr<Pass> MakeAutogradPass();

}  // namespace ofl::compiler

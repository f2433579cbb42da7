// The text form of the logical IR, used by tests (IR text in, structure
// asserted), `ofl compile` (a saved job) and debugging. One line per node in
// topological order; values are renumbered %0, %1, ... in that order so
// that Print(Parse(Print(g))) == Print(g).
//
//   graph {
//     %0 = input() : (f32[8, 4] hint S(0)) on cpu:[0,1,2,3] mesh [4] name "x"
//     %1 = variable() {initializer="normal", seed=1, std=0.02, trainable=true}
//          : (f32[4, 16] hint B) on cpu:[0,1,2,3] mesh [4] name "fc1.weight"
//     %2 = matmul(%0, %1) {alpha=1.0, transpose_a=false, transpose_b=false}
//          : (f32[8, 16] sbp S(0)) on cpu:[0,1,2,3] mesh [4] reads (S(0), B)
//          role forward name "fc1/matmul"
//     adam_update(%1, %7, %8, %9, %10, %11) {...} : () on ... role optimizer name "..."
//     fetch "loss" = %5
//     minimize %5 {kind="adam", learning_rate=0.001}
//     gradient %1 = %7
//   }
//
// (each node is on one line; wrapped above for the page). Per output: dtype,
// shape, then optional `sbp NDSBP` (deduced) and `hint NDSBP`. `reads`
// lists the NdSbp each input is read with, once deduced. Attribute types
// follow the op schema where the op has one (so [] and [1, 2] parse as the
// declared list type); otherwise they are taken from the text. Lines
// starting with '#' are comments.
#pragma once

#include <string>

#include "compiler/ir/graph.h"
#include "ops/op_schema.h"

namespace ofl::compiler {

/// The text form of the live part of `graph`.
std::string PrintGraph(const Graph& graph);

/// Parses the text form. Registry ops are re-inferred and must match the
/// printed output types; errors name the line number and what was expected.
StatusOr<Graph> ParseGraph(const std::string& text, const OpRegistry& ops);

/// Parses "cpu:[0,1,2,3] mesh [2, 2]" (Placement::ToString's form).
StatusOr<Placement> ParsePlacement(const std::string& text);

}  // namespace ofl::compiler

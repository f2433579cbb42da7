// Physical lowering: the logical Graph, SBP deduced and boxing inserted,
// becomes a Plan (runtime/plan.h): one actor per live node per device of
// its placement, one register per actor holding a blob per output, and the
// feed, fetch and variable tables.
//
// Before (logical, two devices, data parallel):
//   %0 = input() : (f32[10, 4] sbp S(0)) on cpu:[0,1] mesh [2] name "x"
//   %1 = variable() {...} : (f32[4, 8] sbp B) on cpu:[0,1] mesh [2] name "w"
//   %2 = matmul(%0, %1) {...} : (f32[10, 8] sbp S(0)) on cpu:[0,1] mesh [2] reads (S(0), B) name "mm"
//   fetch "y" = %2
// After (physical):
//   a0 input x @cpu:0 -> r0 f32[5, 4] at [0, 0]     a1 input x @cpu:1 -> r1 f32[5, 4] at [5, 0]
//   a2 variable w @cpu:0 -> r2 (persistent)         a3 variable w @cpu:1 -> r3 (persistent)
//   a4 compute matmul @cpu:0 reads (r0, r2) -> r4   a5 compute matmul @cpu:1 reads (r1, r3) -> r5
//   a6 output y @cpu:0 reads r4                      a7 output y @cpu:1 reads r5
//   feed "x" (a0 [0:5, 0:4], a1 [5:10, 0:4]); fetch "y" combine copy (a6 [0:5, 0:8], a7 [5:10, 0:8])
//
// Rules, node by node in topological order:
// - input, variable: input / variable actors on the compute stream; a feed
//   or variable entry with one piece per device. Variable registers are
//   persistent. A Partial-sum layout feeds the value to the device at
//   coordinate 0 of every Partial mesh axis and zeros elsewhere.
// - registry ops: compute actors on the compute stream. Inputs named by the
//   op's OpSchema::mutated_inputs are written in place and must be a
//   variable's register (an update behind a boxing would update a copy).
// - boxing, by its attr "kind" (ClassifyBoxing when absent): identity makes
//   no actor (consumers read the input's registers); all_reduce,
//   reduce_scatter, all_gather and all_to_all make one collective actor per
//   device on the comm stream, grouped along the mesh axis ClassifyBoxing
//   names (the attr must agree with it); local_slice, keep_on_one and
//   general make one boxing copy actor per destination device on the copy
//   stream with the transfers of PlanRegionBoxing.
// - fetches: one output actor per piece needed (one copy of each Broadcast
//   replica; every Partial addend), combined by copy, sum or max.
//
// Preconditions (errors name the node): every input lies on its consumer's
// placement with the NdSbp the consumer reads (Node::input_sbps), i.e.
// boxing insertion ran; every value has an NdSbp (an empty one is taken as
// Broadcast only on single-device placements). Errors are not prefixed:
// Compile() adds "[physical_lowering]".
//
// Cost: linear in actors, registers and transfers (a collective of n
// devices has n inputs per actor, so n^2 per boxing node). When it hurts:
// every register has count 1, so stages of a pipeline cannot run ahead of
// each other until a register planning step raises counts on stage-crossing
// edges; and memory is one buffer per register, with no reuse between
// registers whose lifetimes do not overlap.
#pragma once

#include "compiler/ir/graph.h"
#include "runtime/plan.h"

namespace ofl::compiler {

/// Lowers a graph whose SBP is deduced and boxing inserted into a Plan.
StatusOr<Plan> LowerToPlan(const Graph& graph, const OpRegistry& ops);

}  // namespace ofl::compiler

// Boxing insertion (DESIGN.md section 4): makes every edge's layouts agree.
// After SBP deduction a node reads input i as (node.placement,
// node.input_sbps[i]); where its producer gives another (placement, NdSbp),
// a `boxing` node (graph.h) moves the value between them.
//
// Before:
//   y = matmul(x: S(1), w: S(0)) : P          on cpu:[0,1]
//   z = gelu(y) reads y as B                   on cpu:[0,1]
// After:
//   y.boxing_0 = boxing(y) {kind="all_reduce"} : B   (input_sbps = {P})
//   z = gelu(y.boxing_0)
//
// Contract:
//  - attrs: kind = BoxingKindName(ClassifyBoxing(...)); on a mesh of rank
//    >= 2, single-axis kinds also carry mesh_axis = the converted axis.
//  - One placement, several mesh axes to convert: where converting them one
//    axis at a time (first to last, else last to first) makes every step a
//    single-axis fast path, a chain of boxing nodes does it, e.g. the
//    gradient reduction of 2-D data parallelism
//      (P, P) -> (B, P) {all_reduce, mesh_axis=0} -> (B, B) {all_reduce, mesh_axis=1}
//    instead of one "general" node whose region plan sums every addend into
//    every device. Otherwise one node, usually "general".
//  - One boxing node per (value, target placement, target NdSbp), chain
//    steps included: every consumer that reads a value the same way shares
//    it.
//  - Its role is its consumer's; when consumers of different roles share it,
//    the earliest in topological order decides (forward before backward).
//  - Its name is "<producer node name>.boxing_<n>", n counting from 0 per
//    producer, skipping names already taken.
//  - Fetches are not boxed: the runtime assembles a fetched value's pieces
//    on the host from its own (placement, NdSbp).
//  - Boxing nodes already in the graph are left alone.
//
// When it hurts: each (value, target) is boxed on its own, so readers that
// want different layouts of one value do not share work (P -> B and
// P -> S(0) of one value each reduce), and layouts that consumers pass along
// a chain A -> B -> C are never shortened; the cost is what SBP deduction
// accepted.
#pragma once

#include <memory>
#include <vector>

#include "compiler/passes/pass.h"

namespace ofl::compiler {

/// The `boxing_insertion` pass.
std::unique_ptr<Pass> MakeBoxingInsertionPass();

/// The layouts a value passes through from (from_placement, from) to
/// (to_placement, to), ending with `to`: a chain of single-axis fast paths
/// where one exists (see above), else just {to}.
std::vector<NdSbp> BoxingSteps(const Placement& from_placement, const NdSbp& from,
                               const Placement& to_placement, const NdSbp& to);

}  // namespace ofl::compiler

// SBP deduction (DESIGN.md section 3): chooses how every logical tensor lies
// on its devices. Greedy, in topological order, over the boxing cost model
// of sbp/cost_model.h; user hints are constraints.
//
// Before (placements set, layouts unknown):
//   x = input f32[8, 4] on cpu:[0,1]          w = variable f32[4, 6] on cpu:[0,1]
//   y = matmul(x, w) on cpu:[0,1]
// After (Value::sbp and Node::input_sbps set):
//   x : S(0)   w : B   y = matmul(x: S(0), w: B) : S(0)
//
// Sources. input: its hint, else Split(0) on every mesh axis when its rank
// is >= 1 (data parallel by default: each device reads its share of the
// batch), Broadcast for scalars. variable: its hint, else Broadcast on every
// mesh axis (every device holds the whole parameter). boxing nodes already
// in the graph keep their layouts.
// Registry ops: the candidates are the op's 1-D signatures, one list per
// mesh axis for that axis's piece count (OpView::split_parts), expanded to
// the mesh (ExpandToNd); a tensor axis split by several mesh axes is kept
// only if the nested count is listed or every signature involved is valid
// for any count. Less those whose outputs contradict a Partial output hint
// (hints without Partial are materialised instead: the producer may run in
// a cheaper layout and boxing nodes named "<node>.hint" give readers the
// hinted value, e.g. a row-parallel matmul's P all-reduced into a hinted
// B: Megatron's g), less (for inputs the op writes in place, OpSchema::
// mutated_inputs) those that would read such an input in any (placement,
// layout) other than its producer's: a boxed copy would be updated instead
// of the variable. Cost of a candidate = sum over inputs of the bytes that
// boxing the producer's (placement, layout) into the node's (placement,
// candidate layout) moves. Least cost wins; ties prefer a candidate that
// needs no boxing at all, then one with fewer Partial outputs (a Partial
// output postpones a reduction that someone downstream pays for), then the
// op's list order (ops list their preferred signature first). A boxing an
// earlier reader already chose is free for later readers (one boxing node
// serves them all). On a mesh axis of extent 1 every layout is written B.
//
// When it hurts: greedy is myopic. It cannot pay a little now to save a lot
// later (e.g. all-gathering early to avoid two later all-reduces), and the
// cost model's "S->P and B->P cost nothing" can make Partial layouts spread
// until a nonlinear op forces the reduction. The candidate functions below
// are what a global (auto-parallel) search would reuse.
#pragma once

#include <memory>
#include <vector>

#include "compiler/passes/pass.h"
#include "sbp/signature.h"

namespace ofl::compiler {

/// The `sbp_deduction` pass.
std::unique_ptr<Pass> MakeSbpDeductionPass();

/// One way a registry-op node can run, costed against its producers' layouts.
struct SbpCandidate {
  NdSbpSignature signature;   ///< one NdSbp per input and per output
  double cost = 0;            ///< bytes boxing moves to feed the inputs
  bool needs_boxing = false;  ///< some input differs from its producer's (placement, NdSbp)
  int partial_outputs = 0;    ///< outputs Partial on some mesh axis
  int list_index = 0;         ///< position in the op's expanded signature list
};

/// The layout of an input or variable node: its hint (checked), else the
/// default described at the top of this file.
StatusOr<NdSbp> SourceSbp(const Graph& graph, const Node& node);

/// Bytes moved to feed `node`'s inputs with `input_sbps` from their
/// producers' current (placement, NdSbp); `needs_boxing` (if not null)
/// receives whether any input must be boxed at all.
double InputBoxingCost(const Graph& graph, const Node& node, const std::vector<NdSbp>& input_sbps,
                       bool* needs_boxing = nullptr);

/// The legal candidates of registry-op `node` (output hints and the in-place
/// rule applied), costed against its producers' current layouts. Errors name
/// the node, the hint and the signatures available.
StatusOr<std::vector<SbpCandidate>> LegalSbpCandidates(const Graph& graph, const Node& node,
                                                       const OpRegistry& ops);

/// The candidate greedy deduction picks (an index into `candidates`, which
/// must not be empty): least cost, then no boxing, then fewer Partial
/// outputs, then list order.
size_t ChooseSbpCandidate(const std::vector<SbpCandidate>& candidates);

}  // namespace ofl::compiler

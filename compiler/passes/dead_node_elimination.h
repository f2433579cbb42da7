// The `dead_node_elimination` pass: removes nodes whose results nobody
// needs.
//
// Kept: every input and variable node (the user feeds and reads them by
// name, used or not), and every node that one of these depends on:
//   - the fetches and the loss;
//   - nodes that write an input in place (OpSchema::mutated_inputs: the
//     optimizer updates, increment) and any other node without outputs or
//     whose op is not in the registry (their effect is not visible in the
//     graph, so they are kept as side effects).
// Everything else is removed (Graph::RemoveNode). Entries of
// graph.gradients() whose gradient was removed (nothing read it) are
// dropped, so the map never names a removed value.
//
//   before: %2 = relu(%0) name "unused"; %3 = matmul(%0, %1); fetch "y" = %3
//   after:  %3 = matmul(%0, %1); fetch "y" = %3
//
// When it hurts: never for results; a gradient that only the user wants must
// be fetched to survive.
#pragma once

#include <memory>

#include "compiler/passes/pass.h"

namespace ofl::compiler {

/// The `dead_node_elimination` pass.
std::unique_ptr<Pass> MakeDeadNodeEliminationPass();

}  // namespace ofl::compiler

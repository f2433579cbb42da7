// The `shape_inference` pass: re-checks the whole graph against the op
// schemas, so that a graph from any source (GraphBuilder, parsed IR text, a
// rewrite by an earlier pass) enters the rest of the pipeline consistent.
//
// It changes no structure. For every live node, in topological order:
//   registry op : OpRegistry::Infer on the input descriptions and attrs must
//                 succeed and give exactly the stored output descriptions;
//                 the node's attrs are replaced by the complete (defaults
//                 filled) set Infer returns.
//   input, variable : no inputs, one output.
//   boxing      : one input, one output of the same description (boxing
//                 moves data between layouts; it never changes a tensor).
//
//   before: %2 = matmul(%0, %1) : (f32[8, 16])      after: unchanged, or
//   error "'fc1/matmul' (matmul): output 0: expected f32[8, 32] (inferred), found f32[8, 16]"
//
// Cost: one Infer per node; it never hurts beyond that time.
#pragma once

#include <memory>

#include "compiler/passes/pass.h"

namespace ofl::compiler {

/// The `shape_inference` pass.
std::unique_ptr<Pass> MakeShapeInferencePass();

}  // namespace ofl::compiler

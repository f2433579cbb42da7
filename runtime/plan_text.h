// The readable text form of a Plan, for people and for tests ("the plan
// has an all_reduce actor on each device"). Deterministic: the same plan
// always prints the same text, and it prints every field (attribute values
// in AttrValueToString's form). Not parsed back: plan.pb is the saved form.
//
//   plan {
//     node n0 "x" input role forward {}
//     node n2 "fc/matmul" matmul role forward {alpha=1.0, transpose_a=false, transpose_b=false}
//     actor a0 input n0 on cpu:0 stream compute reads () produces r0
//     actor a4 compute n2 on cpu:0 stream compute reads (r0.0, r2.0) produces r4
//     actor a6 collective n3 on cpu:0 stream comm reads (r4.0, r5.0) produces r6
//         all_reduce axis 0 group (a6, a7) rank 0 fill sum
//     actor a8 boxing_copy n4 on cpu:1 stream copy reads (r4.0) produces r8
//         fill copy transfers (in0 [0:5, 0:4] copy)
//     register r0 on cpu:0 producer a0 count 1 bytes 80 consumers (a4)
//         blobs (f32[5, 4] at [0, 0] of [10, 4] +0)
//     feed "x" f32[10, 4] pieces (a0 r0.0 [0:5, 0:4], a1 r1.0 [5:10, 0:4])
//     fetch "y" f32[10, 16] combine copy pieces (a9 r4.0 [0:5, 0:16], ...)
//     variable "w" f32[4, 16] {initializer="normal", ...} pieces (a2 r2.0 [0:4, 0:16], ...)
//   }
//
// (one line per entry; wrapped above for the page). In-place inputs print
// as "r1.0 inplace", zero-initialised pieces end with "zeros". Actors acting
// more than once per step (micro-batches) print "acts M" after what they
// produce; accumulated registers print "accumulated" after their byte size.
#pragma once

#include <string>

#include "runtime/plan.h"

namespace ofl {

/// The text form of `plan`.
std::string PlanToText(const Plan& plan);

}  // namespace ofl

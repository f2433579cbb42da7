// The boxing cost model: bytes that cross device boundaries to turn a
// tensor from one (placement, SBP) into another, summed over all devices.
// SBP deduction minimises it; benchmarks and `ofl compile` report it.
//
// 1-D, same placement of n devices, logical size T bytes (ring algorithms):
//   same SBP, B->S, B->P, S->P        0           (local slice / zero-fill)
//   S->B  all-gather                  (n-1) T
//   P->S  reduce-scatter              (n-1) T
//   P->B  all-reduce                  2 (n-1) T
//   S(i)->S(j) all-to-all             (n-1) T / n
//   P(sum)<->P(max)                   2 (n-1) T   (all-reduce then keep)
// N-D: the mesh dimensions that differ are converted one after another;
// along dimension k the tensor moves in (N / h_k) independent groups of
// h_k devices, each on the piece left by the splits of the other dimensions.
// Different placements: every destination piece is sent whole from the
// source (summed over all partial sources): an upper bound that the general
// region-intersection algorithm meets.
#pragma once

#include <cstdint>

#include "oneflow_like/placement.h"
#include "oneflow_like/tensor_desc.h"
#include "sbp/sbp.h"

namespace ofl {

/// Total bytes moved to box `logical_bytes` from `from` to `to` across
/// `devices` devices of one 1-D placement.
double BoxingCost1D(const Sbp& from, const Sbp& to, double logical_bytes, int64_t devices);

/// Total bytes moved to box `desc` from (from_placement, from_sbp) to
/// (to_placement, to_sbp). The NdSbps must fit their placements.
double BoxingCost(const TensorDesc& desc, const Placement& from_placement, const NdSbp& from_sbp,
                  const Placement& to_placement, const NdSbp& to_sbp);

}  // namespace ofl

// Host-memory helpers of the CPU runtime: fill a blob with the identity of a
// combine mode and combine a logical region of one blob into another. Boxing
// copy actors, collectives (as copy programs), fetch assembly and variable
// reads all go through these, so every path combines the same way.
#pragma once

#include "oneflow_like/blob.h"
#include "oneflow_like/region.h"
#include "runtime/plan.h"

namespace ofl::runtime {

/// Fills `blob` with the identity of `mode`: 0 for kSum, the lowest value of
/// the dtype for kMax; kCopy leaves it untouched (transfers overwrite it).
void FillIdentity(const Blob& blob, CombineMode mode);

/// Combines the logical region `what` of `src` (holding `src_region`) into
/// `dst` (holding `dst_region`) with `mode`; `what` lies inside both.
void CombineRegion(const Blob& src, const Region& src_region, const Blob& dst, const Region& dst_region,
                   const Region& what, CombineMode mode);

}  // namespace ofl::runtime

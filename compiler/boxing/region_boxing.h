// The general boxing algorithm (DESIGN.md section 4.1): for each destination
// piece, intersect its logical region with the source pieces and copy (or
// add, for Partial sources) the overlaps. Plain data out; the physical
// lowering turns the transfers into copy actors and a CPU runtime can run
// them with CopyRegion.
#pragma once

#include <vector>

#include "oneflow_like/placement.h"
#include "oneflow_like/region.h"
#include "oneflow_like/status.h"
#include "oneflow_like/tensor_desc.h"
#include "sbp/sbp.h"

namespace ofl::compiler {

/// How a transfer combines with what the destination already holds.
enum class TransferMode : int8_t {
  kCopy,  ///< overwrite
  kSum,   ///< add (Partial-sum sources)
  kMax,   ///< maximum (Partial-max sources)
};

/// Move the logical `region` from source device `src_device` (index into
/// the source placement) to destination device `dst_device` (index into the
/// destination placement).
struct BoxingTransfer {
  int src_device = 0;
  int dst_device = 0;
  Region region;  ///< logical coordinates
  TransferMode mode = TransferMode::kCopy;
};

/// The whole move. Every destination piece starts filled with `initial`
/// per device (0 for sum, -inf for max, nothing to do for copy-covered
/// pieces) and then receives its transfers in order.
struct RegionBoxing {
  std::vector<BoxingTransfer> transfers;
  /// Per destination device: fill its piece with the identity of
  /// `fill_mode` before the transfers (kCopy = no fill needed).
  std::vector<TransferMode> fill_mode;
  /// Per destination device: the logical region it holds.
  std::vector<Region> dst_regions;
  /// Per source device: the logical region it holds.
  std::vector<Region> src_regions;
};

/// The general algorithm for any pair of (placement, NdSbp), same or
/// different placements, 1-D or N-D, uneven splits. Broadcast sources are
/// read from the nearest copy (the same device when it holds one).
/// Partial destinations: the value lands on one device per partial group,
/// the others hold zeros (sum) or a copy (max).
StatusOr<RegionBoxing> PlanRegionBoxing(const TensorDesc& logical, const Placement& from_placement,
                                        const NdSbp& from, const Placement& to_placement, const NdSbp& to);

}  // namespace ofl::compiler

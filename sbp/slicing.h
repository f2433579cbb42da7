// The physical slicing rule: which region of a logical tensor each device
// of a placement holds under an NdSbp.
//
// 1-D rule (balanced, uneven allowed): `length` over `parts` gives the first
// length % parts pieces one extra element; 10 rows over 4 devices = 3,3,2,2.
// N-D rule: mesh dimensions apply in order; a Split on mesh dimension k
// slices the region already cut by dimensions < k (nested). Broadcast and
// Partial do not cut.
#pragma once

#include <cstdint>
#include <vector>

#include "oneflow_like/placement.h"
#include "oneflow_like/region.h"
#include "oneflow_like/shape.h"
#include "sbp/sbp.h"

namespace ofl {

/// [begin, end) of piece `index` when `length` is split into `parts`.
std::pair<int64_t, int64_t> BalancedRange(int64_t length, int64_t parts, int64_t index);
/// Sizes of all pieces when `length` is split into `parts`.
std::vector<int64_t> BalancedSizes(int64_t length, int64_t parts);

/// Checks that `nd_sbp` fits `hierarchy` (one entry per mesh dimension) and
/// `logical_shape` (split axes in range); the error names `who`.
Status CheckNdSbp(const std::string& who, const NdSbp& nd_sbp, const Shape& hierarchy,
                  const Shape& logical_shape);

/// The logical region held by the device at `mesh_coordinates`.
Region PhysicalRegion(const Shape& logical_shape, const NdSbp& nd_sbp, const Shape& hierarchy,
                      const std::vector<int64_t>& mesh_coordinates);
/// The region held by device number `device_index` of `placement`.
Region PhysicalRegion(const Shape& logical_shape, const NdSbp& nd_sbp, const Placement& placement,
                      int device_index);
/// Shape of the piece on device `device_index`.
Shape PhysicalShape(const Shape& logical_shape, const NdSbp& nd_sbp, const Placement& placement,
                    int device_index);

}  // namespace ofl

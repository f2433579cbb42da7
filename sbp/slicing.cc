#include "sbp/slicing.h"

#include <algorithm>

namespace ofl {

std::pair<int64_t, int64_t> BalancedRange(int64_t length, int64_t parts, int64_t index) {
  const int64_t base = length / parts;
  const int64_t extra = length % parts;
  const int64_t begin = index * base + std::min(index, extra);
  return {begin, begin + base + (index < extra ? 1 : 0)};
}

std::vector<int64_t> BalancedSizes(int64_t length, int64_t parts) {
  std::vector<int64_t> sizes(parts);
  for (int64_t i = 0; i < parts; ++i) {
    auto [begin, end] = BalancedRange(length, parts, i);
    sizes[i] = end - begin;
  }
  return sizes;
}

Status CheckNdSbp(const std::string& who, const NdSbp& nd_sbp, const Shape& hierarchy,
                  const Shape& logical_shape) {
  OFL_CHECK_OR_RETURN(static_cast<int>(nd_sbp.size()) == hierarchy.rank())
      << who << ": expected one SBP per dimension of the placement hierarchy "
      << hierarchy.ToString() << " (" << hierarchy.rank() << "), got " << NdSbpToString(nd_sbp) << " ("
      << nd_sbp.size() << ")";
  for (const Sbp& sbp : nd_sbp) {
    OFL_CHECK_OR_RETURN(!sbp.IsSplit() || (sbp.axis >= 0 && sbp.axis < logical_shape.rank()))
        << who << ": split axis " << sbp.axis << " is out of range for a tensor of shape "
        << logical_shape.ToString() << " (rank " << logical_shape.rank() << ")";
  }
  return Status::Ok();
}

Region PhysicalRegion(const Shape& logical_shape, const NdSbp& nd_sbp, const Shape& hierarchy,
                      const std::vector<int64_t>& mesh_coordinates) {
  Region region = Region::Whole(logical_shape);
  for (size_t dim = 0; dim < nd_sbp.size(); ++dim) {
    const Sbp& sbp = nd_sbp[dim];
    if (!sbp.IsSplit()) continue;
    const int axis = sbp.axis;
    const int64_t length = region.end[axis] - region.begin[axis];
    auto [begin, end] = BalancedRange(length, hierarchy[static_cast<int>(dim)], mesh_coordinates[dim]);
    region.end[axis] = region.begin[axis] + end;
    region.begin[axis] += begin;
  }
  return region;
}

Region PhysicalRegion(const Shape& logical_shape, const NdSbp& nd_sbp, const Placement& placement,
                      int device_index) {
  return PhysicalRegion(logical_shape, nd_sbp, placement.hierarchy(),
                        placement.MeshCoordinates(device_index));
}

Shape PhysicalShape(const Shape& logical_shape, const NdSbp& nd_sbp, const Placement& placement,
                    int device_index) {
  return PhysicalRegion(logical_shape, nd_sbp, placement, device_index).Extent();
}

}  // namespace ofl

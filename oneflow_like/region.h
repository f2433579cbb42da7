// Region: an axis-aligned box of a logical tensor, [begin, end) per axis.
// The building block of physical slicing and of the general boxing algorithm
// (intersect regions, copy overlaps). Knows nothing about SBP.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "oneflow_like/blob.h"
#include "oneflow_like/shape.h"

namespace ofl {

/// Half-open box [begin[i], end[i]) along each axis.
struct Region {
  std::vector<int64_t> begin;
  std::vector<int64_t> end;

  /// The whole of `shape`.
  static Region Whole(const Shape& shape);
  int rank() const { return static_cast<int>(begin.size()); }
  Shape Extent() const;
  int64_t NumElements() const { return Extent().NumElements(); }
  bool Empty() const { return NumElements() == 0; }
  std::string ToString() const;
  bool operator==(const Region& other) const { return begin == other.begin && end == other.end; }
};

/// The overlap of two regions of the same rank, or nullopt if it is empty.
std::optional<Region> Intersect(const Region& a, const Region& b);

/// Copies the elements of logical region `what` from `src` (which holds
/// logical region `src_region`) into `dst` (which holds `dst_region`).
/// `what` must lie inside both. Both blobs are host memory of one dtype.
/// With `accumulate`, adds into dst instead of overwriting (Partial-sum).
void CopyRegion(const Blob& src, const Region& src_region, const Blob& dst, const Region& dst_region,
                const Region& what, bool accumulate = false);

}  // namespace ofl

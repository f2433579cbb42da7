#include "oneflow_like/region.h"

#include <algorithm>
#include <cstring>
#include <sstream>

#include "oneflow_like/dtype.h"

namespace ofl {

Region Region::Whole(const Shape& shape) {
  return Region{std::vector<int64_t>(shape.rank(), 0), shape.dims()};
}

Shape Region::Extent() const {
  std::vector<int64_t> dims(begin.size());
  for (size_t i = 0; i < begin.size(); ++i) dims[i] = std::max<int64_t>(0, end[i] - begin[i]);
  return Shape(std::move(dims));
}

std::string Region::ToString() const {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < begin.size(); ++i) out << (i ? ", " : "") << begin[i] << ":" << end[i];
  out << "]";
  return out.str();
}

std::optional<Region> Intersect(const Region& a, const Region& b) {
  Region overlap{std::vector<int64_t>(a.rank()), std::vector<int64_t>(a.rank())};
  for (int i = 0; i < a.rank(); ++i) {
    overlap.begin[i] = std::max(a.begin[i], b.begin[i]);
    overlap.end[i] = std::min(a.end[i], b.end[i]);
    if (overlap.begin[i] >= overlap.end[i]) return std::nullopt;
  }
  return overlap;
}

namespace {

template <typename T>
void AccumulateRow(const void* src, void* dst, int64_t count) {
  const T* s = static_cast<const T*>(src);
  T* d = static_cast<T*>(dst);
  for (int64_t i = 0; i < count; ++i) {
    if constexpr (std::is_same_v<T, bool>) {
      d[i] = d[i] || s[i];
    } else {
      d[i] = static_cast<T>(static_cast<double>(d[i]) + static_cast<double>(s[i]));
    }
  }
}

}  // namespace

void CopyRegion(const Blob& src, const Region& src_region, const Blob& dst, const Region& dst_region,
                const Region& what, bool accumulate) {
  const int rank = what.rank();
  const size_t element = SizeOf(src.dtype());
  const Shape src_extent = src_region.Extent();
  const Shape dst_extent = dst_region.Extent();
  const Shape extent = what.Extent();
  if (extent.NumElements() == 0) return;
  if (rank == 0) {
    if (accumulate) {
      VisitDType(src.dtype(), [&](auto tag) { AccumulateRow<decltype(tag)>(src.data, dst.data, 1); });
    } else {
      std::memcpy(dst.data, src.data, element);
    }
    return;
  }
  const std::vector<int64_t> src_strides = src_extent.Strides();
  const std::vector<int64_t> dst_strides = dst_extent.Strides();
  const int64_t row = extent[rank - 1];
  std::vector<int64_t> index(rank, 0);  // position within `what`, last axis handled per row
  const int64_t rows = extent.NumElements() / row;
  for (int64_t r = 0; r < rows; ++r) {
    int64_t src_offset = 0;
    int64_t dst_offset = 0;
    for (int axis = 0; axis < rank; ++axis) {
      const int64_t logical = what.begin[axis] + index[axis];
      src_offset += (logical - src_region.begin[axis]) * src_strides[axis];
      dst_offset += (logical - dst_region.begin[axis]) * dst_strides[axis];
    }
    const char* from = static_cast<const char*>(src.data) + src_offset * element;
    char* to = static_cast<char*>(dst.data) + dst_offset * element;
    if (accumulate) {
      VisitDType(src.dtype(), [&](auto tag) { AccumulateRow<decltype(tag)>(from, to, row); });
    } else {
      std::memcpy(to, from, row * element);
    }
    for (int axis = rank - 2; axis >= 0; --axis) {  // advance the row index
      if (++index[axis] < extent[axis]) break;
      index[axis] = 0;
    }
  }
}

}  // namespace ofl

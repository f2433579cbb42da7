#include "runtime/copy_program.h"

#include <cstring>
#include <limits>
#include <type_traits>

namespace ofl::runtime {
namespace {

template <typename T>
T Lowest() {
  if constexpr (std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>) {
    return T(-std::numeric_limits<float>::infinity());
  } else if constexpr (std::is_floating_point_v<T>) {
    return -std::numeric_limits<T>::infinity();
  } else {
    return std::numeric_limits<T>::lowest();
  }
}

// Element-wise maximum of the region, row by row (Partial-max is rare, so
// a plain loop is enough; copy and sum use the shared CopyRegion).
void MaxRegion(const Blob& src, const Region& src_region, const Blob& dst, const Region& dst_region,
               const Region& what) {
  const int rank = what.rank();
  const Shape extent = what.Extent();
  const int64_t total = extent.NumElements();
  if (total == 0) return;
  const std::vector<int64_t> src_strides = src_region.Extent().Strides();
  const std::vector<int64_t> dst_strides = dst_region.Extent().Strides();
  VisitDType(src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* from = static_cast<const T*>(src.data);
    T* to = static_cast<T*>(dst.data);
    std::vector<int64_t> index(rank, 0);
    for (int64_t e = 0; e < total; ++e) {
      int64_t src_offset = 0;
      int64_t dst_offset = 0;
      for (int axis = 0; axis < rank; ++axis) {
        const int64_t logical = what.begin[axis] + index[axis];
        src_offset += (logical - src_region.begin[axis]) * src_strides[axis];
        dst_offset += (logical - dst_region.begin[axis]) * dst_strides[axis];
      }
      if constexpr (std::is_same_v<T, bool>) {
        to[dst_offset] = to[dst_offset] || from[src_offset];
      } else if (static_cast<double>(from[src_offset]) > static_cast<double>(to[dst_offset])) {
        to[dst_offset] = from[src_offset];
      }
      for (int axis = rank - 1; axis >= 0; --axis) {
        if (++index[axis] < extent[axis]) break;
        index[axis] = 0;
      }
    }
  });
}

}  // namespace

void FillIdentity(const Blob& blob, CombineMode mode) {
  if (mode == CombineMode::kCopy) return;
  if (mode == CombineMode::kSum) {
    std::memset(blob.data, 0, blob.ByteSize());
    return;
  }
  VisitDType(blob.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* data = blob.As<T>();
    if constexpr (std::is_same_v<T, bool>) {
      for (int64_t i = 0; i < blob.NumElements(); ++i) data[i] = false;
    } else {
      const T lowest = Lowest<T>();
      for (int64_t i = 0; i < blob.NumElements(); ++i) data[i] = lowest;
    }
  });
}

void CombineRegion(const Blob& src, const Region& src_region, const Blob& dst, const Region& dst_region,
                   const Region& what, CombineMode mode) {
  if (mode == CombineMode::kMax) {
    MaxRegion(src, src_region, dst, dst_region, what);
    return;
  }
  CopyRegion(src, src_region, dst, dst_region, what, mode == CombineMode::kSum);
}

}  // namespace ofl::runtime

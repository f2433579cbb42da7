#include "oneflow_like/shape.h"

#include <sstream>

namespace ofl {

int64_t Shape::NumElements() const {
  int64_t count = 1;
  for (int64_t d : dims_) count *= d;
  return count;
}

std::vector<int64_t> Shape::Strides() const {
  std::vector<int64_t> strides(dims_.size(), 1);
  for (int axis = rank() - 2; axis >= 0; --axis) strides[axis] = strides[axis + 1] * dims_[axis + 1];
  return strides;
}

std::string Shape::ToString() const {
  std::ostringstream out;
  out << "[";
  for (size_t i = 0; i < dims_.size(); ++i) out << (i ? ", " : "") << dims_[i];
  out << "]";
  return out.str();
}

StatusOr<int> NormalizeAxis(const std::string& who, int64_t axis, int rank) {
  if (axis < -rank || axis >= rank || rank == 0) {
    return ErrorBuilder() << who << ": expected an axis in [" << -rank << ", " << rank - 1
                          << "] for rank " << rank << ", got " << axis;
  }
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

}  // namespace ofl

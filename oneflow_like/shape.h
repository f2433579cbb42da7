// Shape: the extent of a tensor along each axis. A rank-0 shape is a scalar.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "oneflow_like/status.h"

namespace ofl {

/// Extents per axis; all non-negative. Row-major (last axis contiguous).
class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims) : dims_(dims) {}
  explicit Shape(std::vector<int64_t> dims) : dims_(std::move(dims)) {}

  int rank() const { return static_cast<int>(dims_.size()); }
  int64_t operator[](int axis) const { return dims_[axis]; }
  int64_t& operator[](int axis) { return dims_[axis]; }
  /// Extent of `axis`, where a negative axis counts from the end.
  int64_t At(int axis) const { return dims_[axis < 0 ? axis + rank() : axis]; }
  const std::vector<int64_t>& dims() const { return dims_; }
  /// Product of extents (1 for a scalar).
  int64_t NumElements() const;
  /// Row-major strides in elements.
  std::vector<int64_t> Strides() const;
  /// "[2, 3, 4]".
  std::string ToString() const;

  bool operator==(const Shape& other) const { return dims_ == other.dims_; }
  bool operator!=(const Shape& other) const { return dims_ != other.dims_; }

 private:
  std::vector<int64_t> dims_;
};

/// Resolves a possibly negative `axis` against `rank`; the error names `who`.
StatusOr<int> NormalizeAxis(const std::string& who, int64_t axis, int rank);

}  // namespace ofl

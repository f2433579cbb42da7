// TensorDesc: shape + dtype, the static description of a tensor.
#pragma once

#include <string>

#include "oneflow_like/dtype.h"
#include "oneflow_like/shape.h"

namespace ofl {

/// Shape and element type of a tensor (logical or physical).
struct TensorDesc {
  Shape shape;
  DType dtype = DType::kF32;

  int64_t NumElements() const { return shape.NumElements(); }
  size_t ByteSize() const { return static_cast<size_t>(shape.NumElements()) * SizeOf(dtype); }
  /// "f32[2, 3]".
  std::string ToString() const { return DTypeName(dtype) + shape.ToString(); }
  bool operator==(const TensorDesc& other) const {
    return shape == other.shape && dtype == other.dtype;
  }
  bool operator!=(const TensorDesc& other) const { return !(*this == other); }
};

}  // namespace ofl

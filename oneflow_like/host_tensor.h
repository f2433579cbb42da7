// HostTensor: an owning, 64-byte aligned host buffer with a TensorDesc.
// Used for feeds and fetches, the eager executor, checkpoints and tests.
#pragma once

#include <memory>
#include <vector>

#include "oneflow_like/blob.h"
#include "oneflow_like/tensor_desc.h"

namespace ofl {

/// A tensor in host memory that owns its bytes. Copies share the buffer;
/// use Clone() for a deep copy.
class HostTensor {
 public:
  HostTensor() : HostTensor(TensorDesc{Shape{}, DType::kF32}) {}
  /// Zero-filled tensor of `desc`.
  explicit HostTensor(TensorDesc desc);
  /// Tensor of `shape` holding `values`; throws ofl::Error when the count
  /// differs from the shape's element count.
  template <typename T>
  static HostTensor FromVector(const Shape& shape, const std::vector<T>& values) {
    if (static_cast<int64_t>(values.size()) != shape.NumElements()) {
      throw Error("[host_tensor] values: expected " + std::to_string(shape.NumElements()) + " for shape " +
                  shape.ToString() + ", got " + std::to_string(values.size()));
    }
    HostTensor tensor(TensorDesc{shape, DTypeOf<T>()});
    for (size_t i = 0; i < values.size(); ++i) tensor.data<T>()[i] = values[i];
    return tensor;
  }

  const TensorDesc& desc() const { return desc_; }
  const Shape& shape() const { return desc_.shape; }
  DType dtype() const { return desc_.dtype; }
  int64_t NumElements() const { return desc_.NumElements(); }
  size_t ByteSize() const { return desc_.ByteSize(); }
  void* raw() const { return storage_.get(); }
  template <typename T>
  T* data() const { return static_cast<T*>(raw()); }
  /// A Blob view on cpu:0.
  Blob AsBlob() const { return Blob{raw(), desc_, DeviceId{}}; }
  HostTensor Clone() const;
  /// Element `i` converted to double (any dtype).
  double GetAsDouble(int64_t i) const;
  /// Sets element `i` from a double (any dtype; rounds as a cast would).
  void SetFromDouble(int64_t i, double value);
  /// All elements as doubles.
  std::vector<double> ToDoubles() const;

 private:
  TensorDesc desc_;
  std::shared_ptr<std::byte> storage_;
};

}  // namespace ofl

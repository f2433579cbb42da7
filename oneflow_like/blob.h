// Blob: a non-owning view of contiguous row-major tensor memory on a device.
#pragma once

#include "oneflow_like/device.h"
#include "oneflow_like/tensor_desc.h"

namespace ofl {

/// Pointer + description. The memory is owned elsewhere (a register, a
/// HostTensor); a Blob never frees it.
struct Blob {
  void* data = nullptr;
  TensorDesc desc;
  DeviceId device;

  template <typename T>
  T* As() const { return static_cast<T*>(data); }
  const Shape& shape() const { return desc.shape; }
  DType dtype() const { return desc.dtype; }
  int64_t NumElements() const { return desc.NumElements(); }
  size_t ByteSize() const { return desc.ByteSize(); }
};

}  // namespace ofl

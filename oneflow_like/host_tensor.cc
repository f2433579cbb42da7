#include "oneflow_like/host_tensor.h"

#include <cstdlib>
#include <cstring>

namespace ofl {

HostTensor::HostTensor(TensorDesc desc) : desc_(std::move(desc)) {
  const size_t bytes = std::max<size_t>(64, (desc_.ByteSize() + 63) / 64 * 64);
  void* memory = std::aligned_alloc(64, bytes);
  if (memory == nullptr) throw Error("[host_tensor] out of memory allocating " + std::to_string(bytes) + " bytes");
  std::memset(memory, 0, bytes);
  storage_ = std::shared_ptr<std::byte>(static_cast<std::byte*>(memory), [](std::byte* p) { std::free(p); });
}

HostTensor HostTensor::Clone() const {
  HostTensor copy(desc_);
  std::memcpy(copy.raw(), raw(), ByteSize());
  return copy;
}

double HostTensor::GetAsDouble(int64_t i) const {
  return VisitDType(desc_.dtype, [&](auto tag) {
    using T = decltype(tag);
    return static_cast<double>(static_cast<const T*>(raw())[i]);
  });
}

void HostTensor::SetFromDouble(int64_t i, double value) {
  VisitDType(desc_.dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>) {
      data<T>()[i] = T(static_cast<float>(value));
    } else {
      data<T>()[i] = static_cast<T>(value);
    }
  });
}

std::vector<double> HostTensor::ToDoubles() const {
  std::vector<double> values(NumElements());
  for (int64_t i = 0; i < NumElements(); ++i) values[i] = GetAsDouble(i);
  return values;
}

}  // namespace ofl

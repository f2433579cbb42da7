#include "oneflow_like/device.h"

#include <tuple>

namespace ofl {

std::string DeviceTypeName(DeviceType type) { return type == DeviceType::kCPU ? "cpu" : "cuda"; }

StatusOr<DeviceType> ParseDeviceType(const std::string& name) {
  if (name == "cpu") return DeviceType::kCPU;
  if (name == "cuda") return DeviceType::kCUDA;
  return ErrorBuilder() << "[device] expected 'cpu' or 'cuda', got '" << name << "'";
}

bool DeviceId::operator<(const DeviceId& other) const {
  return std::tie(type, rank, index) < std::tie(other.type, other.rank, other.index);
}

std::string DeviceId::ToString() const {
  std::string text = DeviceTypeName(type) + ":" + std::to_string(index);
  return rank == 0 ? text : "r" + std::to_string(rank) + "/" + text;
}

}  // namespace ofl

// Devices: a device type and an index on a rank (process).
#pragma once

#include <string>

#include "oneflow_like/status.h"

namespace ofl {

/// Kind of device a kernel runs on.
enum class DeviceType : int8_t { kCPU, kCUDA };

/// "cpu" or "cuda".
std::string DeviceTypeName(DeviceType type);
StatusOr<DeviceType> ParseDeviceType(const std::string& name);

/// One device: `type` device number `index` of process `rank`.
/// Virtual CPU devices are cpu:0..N-1 of one rank.
struct DeviceId {
  DeviceType type = DeviceType::kCPU;
  int rank = 0;
  int index = 0;

  bool operator==(const DeviceId& other) const {
    return type == other.type && rank == other.rank && index == other.index;
  }
  bool operator!=(const DeviceId& other) const { return !(*this == other); }
  bool operator<(const DeviceId& other) const;
  /// "cpu:3" on rank 0, "r1/cuda:0" elsewhere.
  std::string ToString() const;
};

}  // namespace ofl

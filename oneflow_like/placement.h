// Placement: the set of devices a logical tensor lives on, arranged as an
// N-D mesh (the hierarchy). Device i of the mesh in row-major order is
// devices()[i]; an NdSbp has one entry per mesh dimension.
#pragma once

#include <string>
#include <vector>

#include "oneflow_like/device.h"
#include "oneflow_like/shape.h"
#include "oneflow_like/status.h"

namespace ofl {

/// Devices of one type arranged as a mesh, e.g. 4 CPUs as [4] or [2, 2].
class Placement {
 public:
  Placement() = default;
  /// Checks that the hierarchy's product equals the device count, that all
  /// devices share `type`, and that no device repeats.
  static StatusOr<Placement> Create(DeviceType type, std::vector<DeviceId> devices, Shape hierarchy);
  /// `count` virtual devices type:0..count-1 of rank 0 as a 1-D mesh [count].
  static Placement Linear(DeviceType type, int count);
  /// Virtual devices type:0..N-1 of rank 0 arranged as `hierarchy`.
  static StatusOr<Placement> Mesh(DeviceType type, Shape hierarchy);

  DeviceType device_type() const { return type_; }
  const std::vector<DeviceId>& devices() const { return devices_; }
  const Shape& hierarchy() const { return hierarchy_; }
  int num_devices() const { return static_cast<int>(devices_.size()); }
  /// Mesh coordinates of device number `linear_index`.
  std::vector<int64_t> MeshCoordinates(int linear_index) const;
  /// "cpu:[0,1,2,3] mesh [2, 2]".
  std::string ToString() const;

  bool operator==(const Placement& other) const {
    return type_ == other.type_ && devices_ == other.devices_ && hierarchy_ == other.hierarchy_;
  }
  bool operator!=(const Placement& other) const { return !(*this == other); }

 private:
  DeviceType type_ = DeviceType::kCPU;
  std::vector<DeviceId> devices_{DeviceId{}};
  Shape hierarchy_{1};
};

}  // namespace ofl

#include "oneflow_like/placement.h"

#include <set>
#include <sstream>

namespace ofl {

StatusOr<Placement> Placement::Create(DeviceType type, std::vector<DeviceId> devices, Shape hierarchy) {
  OFL_CHECK_OR_RETURN(!devices.empty()) << "[placement] expected at least one device, got none";
  OFL_CHECK_OR_RETURN(hierarchy.rank() >= 1)
      << "[placement] expected a hierarchy of rank >= 1, got " << hierarchy.ToString();
  for (int axis = 0; axis < hierarchy.rank(); ++axis) {
    OFL_CHECK_OR_RETURN(hierarchy[axis] >= 1) << "[placement] hierarchy " << hierarchy.ToString()
                                              << ": expected every extent >= 1, got " << hierarchy[axis];
  }
  OFL_CHECK_OR_RETURN(hierarchy.NumElements() == static_cast<int64_t>(devices.size()))
      << "[placement] hierarchy " << hierarchy.ToString() << " holds " << hierarchy.NumElements()
      << " devices, got " << devices.size();
  std::set<DeviceId> seen;
  for (const DeviceId& device : devices) {
    OFL_CHECK_OR_RETURN(device.type == type) << "[placement] expected only " << DeviceTypeName(type)
                                             << " devices, got " << device.ToString();
    OFL_CHECK_OR_RETURN(seen.insert(device).second)
        << "[placement] device " << device.ToString() << " appears twice";
  }
  Placement placement;
  placement.type_ = type;
  placement.devices_ = std::move(devices);
  placement.hierarchy_ = std::move(hierarchy);
  return placement;
}

Placement Placement::Linear(DeviceType type, int count) {
  return Mesh(type, Shape{count}).ValueOrThrow();
}

StatusOr<Placement> Placement::Mesh(DeviceType type, Shape hierarchy) {
  std::vector<DeviceId> devices;
  for (int64_t i = 0; i < hierarchy.NumElements(); ++i) {
    devices.push_back(DeviceId{type, 0, static_cast<int>(i)});
  }
  return Create(type, std::move(devices), std::move(hierarchy));
}

std::vector<int64_t> Placement::MeshCoordinates(int linear_index) const {
  std::vector<int64_t> coordinates(hierarchy_.rank());
  int64_t rest = linear_index;
  for (int axis = hierarchy_.rank() - 1; axis >= 0; --axis) {
    coordinates[axis] = rest % hierarchy_[axis];
    rest /= hierarchy_[axis];
  }
  return coordinates;
}

std::string Placement::ToString() const {
  std::ostringstream out;
  out << DeviceTypeName(type_) << ":[";
  for (size_t i = 0; i < devices_.size(); ++i) {
    const DeviceId& d = devices_[i];
    out << (i ? "," : "") << (d.rank ? "r" + std::to_string(d.rank) + "/" : "") << d.index;
  }
  out << "] mesh " << hierarchy_.ToString();
  return out.str();
}

}  // namespace ofl

#include "oneflow_like/kernel.h"

#include <set>
#include <sstream>

namespace ofl {

namespace {

class FunctionKernel final : public Kernel {
 public:
  explicit FunctionKernel(std::function<Status(KernelContext&)> compute) : compute_(std::move(compute)) {}
  Status Compute(KernelContext& ctx) override { return compute_(ctx); }

 private:
  std::function<Status(KernelContext&)> compute_;
};

}  // namespace

KernelFactory MakeFunctionKernel(std::function<Status(KernelContext&)> compute) {
  return [compute = std::move(compute)]() -> std::unique_ptr<Kernel> {
    return std::make_unique<FunctionKernel>(compute);
  };
}

Status KernelRegistry::Register(const KernelKey& key, KernelFactory factory) {
  auto [it, inserted] = kernels_.emplace(key, std::move(factory));
  OFL_CHECK_OR_RETURN(inserted) << "[kernel_registry] kernel for (" << key.op << ", "
                                << DeviceTypeName(key.device) << ", " << DTypeName(key.dtype)
                                << ") registered twice";
  return Status::Ok();
}

Status KernelRegistry::RegisterForDTypes(const std::string& op, DeviceType device,
                                         const std::vector<DType>& dtypes, const KernelFactory& factory) {
  for (DType dtype : dtypes) OFL_RETURN_IF_ERROR(Register(KernelKey{op, device, dtype}, factory));
  return Status::Ok();
}

StatusOr<KernelFactory> KernelRegistry::Find(const KernelKey& key) const {
  auto it = kernels_.find(key);
  if (it != kernels_.end()) return it->second;
  std::ostringstream have;
  for (DType dtype : DTypesFor(key.op, key.device)) have << " " << DTypeName(dtype);
  return ErrorBuilder() << "[" << key.op << "] no " << DeviceTypeName(key.device) << " kernel for dtype "
                        << DTypeName(key.dtype) << "; kernels exist for:"
                        << (have.str().empty() ? " none" : have.str());
}

std::vector<DType> KernelRegistry::DTypesFor(const std::string& op, DeviceType device) const {
  std::vector<DType> dtypes;
  for (DType dtype : kAllDTypes) {
    if (kernels_.count(KernelKey{op, device, dtype})) dtypes.push_back(dtype);
  }
  return dtypes;
}

std::vector<DeviceType> KernelRegistry::DevicesFor(const std::string& op) const {
  std::vector<DeviceType> devices;
  for (DeviceType device : {DeviceType::kCPU, DeviceType::kCUDA}) {
    if (!DTypesFor(op, device).empty()) devices.push_back(device);
  }
  return devices;
}

}  // namespace ofl

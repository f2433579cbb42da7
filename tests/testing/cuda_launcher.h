// CudaKernelLauncher: runs CUDA kernels on host-resident arguments for the
// eager executor (ops/eager.h), so the op harness's checks run unchanged on
// the GPU. Each launch copies the inputs to device memory, fills the outputs
// with 0xff bytes (NaN for floats, -1 for integers: an element a kernel
// forgets to write cannot match the CPU by luck), runs the kernel, waits for
// the stream through OnComplete (the contract the runtime uses) and copies
// outputs and inputs (some kernels update inputs in place) back.
#pragma once

#include <memory>

#include "oneflow_like/cuda/cuda_stream.h"
#include "ops/eager.h"
#include "runtime/caching_allocator.h"

namespace ofl::testing {

class CudaKernelLauncher final : public KernelLauncher {
 public:
  /// A launcher on CUDA device `ordinal`; fails where there is none.
  static StatusOr<std::unique_ptr<CudaKernelLauncher>> Create(int ordinal = 0);

  DeviceType device_type() const override { return DeviceType::kCUDA; }
  Status Launch(Kernel& kernel, KernelContext& ctx) override;

  CudaStream& stream() { return *stream_; }
  CachingAllocator& device_memory() { return *device_memory_; }

 private:
  std::unique_ptr<CudaStream> stream_;
  std::unique_ptr<CachingAllocator> device_memory_;
};

}  // namespace ofl::testing

// Eager execution of single ops on host tensors: infer, allocate, run the
// CPU kernel. Used by the op self-check (`ofl selfcheck`), the op test
// harness (gradient rules emitted into an EagerEmitter run at once) and the
// kernel benchmarks. The compiler and runtime do not use it.
#pragma once

#include <vector>

#include "oneflow_like/host_tensor.h"
#include "oneflow_like/kernel.h"
#include "ops/op_schema.h"

namespace ofl {

/// Runs a kernel whose arguments live in host memory on some device. The
/// default (no launcher) runs CPU kernels on cpu:0; the CUDA test harness
/// supplies one that stages the arguments through device memory, so the same
/// checks run on every backend.
class KernelLauncher {
 public:
  virtual ~KernelLauncher() = default;
  /// The device type whose kernels this launcher runs.
  virtual DeviceType device_type() const = 0;
  /// Runs `kernel` on ctx (host blobs); on return the output blobs and any
  /// input the kernel updates in place hold the results.
  virtual Status Launch(Kernel& kernel, KernelContext& ctx) = 0;
};

/// Runs ops one at a time on cpu:0, or through `launcher` on its device.
class EagerExecutor {
 public:
  EagerExecutor(const OpRegistry& ops, const KernelRegistry& kernels, KernelLauncher* launcher = nullptr)
      : ops_(ops), kernels_(kernels), launcher_(launcher) {}

  /// Infers, allocates outputs and runs `op` on whole tensors. Inputs an op
  /// mutates (optimizer updates) are updated in place in the caller's buffers.
  StatusOr<std::vector<HostTensor>> Run(const std::string& op, const std::vector<HostTensor>& inputs,
                                        const AttrMap& attrs) const;
  /// Runs the kernel of `op` (CPU, or the launcher's device) on physical
  /// pieces whose outputs are already allocated. `attrs` must be complete (as returned by Infer).
  Status RunKernel(const std::string& op, const AttrMap& attrs, std::vector<TensorArg> inputs,
                   std::vector<TensorArg> outputs) const;

  const OpRegistry& ops() const { return ops_; }
  const KernelRegistry& kernels() const { return kernels_; }

 private:
  const OpRegistry& ops_;
  const KernelRegistry& kernels_;
  KernelLauncher* launcher_;
};

/// An OpEmitter whose ops run immediately; values are HostTensors.
class EagerEmitter final : public OpEmitter {
 public:
  explicit EagerEmitter(const EagerExecutor& executor) : executor_(executor) {}

  /// Registers an existing tensor as a value.
  ValueRef Add(HostTensor tensor);
  const HostTensor& Get(ValueRef value) const { return values_.at(value.id); }

  StatusOr<std::vector<ValueRef>> Emit(const std::string& op, const std::vector<ValueRef>& inputs,
                                       const AttrMap& attrs) override;
  TensorDesc Desc(ValueRef value) const override { return Get(value).desc(); }

 private:
  const EagerExecutor& executor_;
  std::vector<HostTensor> values_;
};

}  // namespace ofl

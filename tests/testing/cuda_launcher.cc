#include "tests/testing/cuda_launcher.h"

#include <future>
#include <vector>

#include "oneflow_like/cuda/cuda_check.h"
#include "runtime/cuda/cuda_memory.h"

namespace ofl::testing {

StatusOr<std::unique_ptr<CudaKernelLauncher>> CudaKernelLauncher::Create(int ordinal) {
  auto launcher = std::unique_ptr<CudaKernelLauncher>(new CudaKernelLauncher());
  OFL_ASSIGN_OR_RETURN(launcher->stream_, CudaStream::Create(DeviceId{DeviceType::kCUDA, 0, ordinal}));
  launcher->device_memory_ = MakeCudaDeviceAllocator(ordinal);
  return launcher;
}

namespace {

// Device copies of a kernel's arguments; frees them when destroyed (after
// the stream has finished with them: Launch waits before returning).
class StagedArguments {
 public:
  explicit StagedArguments(CachingAllocator& memory) : memory_(memory) {}
  ~StagedArguments() {
    for (void* block : blocks_) (void)memory_.Free(block);
  }
  /// A device blob shaped like `host` on `stream`'s device.
  StatusOr<Blob> Stage(const Blob& host, const CudaStream& stream) {
    OFL_ASSIGN_OR_RETURN(void* block, memory_.Allocate(host.ByteSize()));
    blocks_.push_back(block);
    Blob device = host;
    device.data = block;
    device.device = stream.device();
    return device;
  }

 private:
  CachingAllocator& memory_;
  std::vector<void*> blocks_;
};

}  // namespace

Status CudaKernelLauncher::Launch(Kernel& kernel, KernelContext& ctx) {
  StagedArguments staged(*device_memory_);
  std::vector<Blob> host_inputs, host_outputs;
  for (TensorArg& input : ctx.inputs) {
    host_inputs.push_back(input.blob);
    OFL_ASSIGN_OR_RETURN(input.blob, staged.Stage(input.blob, *stream_));
    OFL_RETURN_IF_ERROR(CopyBlobAsync(*stream_, input.blob, host_inputs.back()));
  }
  for (TensorArg& output : ctx.outputs) {
    host_outputs.push_back(output.blob);
    OFL_ASSIGN_OR_RETURN(output.blob, staged.Stage(output.blob, *stream_));
    if (output.blob.ByteSize() > 0) {
      OFL_CUDA_RETURN_IF_ERROR(
          cudaMemsetAsync(output.blob.data, 0xff, output.blob.ByteSize(), stream_->native()),
          "[" + ctx.op_name + "] poisoning outputs");
    }
  }
  ctx.stream = stream_.get();
  Status status = kernel.Compute(ctx);
  for (size_t i = 0; status.ok() && i < ctx.outputs.size(); ++i) {
    status = CopyBlobAsync(*stream_, host_outputs[i], ctx.outputs[i].blob);
  }
  for (size_t i = 0; status.ok() && i < ctx.inputs.size(); ++i) {
    status = CopyBlobAsync(*stream_, host_inputs[i], ctx.inputs[i].blob);
  }
  // Wait through the completion callback, as the runtime will, even when a
  // step failed: the device blocks must be idle before they are freed.
  std::promise<Status> done;
  stream_->OnComplete([&done](Status completion) { done.set_value(std::move(completion)); });
  const Status completion = done.get_future().get();
  for (size_t i = 0; i < ctx.inputs.size(); ++i) ctx.inputs[i].blob = host_inputs[i];
  for (size_t i = 0; i < ctx.outputs.size(); ++i) ctx.outputs[i].blob = host_outputs[i];
  OFL_RETURN_IF_ERROR(status);
  return completion;
}

}  // namespace ofl::testing

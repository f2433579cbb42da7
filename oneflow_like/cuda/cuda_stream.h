// CudaStream: the Stream of one CUDA device (DESIGN.md section 5).
//
// Work is enqueued asynchronously on a cudaStream_t. OnComplete records an
// event after the work enqueued so far; a completion thread owned by the
// stream waits for the events in order and runs each callback there, with
// the status of the wait (so an asynchronous fault, e.g. an illegal address
// in a kernel, reaches the runtime as an error instead of a later crash).
// Callbacks may call anything, including CUDA, unlike cudaLaunchHostFunc.
//
// The stream also owns what the kernels launched on it share: a cuBLASLt
// handle, a cuDNN handle (created on first use: cudnnCreate loads hundreds
// of MB of kernels) and one workspace buffer. Kernels run by one thread at a
// time per stream (the runtime's contract), so these need no locks.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "oneflow_like/stream.h"

namespace ofl {

class CudaStream final : public Stream {
 public:
  /// Workspace shared by cuBLASLt and cuDNN calls (32 MiB, what cuBLASLt's
  /// heuristics need for large Hopper GEMMs).
  static constexpr size_t kDefaultWorkspaceBytes = size_t{32} << 20;

  /// A stream on CUDA device `device.index` of this process. Errors name the
  /// device (no driver, index out of range, out of memory).
  static StatusOr<std::unique_ptr<CudaStream>> Create(DeviceId device,
                                                      size_t workspace_bytes = kDefaultWorkspaceBytes);
  /// Waits for enqueued work and pending callbacks, then releases everything.
  ~CudaStream() override;
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;

  /// The stream of `stream` if it is a CudaStream, else nullptr.
  static CudaStream* From(Stream* stream) { return dynamic_cast<CudaStream*>(stream); }

  DeviceId device() const override { return device_; }
  void OnComplete(std::function<void(Status)> callback) override;
  Status Synchronize() override;

  /// Makes this stream's device current on the calling thread (kernels call
  /// it first: the thread that runs them may serve several devices).
  Status Activate() const;
  cudaStream_t native() const { return stream_; }
  cublasLtHandle_t blas_lt() const { return blas_lt_; }
  /// The cuDNN handle bound to this stream, created on first call.
  StatusOr<cudnnHandle_t> cudnn();
  /// Scratch memory for one library call at a time on this stream.
  void* workspace() const { return workspace_; }
  size_t workspace_bytes() const { return workspace_bytes_; }

 private:
  struct PendingCallback {
    cudaEvent_t event;
    std::function<void(Status)> callback;
  };

  explicit CudaStream(DeviceId device) : device_(device) {}
  void CompletionLoop();
  StatusOr<cudaEvent_t> TakeEvent();
  void ReturnEvent(cudaEvent_t event);

  DeviceId device_;
  cudaStream_t stream_ = nullptr;
  cublasLtHandle_t blas_lt_ = nullptr;
  cudnnHandle_t cudnn_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<PendingCallback> pending_;
  std::vector<cudaEvent_t> free_events_;
  bool stopping_ = false;
  std::thread completion_thread_;
};

}  // namespace ofl

#include "oneflow_like/cuda/cuda_stream.h"

#include "oneflow_like/cuda/cuda_check.h"
#include "oneflow_like/cuda/library_check.h"

namespace ofl {

StatusOr<std::unique_ptr<CudaStream>> CudaStream::Create(DeviceId device, size_t workspace_bytes) {
  OFL_CHECK_OR_RETURN(device.type == DeviceType::kCUDA)
      << "CudaStream: expected a cuda device, got " << device.ToString();
  int count = 0;
  OFL_CUDA_RETURN_IF_ERROR(cudaGetDeviceCount(&count), "CudaStream for " + device.ToString());
  OFL_CHECK_OR_RETURN(device.index >= 0 && device.index < count)
      << "CudaStream: expected a device index in [0, " << count << "), got " << device.ToString();
  std::unique_ptr<CudaStream> stream(new CudaStream(device));
  const std::string where = " on " + device.ToString();
  OFL_RETURN_IF_ERROR(stream->Activate());
  OFL_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream->stream_, cudaStreamNonBlocking),
                           "cudaStreamCreate" + where);
  OFL_CUBLAS_RETURN_IF_ERROR(cublasLtCreate(&stream->blas_lt_), "cublasLtCreate" + where);
  if (workspace_bytes > 0) {
    OFL_CUDA_RETURN_IF_ERROR(
        cudaMalloc(&stream->workspace_, workspace_bytes),
        "cudaMalloc(" + std::to_string(workspace_bytes) + " bytes of workspace)" + where);
    stream->workspace_bytes_ = workspace_bytes;
  }
  stream->completion_thread_ = std::thread([raw = stream.get()] { raw->CompletionLoop(); });
  return stream;
}

CudaStream::~CudaStream() {
  if (completion_thread_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    completion_thread_.join();  // runs the callbacks still pending first
  }
  (void)Activate();
  if (stream_ != nullptr) (void)cudaStreamSynchronize(stream_);
  for (cudaEvent_t event : free_events_) (void)cudaEventDestroy(event);
  if (cudnn_ != nullptr) (void)cudnnDestroy(cudnn_);
  if (blas_lt_ != nullptr) (void)cublasLtDestroy(blas_lt_);
  if (workspace_ != nullptr) (void)cudaFree(workspace_);
  if (stream_ != nullptr) (void)cudaStreamDestroy(stream_);
}

Status CudaStream::Activate() const {
  return CudaStatus(cudaSetDevice(device_.index), "cudaSetDevice(" + std::to_string(device_.index) + ")");
}

StatusOr<cudnnHandle_t> CudaStream::cudnn() {
  if (cudnn_ == nullptr) {
    OFL_CUDNN_RETURN_IF_ERROR(cudnnCreate(&cudnn_), "cudnnCreate on " + device_.ToString());
    OFL_CUDNN_RETURN_IF_ERROR(cudnnSetStream(cudnn_, stream_), "cudnnSetStream on " + device_.ToString());
  }
  return cudnn_;
}

StatusOr<cudaEvent_t> CudaStream::TakeEvent() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!free_events_.empty()) {
      cudaEvent_t event = free_events_.back();
      free_events_.pop_back();
      return event;
    }
  }
  cudaEvent_t event = nullptr;
  // Blocking sync: the completion thread sleeps in cudaEventSynchronize
  // instead of spinning on a core the actors need.
  OFL_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&event, cudaEventDisableTiming | cudaEventBlockingSync),
                           "cudaEventCreate on " + device_.ToString());
  return event;
}

void CudaStream::ReturnEvent(cudaEvent_t event) {
  std::lock_guard<std::mutex> lock(mutex_);
  free_events_.push_back(event);
}

void CudaStream::OnComplete(std::function<void(Status)> callback) {
  Status status = Activate();
  StatusOr<cudaEvent_t> event = status.ok() ? TakeEvent() : StatusOr<cudaEvent_t>(status);
  if (event.ok()) {
    status = CudaStatus(cudaEventRecord(event.value(), stream_), "cudaEventRecord on " + device_.ToString());
    if (!status.ok()) ReturnEvent(event.value());
  } else {
    status = event.status();
  }
  if (!status.ok()) {
    callback(status);  // nothing was enqueued to wait for
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    pending_.push_back(PendingCallback{event.value(), std::move(callback)});
  }
  wake_.notify_one();
}

void CudaStream::CompletionLoop() {
  const Status device_status = Activate();
  for (;;) {
    PendingCallback next;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
      if (pending_.empty()) return;  // stopping with nothing left
      next = std::move(pending_.front());
      pending_.pop_front();
    }
    Status status = device_status;
    if (status.ok()) {
      status = CudaStatus(cudaEventSynchronize(next.event), "work on " + device_.ToString() + " failed");
    }
    ReturnEvent(next.event);
    next.callback(status);
  }
}

Status CudaStream::Synchronize() {
  OFL_RETURN_IF_ERROR(Activate());
  return CudaStatus(cudaStreamSynchronize(stream_), "work on " + device_.ToString() + " failed");
}

}  // namespace ofl

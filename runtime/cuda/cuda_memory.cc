#include "runtime/cuda/cuda_memory.h"

#include "oneflow_like/cuda/cuda_check.h"

namespace ofl {

std::unique_ptr<CachingAllocator> MakeCudaDeviceAllocator(int ordinal) {
  const DeviceId device{DeviceType::kCUDA, 0, ordinal};
  CachingAllocator::Backend backend;
  backend.name = device.ToString();
  backend.allocate = [ordinal, name = backend.name](size_t bytes) -> StatusOr<void*> {
    OFL_CUDA_RETURN_IF_ERROR(cudaSetDevice(ordinal), "cudaSetDevice(" + std::to_string(ordinal) + ")");
    void* pointer = nullptr;
    OFL_CUDA_RETURN_IF_ERROR(cudaMalloc(&pointer, bytes),
                             "cudaMalloc(" + std::to_string(bytes) + " bytes) on " + name);
    return pointer;
  };
  backend.release = [ordinal](void* pointer) {
    (void)cudaSetDevice(ordinal);
    (void)cudaFree(pointer);
  };
  return std::make_unique<CachingAllocator>(std::move(backend));
}

std::unique_ptr<CachingAllocator> MakePinnedHostAllocator() {
  CachingAllocator::Backend backend;
  backend.name = "pinned host";
  backend.allocate = [](size_t bytes) -> StatusOr<void*> {
    void* pointer = nullptr;
    // Portable: usable by copies on every device of the process.
    OFL_CUDA_RETURN_IF_ERROR(cudaHostAlloc(&pointer, bytes, cudaHostAllocPortable),
                             "cudaHostAlloc(" + std::to_string(bytes) + " bytes)");
    return pointer;
  };
  backend.release = [](void* pointer) { (void)cudaFreeHost(pointer); };
  return std::make_unique<CachingAllocator>(std::move(backend));
}

namespace {

std::string Describe(const Blob& blob) {
  return blob.device.ToString() + " " + DTypeName(blob.dtype()) + blob.shape().ToString();
}

}  // namespace

Status ValidateCopy(const Blob& dst, const Blob& src) {
  OFL_CHECK_OR_RETURN(dst.dtype() == src.dtype() && dst.ByteSize() == src.ByteSize())
      << "cuda copy: expected the same dtype and size, got source " << Describe(src) << " and destination "
      << Describe(dst);
  OFL_CHECK_OR_RETURN(dst.device.type == DeviceType::kCUDA || src.device.type == DeviceType::kCUDA)
      << "cuda copy: expected a CUDA device on one side, got " << Describe(src) << " -> " << Describe(dst);
  OFL_CHECK_OR_RETURN(src.ByteSize() == 0 || (src.data != nullptr && dst.data != nullptr))
      << "cuda copy: " << (src.data == nullptr ? "source " + Describe(src) : "destination " + Describe(dst))
      << " has no memory";
  return Status::Ok();
}

Status CopyBlobAsync(CudaStream& stream, const Blob& dst, const Blob& src) {
  OFL_RETURN_IF_ERROR(ValidateCopy(dst, src));
  const size_t bytes = src.ByteSize();
  if (bytes == 0) return Status::Ok();
  OFL_RETURN_IF_ERROR(stream.Activate());
  const std::string what = "cuda copy of " + std::to_string(bytes) + " bytes " + Describe(src) + " -> " +
                           Describe(dst) + " on the stream of " + stream.device().ToString();
  const bool both_cuda = src.device.type == DeviceType::kCUDA && dst.device.type == DeviceType::kCUDA;
  if (both_cuda && src.device.index != dst.device.index) {
    return CudaStatus(
        cudaMemcpyPeerAsync(dst.data, dst.device.index, src.data, src.device.index, bytes, stream.native()),
        what);
  }
  // Unified addressing: the runtime infers the direction from the pointers.
  return CudaStatus(cudaMemcpyAsync(dst.data, src.data, bytes, cudaMemcpyDefault, stream.native()), what);
}

}  // namespace ofl

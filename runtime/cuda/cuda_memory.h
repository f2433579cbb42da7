// Device and pinned host memory for the CUDA backend, both served through a
// CachingAllocator (runtime/caching_allocator.h), and the copies between
// host and device memory.
#pragma once

#include <memory>

#include "oneflow_like/blob.h"
#include "oneflow_like/cuda/cuda_stream.h"
#include "runtime/caching_allocator.h"

namespace ofl {

/// A caching allocator over cudaMalloc/cudaFree on CUDA device `ordinal`.
std::unique_ptr<CachingAllocator> MakeCudaDeviceAllocator(int ordinal);

/// A caching allocator over cudaHostAlloc/cudaFreeHost: page-locked host
/// memory, which copies to and from the device need to be asynchronous
/// (with pageable memory cudaMemcpyAsync returns only after staging).
std::unique_ptr<CachingAllocator> MakePinnedHostAllocator();

/// Checks that `src` can be copied into `dst`: same dtype and byte size,
/// non-null data when non-empty, and at least one CUDA side. The error names
/// both blobs' devices and descriptions. Needs no GPU.
Status ValidateCopy(const Blob& dst, const Blob& src);

/// Enqueues the copy of `src` into `dst` on `stream`: host to device, device
/// to host, device to device on one device, or between two devices (peer
/// copy). Returns once enqueued; the copy is done when `stream` says so.
Status CopyBlobAsync(CudaStream& stream, const Blob& dst, const Blob& src);

}  // namespace ofl

// CachingAllocator: reuses freed blocks instead of returning them to a slow
// backend (cudaMalloc/cudaFree synchronise the device; cudaHostAlloc pins
// pages). After the first step of a training loop, every allocation of the
// next steps is served from the cache: no backend call per step.
//
// Sizes are rounded up to a size class (512 bytes at least, then four
// classes per power of two: 1, 1.25, 1.5 and 1.75 x 2^k), so at most 25% of
// a block is slack, and a freed block is reused for any request of its
// class. When the backend fails, all cached blocks are released and the
// allocation is retried once before the error is returned.
//
// Ordering contract for device memory: Free may be called as soon as the
// last use of the block has been *enqueued* on the stream the allocator
// serves (work on one stream runs in order, so the next user of the block
// runs after it). A block used on another stream must be freed only after
// that stream's OnComplete callback. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

#include "oneflow_like/status.h"

namespace ofl {

class CachingAllocator {
 public:
  /// The memory the cache draws from.
  struct Backend {
    std::string name;  ///< for errors: "cuda:0", "pinned host"
    std::function<StatusOr<void*>(size_t bytes)> allocate;
    std::function<void(void* pointer)> release;
  };

  struct Stats {
    size_t in_use_bytes = 0;       ///< rounded sizes of blocks handed out
    size_t cached_bytes = 0;       ///< rounded sizes of free blocks kept
    size_t peak_in_use_bytes = 0;  ///< maximum of in_use_bytes so far
    int64_t backend_allocations = 0;
    int64_t backend_releases = 0;
    int64_t cache_hits = 0;
  };

  explicit CachingAllocator(Backend backend) : backend_(std::move(backend)) {}
  /// Releases every cached block. Blocks still in use are the caller's leak
  /// and are not touched (their memory stays valid until process exit).
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  /// A block of at least `bytes` bytes; nullptr for 0 bytes. The error names
  /// the backend, the request and the memory in use and cached.
  StatusOr<void*> Allocate(size_t bytes);
  /// Returns a block to the cache. Freeing nullptr does nothing; freeing a
  /// pointer this allocator did not hand out (or freed already) is an error.
  Status Free(void* pointer);
  /// Gives every cached block back to the backend.
  void ReleaseCached();
  Stats stats() const;

  /// The size class of a request of `bytes` bytes.
  static size_t RoundSize(size_t bytes);

 private:
  void ReleaseCachedLocked();

  Backend backend_;
  mutable std::mutex mutex_;
  std::unordered_map<void*, size_t> in_use_;  // pointer -> rounded size
  std::multimap<size_t, void*> cached_;       // rounded size -> free block
  Stats stats_;
};

}  // namespace ofl

#include "runtime/caching_allocator.h"

#include <algorithm>

namespace ofl {

CachingAllocator::~CachingAllocator() { ReleaseCached(); }

size_t CachingAllocator::RoundSize(size_t bytes) {
  constexpr size_t kMinimum = 512;
  if (bytes <= kMinimum) return kMinimum;
  // The largest power of two not above bytes, then the first of its four
  // quarter steps that holds the request.
  size_t power = kMinimum;
  while (power <= bytes / 2) power *= 2;
  const size_t quarter = power / 4;
  return power + (bytes - power + quarter - 1) / quarter * quarter;
}

StatusOr<void*> CachingAllocator::Allocate(size_t bytes) {
  if (bytes == 0) return static_cast<void*>(nullptr);
  const size_t rounded = RoundSize(bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  void* pointer = nullptr;
  auto cached = cached_.find(rounded);
  if (cached != cached_.end()) {
    pointer = cached->second;
    cached_.erase(cached);
    stats_.cached_bytes -= rounded;
    ++stats_.cache_hits;
  } else {
    StatusOr<void*> fresh = backend_.allocate(rounded);
    if (!fresh.ok() && !cached_.empty()) {
      ReleaseCachedLocked();  // fragmentation across classes: give it all back and retry
      fresh = backend_.allocate(rounded);
    }
    if (!fresh.ok()) {
      return ErrorBuilder() << "CachingAllocator(" << backend_.name << "): cannot allocate " << bytes
                            << " bytes (size class " << rounded << "; " << stats_.in_use_bytes
                            << " bytes in use): " << fresh.status().message();
    }
    pointer = fresh.value();
    ++stats_.backend_allocations;
  }
  in_use_.emplace(pointer, rounded);
  stats_.in_use_bytes += rounded;
  stats_.peak_in_use_bytes = std::max(stats_.peak_in_use_bytes, stats_.in_use_bytes);
  return pointer;
}

Status CachingAllocator::Free(void* pointer) {
  if (pointer == nullptr) return Status::Ok();
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = in_use_.find(pointer);
  OFL_CHECK_OR_RETURN(it != in_use_.end())
      << "CachingAllocator(" << backend_.name << "): Free of " << pointer
      << ", which is not a block in use from this allocator (freed twice, or from elsewhere)";
  const size_t rounded = it->second;
  in_use_.erase(it);
  stats_.in_use_bytes -= rounded;
  cached_.emplace(rounded, pointer);
  stats_.cached_bytes += rounded;
  return Status::Ok();
}

void CachingAllocator::ReleaseCached() {
  std::lock_guard<std::mutex> lock(mutex_);
  ReleaseCachedLocked();
}

void CachingAllocator::ReleaseCachedLocked() {
  for (const auto& [size, pointer] : cached_) {
    backend_.release(pointer);
    ++stats_.backend_releases;
  }
  cached_.clear();
  stats_.cached_bytes = 0;
}

CachingAllocator::Stats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

}  // namespace ofl

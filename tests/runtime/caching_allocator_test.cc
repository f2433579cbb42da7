// CachingAllocator over a host backend that counts its calls: the caching
// policy (size classes, reuse, release on backend failure, errors) needs no
// GPU, so it is tested everywhere; tests/cuda/ checks the CUDA backends.
#include "runtime/caching_allocator.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

namespace ofl {
namespace {

struct CountingBackend {
  int64_t allocations = 0;
  int64_t releases = 0;
  size_t live_bytes = 0;
  size_t limit_bytes = SIZE_MAX;  // allocations beyond this fail, like a full device
  std::map<void*, size_t> sizes;

  CachingAllocator::Backend Make() {
    return CachingAllocator::Backend{"test host",
                                     [this](size_t bytes) -> StatusOr<void*> {
                                       if (live_bytes + bytes > limit_bytes)
                                         return ErrorBuilder() << "out of memory (" << bytes << " bytes)";
                                       ++allocations;
                                       live_bytes += bytes;
                                       void* pointer = std::malloc(bytes);
                                       sizes[pointer] = bytes;
                                       return pointer;
                                     },
                                     [this](void* pointer) {
                                       ++releases;
                                       live_bytes -= sizes.at(pointer);
                                       sizes.erase(pointer);
                                       std::free(pointer);
                                     }};
  }
};

TEST(CachingAllocatorTest, SizeClassesHaveAtMostAQuarterOfSlack) {
  EXPECT_EQ(CachingAllocator::RoundSize(1), 512u);
  EXPECT_EQ(CachingAllocator::RoundSize(512), 512u);
  EXPECT_EQ(CachingAllocator::RoundSize(513), 640u);
  EXPECT_EQ(CachingAllocator::RoundSize(1024), 1024u);
  EXPECT_EQ(CachingAllocator::RoundSize(1025), 1280u);
  EXPECT_EQ(CachingAllocator::RoundSize(2047), 2048u);
  EXPECT_EQ(CachingAllocator::RoundSize(size_t{3} << 30), size_t{3} << 30);
  for (size_t bytes = 1; bytes < (size_t{1} << 22); bytes = bytes * 3 / 2 + 7) {
    const size_t rounded = CachingAllocator::RoundSize(bytes);
    EXPECT_GE(rounded, bytes);
    if (bytes > 512) {
      EXPECT_LE(rounded, bytes + bytes / 4 + 1) << bytes;
    }
  }
}

TEST(CachingAllocatorTest, SteadyStateStepsNeverCallTheBackend) {
  CountingBackend backend;
  CachingAllocator allocator(backend.Make());
  const std::vector<size_t> step = {4096, 100, 1 << 20, 4096, 777, 3 << 20};
  for (int iteration = 0; iteration < 10; ++iteration) {
    std::vector<void*> blocks;
    std::set<void*> distinct;
    for (size_t bytes : step) {
      auto block = allocator.Allocate(bytes);
      ASSERT_TRUE(block.ok()) << block.status().message();
      blocks.push_back(block.value());
      distinct.insert(block.value());
    }
    EXPECT_EQ(distinct.size(), step.size()) << "a block was handed out twice";
    for (void* block : blocks) ASSERT_TRUE(allocator.Free(block).ok());
  }
  EXPECT_EQ(backend.allocations, static_cast<int64_t>(step.size())) << "only the first step allocates";
  const CachingAllocator::Stats stats = allocator.stats();
  EXPECT_EQ(stats.in_use_bytes, 0u);
  EXPECT_EQ(stats.cache_hits, 9 * static_cast<int64_t>(step.size()));
  EXPECT_GE(stats.peak_in_use_bytes, size_t{4 << 20});
  allocator.ReleaseCached();
  EXPECT_EQ(backend.releases, backend.allocations);
  EXPECT_EQ(backend.live_bytes, 0u);
}

TEST(CachingAllocatorTest, ReleasesTheCacheAndRetriesWhenTheBackendIsFull) {
  CountingBackend backend;
  backend.limit_bytes = 3 << 20;
  CachingAllocator allocator(backend.Make());
  // Fill the "device" with cached 1 MiB blocks, then ask for 2 MiB.
  std::vector<void*> blocks;
  for (int i = 0; i < 3; ++i) blocks.push_back(allocator.Allocate(1 << 20).value());
  for (void* block : blocks) ASSERT_TRUE(allocator.Free(block).ok());
  auto big = allocator.Allocate(2 << 20);
  ASSERT_TRUE(big.ok()) << big.status().message();
  EXPECT_EQ(backend.releases, 3);
  ASSERT_TRUE(allocator.Free(big.value()).ok());
}

TEST(CachingAllocatorTest, ErrorsNameTheBackendAndTheRequest) {
  CountingBackend backend;
  backend.limit_bytes = 1 << 20;
  CachingAllocator allocator(backend.Make());
  auto too_big = allocator.Allocate(5 << 20);
  ASSERT_FALSE(too_big.ok());
  EXPECT_NE(too_big.status().message().find("test host"), std::string::npos) << too_big.status().message();
  EXPECT_NE(too_big.status().message().find("5242880 bytes"), std::string::npos)
      << too_big.status().message();
  int on_stack = 0;
  const Status bad_free = allocator.Free(&on_stack);
  ASSERT_FALSE(bad_free.ok());
  EXPECT_NE(bad_free.message().find("not a block in use"), std::string::npos) << bad_free.message();
  void* block = allocator.Allocate(64).value();
  ASSERT_TRUE(allocator.Free(block).ok());
  EXPECT_FALSE(allocator.Free(block).ok()) << "double free must be reported";
  EXPECT_TRUE(allocator.Free(nullptr).ok());
  auto empty = allocator.Allocate(0);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty.value(), nullptr);
}

}  // namespace
}  // namespace ofl

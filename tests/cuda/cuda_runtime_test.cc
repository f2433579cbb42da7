// The CUDA device layer: CudaStream (asynchronous work, completion through
// OnComplete, errors), the caching device and pinned host allocators, and
// host<->device and device<->device copies. Tests that need a GPU skip with
// the reason; the error paths that need none run everywhere.
#include <cublasLt.h>
#include <gtest/gtest.h>

#include <future>
#include <numeric>
#include <vector>

#include "oneflow_like/cuda/cuda_check.h"
#include "oneflow_like/cuda/cuda_stream.h"
#include "runtime/cuda/cuda_memory.h"

namespace ofl {
namespace {

const DeviceId kCuda0{DeviceType::kCUDA, 0, 0};

class CudaDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string reason = MissingCudaDeviceReason();
    if (!reason.empty()) GTEST_SKIP() << "needs a CUDA device: " << reason;
  }
};

Blob HostBlob(std::vector<float>& data) {
  return Blob{data.data(), TensorDesc{Shape({static_cast<int64_t>(data.size())}), DType::kF32}, DeviceId{}};
}

TEST(CudaStreamErrors, CreateNamesTheDeviceWhenItCannot) {
  // Without a driver this fails with the driver's reason; with one, an
  // index past the last device must fail naming it.
  const std::string reason = MissingCudaDeviceReason();
  const DeviceId device{DeviceType::kCUDA, 0, reason.empty() ? 4096 : 0};
  auto stream = CudaStream::Create(device);
  ASSERT_FALSE(stream.ok());
  EXPECT_NE(stream.status().message().find(device.ToString()), std::string::npos)
      << stream.status().message();
  auto cpu = CudaStream::Create(DeviceId{});
  ASSERT_FALSE(cpu.ok());
  EXPECT_NE(cpu.status().message().find("expected a cuda device"), std::string::npos)
      << cpu.status().message();
}

// cuBLASLt is loaded on first call (oneflow_like/cuda/cublaslt_loader.cc);
// host-side descriptor calls need no GPU, so the loader is checked here.
TEST(CublasLtLoader, LoadsTheLibraryOnFirstUse) {
  const std::string name = cublasLtGetStatusName(CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(name, "CUBLAS_STATUS_SUCCESS");
  cublasLtMatmulDesc_t desc = nullptr;
  ASSERT_EQ(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), CUBLAS_STATUS_SUCCESS);
  const cublasOperation_t transpose = CUBLAS_OP_T;
  EXPECT_EQ(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &transpose, sizeof(transpose)),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(cublasLtMatmulDescDestroy(desc), CUBLAS_STATUS_SUCCESS);
  cublasLtMatrixLayout_t layout = nullptr;
  ASSERT_EQ(cublasLtMatrixLayoutCreate(&layout, CUDA_R_16BF, 64, 32, 64), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(cublasLtMatrixLayoutDestroy(layout), CUBLAS_STATUS_SUCCESS);
}

TEST(CudaCopyErrors, ValidateCopyNamesBothSides) {
  std::vector<float> host(4);
  Blob device = HostBlob(host);
  device.device = kCuda0;
  Blob smaller = device;
  smaller.desc.shape = Shape({3});
  const Status size = ValidateCopy(smaller, HostBlob(host));
  ASSERT_FALSE(size.ok());
  EXPECT_NE(size.message().find("cuda:0"), std::string::npos) << size.message();
  EXPECT_NE(size.message().find("same dtype and size"), std::string::npos) << size.message();
  const Status host_only = ValidateCopy(HostBlob(host), HostBlob(host));
  ASSERT_FALSE(host_only.ok());
  EXPECT_NE(host_only.message().find("CUDA device on one side"), std::string::npos) << host_only.message();
  Blob no_memory = device;
  no_memory.data = nullptr;
  EXPECT_FALSE(ValidateCopy(no_memory, HostBlob(host)).ok());
  EXPECT_TRUE(ValidateCopy(device, HostBlob(host)).ok());
}

TEST_F(CudaDeviceTest, CopiesRoundTripThroughTwoDeviceBlocksAndPinnedMemory) {
  auto stream = CudaStream::Create(kCuda0).ValueOrThrow();
  auto device_memory = MakeCudaDeviceAllocator(0);
  auto pinned_memory = MakePinnedHostAllocator();
  const int64_t n = 1 << 20;
  const size_t bytes = n * sizeof(float);
  std::vector<float> source(n), result(n, -1.0f);
  std::iota(source.begin(), source.end(), 0.0f);
  auto* pinned = static_cast<float*>(pinned_memory->Allocate(bytes).ValueOrThrow());
  std::copy(source.begin(), source.end(), pinned);
  const TensorDesc desc{Shape({n}), DType::kF32};
  const Blob pinned_blob{pinned, desc, DeviceId{}};
  const Blob first{device_memory->Allocate(bytes).ValueOrThrow(), desc, kCuda0};
  const Blob second{device_memory->Allocate(bytes).ValueOrThrow(), desc, kCuda0};
  ASSERT_TRUE(CopyBlobAsync(*stream, first, pinned_blob).ok());
  ASSERT_TRUE(CopyBlobAsync(*stream, second, first).ok());
  ASSERT_TRUE(CopyBlobAsync(*stream, HostBlob(result), second).ok());
  ASSERT_TRUE(stream->Synchronize().ok());
  EXPECT_EQ(result, source);
  ASSERT_TRUE(device_memory->Free(first.data).ok());
  ASSERT_TRUE(device_memory->Free(second.data).ok());
  ASSERT_TRUE(pinned_memory->Free(pinned).ok());
}

TEST_F(CudaDeviceTest, OnCompleteRunsCallbacksInOrderAfterTheWork) {
  auto stream = CudaStream::Create(kCuda0).ValueOrThrow();
  auto device_memory = MakeCudaDeviceAllocator(0);
  const int64_t n = 1 << 22;
  std::vector<float> source(n, 3.0f), result(n, 0.0f);
  const TensorDesc desc{Shape({n}), DType::kF32};
  const Blob device{device_memory->Allocate(n * sizeof(float)).ValueOrThrow(), desc, kCuda0};
  std::vector<int> order;
  std::mutex mutex;
  std::promise<void> last;
  ASSERT_TRUE(CopyBlobAsync(*stream, device, HostBlob(source)).ok());
  stream->OnComplete([&](Status status) {
    EXPECT_TRUE(status.ok()) << status.message();
    std::lock_guard<std::mutex> lock(mutex);
    order.push_back(1);
  });
  ASSERT_TRUE(CopyBlobAsync(*stream, HostBlob(result), device).ok());
  stream->OnComplete([&](Status status) {
    EXPECT_TRUE(status.ok()) << status.message();
    {
      std::lock_guard<std::mutex> lock(mutex);
      order.push_back(2);
    }
    last.set_value();
  });
  last.get_future().wait();
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_EQ(result, source) << "the callback ran before the copy it follows finished";
  ASSERT_TRUE(device_memory->Free(device.data).ok());
}

TEST_F(CudaDeviceTest, DeviceAllocatorReusesBlocksAcrossSteps) {
  auto device_memory = MakeCudaDeviceAllocator(0);
  for (int step = 0; step < 5; ++step) {
    std::vector<void*> blocks;
    for (size_t bytes : {size_t{1} << 10, size_t{1} << 20, size_t{3} << 20}) {
      blocks.push_back(device_memory->Allocate(bytes).ValueOrThrow());
    }
    for (void* block : blocks) ASSERT_TRUE(device_memory->Free(block).ok());
  }
  EXPECT_EQ(device_memory->stats().backend_allocations, 3) << "cudaMalloc only in the first step";
  auto too_big = device_memory->Allocate(size_t{1} << 50);
  ASSERT_FALSE(too_big.ok());
  EXPECT_NE(too_big.status().message().find("cudaMalloc"), std::string::npos) << too_big.status().message();
}

}  // namespace
}  // namespace ofl

// The host/device code shared by CPU and CUDA kernels (element-wise functors,
// the Philox generator) compiled by nvcc and run on the GPU, compared with
// the same code on the host. Skips with a message where no GPU or driver
// exists (the CUDA kernels themselves come with the CUDA backend issue).
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "ops/elementwise/functors.h"
#include "ops/random/philox.h"

namespace ofl {
namespace {

// Why there is no usable device, or "" when there is one.
std::string MissingDeviceReason() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) return std::string("no usable CUDA driver/device: ") + cudaGetErrorString(status);
  if (count == 0) return "no CUDA device";
  return "";
}

template <typename F>
__global__ void ApplyUnary(const float* x, float* y, int n, F f) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = f(x[i]);
}

template <typename F>
__global__ void ApplyBinary(const float* a, const float* b, float* y, int n, F f) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = f(a[i], b[i]);
}

__global__ void PhiloxValues(uint64_t seed, double* uniform, double* normal, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) {
    uniform[i] = philox::UniformAt(seed, static_cast<uint64_t>(i));
    normal[i] = philox::NormalAt(seed, static_cast<uint64_t>(i));
  }
}

// Copies `host` to the device, runs `launch(device_in...)`, copies back.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes) : bytes_(bytes) { cudaMalloc(&data_, bytes); }
  ~DeviceBuffer() { cudaFree(data_); }
  template <typename T>
  T* As() { return static_cast<T*>(data_); }
  template <typename T>
  void Upload(const std::vector<T>& host) { cudaMemcpy(data_, host.data(), bytes_, cudaMemcpyHostToDevice); }
  template <typename T>
  std::vector<T> Download() {
    std::vector<T> host(bytes_ / sizeof(T));
    cudaMemcpy(host.data(), data_, bytes_, cudaMemcpyDeviceToHost);
    return host;
  }

 private:
  void* data_ = nullptr;
  size_t bytes_;
};

template <typename F>
void ExpectUnaryMatchesHost(F f, const char* name) {
  const int n = 4096;
  std::vector<float> x(n);
  for (int i = 0; i < n; ++i) x[i] = -6.0f + 12.0f * i / n;
  DeviceBuffer in(n * sizeof(float)), out(n * sizeof(float));
  in.Upload(x);
  ApplyUnary<<<(n + 255) / 256, 256>>>(in.As<float>(), out.As<float>(), n, f);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess) << name;
  const std::vector<float> y = out.Download<float>();
  for (int i = 0; i < n; ++i) {
    const float expected = f(x[i]);
    ASSERT_NEAR(y[i], expected, 4e-6f * std::max(1.0f, std::abs(expected))) << name << " at x=" << x[i];
  }
}

TEST(DeviceFunctors, UnaryMatchHost) {
  const std::string reason = MissingDeviceReason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  ExpectUnaryMatchesHost(functors::GeluErf{}, "gelu_erf");
  ExpectUnaryMatchesHost(functors::GeluTanh{}, "gelu_tanh");
  ExpectUnaryMatchesHost(functors::Sigmoid{}, "sigmoid");
  ExpectUnaryMatchesHost(functors::Silu{}, "silu");
  ExpectUnaryMatchesHost(functors::Tanh{}, "tanh");
  ExpectUnaryMatchesHost(functors::Exp{}, "exp");
}

TEST(DeviceFunctors, BackwardMatchHost) {
  const std::string reason = MissingDeviceReason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  const int n = 4096;
  std::vector<float> x(n), dy(n);
  for (int i = 0; i < n; ++i) {
    x[i] = -4.0f + 8.0f * i / n;
    dy[i] = 0.5f + 0.25f * std::sin(static_cast<float>(i));
  }
  DeviceBuffer a(n * sizeof(float)), b(n * sizeof(float)), out(n * sizeof(float));
  a.Upload(x);
  b.Upload(dy);
  ApplyBinary<<<(n + 255) / 256, 256>>>(a.As<float>(), b.As<float>(), out.As<float>(), n, functors::GeluTanhGrad{});
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const std::vector<float> y = out.Download<float>();
  for (int i = 0; i < n; ++i) ASSERT_NEAR(y[i], functors::GeluTanhGrad{}(x[i], dy[i]), 1e-5f) << "x=" << x[i];
}

TEST(DevicePhilox, SameValuesAsHost) {
  const std::string reason = MissingDeviceReason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  const int n = 10000;
  const uint64_t seed = 0x1234567887654321ull;
  DeviceBuffer uniform(n * sizeof(double)), normal(n * sizeof(double));
  PhiloxValues<<<(n + 255) / 256, 256>>>(seed, uniform.As<double>(), normal.As<double>(), n);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const std::vector<double> u = uniform.Download<double>();
  const std::vector<double> z = normal.Download<double>();
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(u[i], philox::UniformAt(seed, i)) << "uniform element " << i;  // integer arithmetic: bitwise
    ASSERT_NEAR(z[i], philox::NormalAt(seed, i), 1e-12) << "normal element " << i;
  }
}

}  // namespace
}  // namespace ofl

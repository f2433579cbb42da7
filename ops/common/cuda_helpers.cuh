// Helpers for CUDA kernels (compiled by nvcc only).
//
// Storage types: a host element type T (ofl::Float16, ofl::BFloat16, float,
// ...) is stored on the device as CudaStorage<T> (__half, __nv_bfloat16,
// float, ...), bit-identical. Math runs in CudaCompute<D>: float for the two
// 16-bit types, D otherwise, exactly as the CPU kernels run it in
// ComputeType<T>, so the shared functors of ops/elementwise/functors.h give
// the same results on both backends.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <type_traits>

#include "oneflow_like/cuda/cuda_check.h"
#include "oneflow_like/cuda/cuda_stream.h"
#include "oneflow_like/kernel.h"

namespace ofl {

template <typename T>
struct CudaStorageOf {
  using type = T;
};
template <>
struct CudaStorageOf<Float16> {
  using type = __half;
};
template <>
struct CudaStorageOf<BFloat16> {
  using type = __nv_bfloat16;
};
/// The device storage type of host element type T.
template <typename T>
using CudaStorage = typename CudaStorageOf<T>::type;

/// The type device math runs in for storage type D.
template <typename D>
using CudaCompute =
    std::conditional_t<std::is_same_v<D, __half> || std::is_same_v<D, __nv_bfloat16>, float, D>;

/// Converts a stored element to compute type C (and back with FromCudaCompute).
template <typename C, typename D>
__device__ __forceinline__ C ToCudaCompute(D value) {
  if constexpr (std::is_same_v<D, __half>) {
    return static_cast<C>(__half2float(value));
  } else if constexpr (std::is_same_v<D, __nv_bfloat16>) {
    return static_cast<C>(__bfloat162float(value));
  } else {
    return static_cast<C>(value);
  }
}
template <typename D, typename C>
__device__ __forceinline__ D FromCudaCompute(C value) {
  if constexpr (std::is_same_v<D, __half>) {
    return __float2half_rn(static_cast<float>(value));
  } else if constexpr (std::is_same_v<D, __nv_bfloat16>) {
    return __float2bfloat16_rn(static_cast<float>(value));
  } else {
    return static_cast<D>(value);
  }
}

/// The CUDA stream of a kernel invocation, with its device made current,
/// or an error naming the op when the kernel was given another stream.
inline StatusOr<CudaStream*> CudaStreamOf(const KernelContext& ctx) {
  CudaStream* stream = CudaStream::From(ctx.stream);
  OFL_CHECK_OR_RETURN(stream != nullptr)
      << "[" << ctx.op_name << "] cuda kernel: expected a CUDA stream, got "
      << (ctx.stream == nullptr ? std::string("none") : "a stream of " + ctx.stream->device().ToString());
  OFL_RETURN_IF_ERROR(stream->Activate());
  return stream;
}

/// Ok, or the launch error of the last kernel, naming the op.
inline Status CudaLaunchStatus(const KernelContext& ctx) {
  return CudaStatus(cudaGetLastError(), "[" + ctx.op_name + "] cuda kernel launch");
}

/// The error a CUDA kernel returns for a dtype it was not written for.
inline Status UnsupportedCudaDType(const KernelContext& ctx, DType dtype) {
  return ErrorBuilder() << "[" << ctx.op_name << "] cuda kernel: expected a supported dtype, got "
                        << DTypeName(dtype);
}

/// Dispatches `fn(T{})` (host element type T) over `list` for `dtype`.
template <typename List, typename Fn>
Status CudaDispatchOr(const KernelContext& ctx, List list, DType dtype, Fn&& fn) {
  if (VisitDTypeIn(list, dtype, fn)) return Status::Ok();
  return UnsupportedCudaDType(ctx, dtype);
}

constexpr int kCudaBlock = 256;

/// Blocks for a grid-stride loop over n items: enough to fill an H100 (132
/// SMs x 8 resident blocks of 256 threads) without launching millions.
inline unsigned int CudaGridFor(int64_t n, int block = kCudaBlock) {
  const int64_t blocks = (n + block - 1) / block;
  const int64_t cap = int64_t{132} * 8 * 4;
  return static_cast<unsigned int>(blocks < 1 ? 1 : (blocks > cap ? cap : blocks));
}

template <typename F>
__global__ void CudaForEachKernel(int64_t n, F f) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    f(i);
  }
}

/// Runs `f(i)` for i in [0, n) on `stream` (f: a __device__ lambda; nvcc's
/// --extended-lambda is on for the project). The plain way to write index
/// kernels (layout, gathers, scatters); hot element-wise paths use the
/// vectorised maps of ops/elementwise/cuda_elementwise.cuh.
template <typename F>
Status CudaForEach(const KernelContext& ctx, cudaStream_t stream, int64_t n, F f) {
  if (n <= 0) return Status::Ok();
  CudaForEachKernel<<<CudaGridFor(n), kCudaBlock, 0, stream>>>(n, f);
  return CudaLaunchStatus(ctx);
}

/// Registers one kernel factory for (op, cuda, each dtype of `list`).
template <typename List>
Status RegisterCudaKernel(KernelRegistry& kernels, const std::string& op, List list,
                          std::function<Status(KernelContext&)> compute) {
  return kernels.RegisterForDTypes(op, DeviceType::kCUDA, DTypesOf(list),
                                   MakeFunctionKernel(std::move(compute)));
}

/// Up to 8 dimensions of a shape (or strides), passed to kernels by value.
struct CudaDims {
  int rank = 0;
  int64_t d[8] = {0, 0, 0, 0, 0, 0, 0, 0};
};

}  // namespace ofl

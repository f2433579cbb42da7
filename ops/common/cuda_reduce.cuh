// Warp and block reductions for CUDA kernels (softmax, norms, reductions,
// losses). Every lane of the warp (every thread of the block) gets the result.
#pragma once

#include <cuda_runtime.h>

#include <cmath>

namespace ofl {

struct CudaSumOp {
  template <typename C>
  __device__ __forceinline__ C operator()(C a, C b) const {
    return a + b;
  }
};
/// Maximum that lets a NaN through, like the CPU reductions.
struct CudaMaxOp {
  template <typename C>
  __device__ __forceinline__ C operator()(C a, C b) const {
    return (a > b || a != a) ? a : b;
  }
};

/// Reduces `value` over the 32 lanes of a warp with shuffles.
template <typename C, typename Op>
__device__ __forceinline__ C WarpReduce(C value, Op op) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1)
    value = op(value, __shfl_xor_sync(0xffffffffu, value, offset));
  return value;
}

/// Reduces `value` over the whole block (blockDim.x a multiple of 32, at
/// most 1024). Contains __syncthreads: every thread of the block must call
/// it. Safe to call repeatedly in one kernel.
template <typename C, typename Op>
__device__ __forceinline__ C BlockReduce(C value, Op op, C identity) {
  __shared__ C partials[32];
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  value = WarpReduce(value, op);
  __syncthreads();  // partials may still be read by a previous call
  if (lane == 0) partials[warp] = value;
  __syncthreads();
  const int warps = (blockDim.x + 31) >> 5;
  value = lane < warps ? partials[lane] : identity;
  return WarpReduce(value, op);
}

}  // namespace ofl

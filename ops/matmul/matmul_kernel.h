// CPU kernels of matmul and batch_matmul: y = alpha * op(a) op(b), batched
// over the leading axes, where op() transposes when the attribute says so.
#pragma once

#include "oneflow_like/kernel.h"

namespace ofl {

/// One (batched) product y[batch, m, n] = alpha op(a) op(b) as a kernel's
/// physical pieces define it. Kernels never need the logical shapes: every
/// matmul signature hands each device an ordinary, smaller product (or a
/// partial one whose sum is the result).
struct MatmulExtents {
  int64_t batch = 1;  ///< product of the batch axes (all but the last two)
  int64_t m = 0;
  int64_t n = 0;
  int64_t k = 0;
  bool transpose_a = false;
  bool transpose_b = false;
};

/// Reads transpose_a and transpose_b and checks that a, b and y (inputs 0,
/// 1, output 0) of one rank >= 2 form one product. Shared by the CPU and
/// CUDA kernels; `device` ("cpu", "cuda") names the kernel in errors.
StatusOr<MatmulExtents> MatmulExtentsOf(const KernelContext& ctx, const char* device);

/// f32: one oneDNN matmul primitive, cached per kernel object by problem
/// size, reading a and b in place (transposes are strides, alpha an output
/// scale), so a call costs exactly what calling oneDNN directly costs.
KernelFactory DnnlMatmulKernel();

/// f64, f16 and bf16 (oneDNN has no f64): plain loops accumulating in
/// double (f64) or float (f16, bf16), parallel over rows.
KernelFactory LoopMatmulKernel();

}  // namespace ofl

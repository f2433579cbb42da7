// CPU kernels of matmul and batch_matmul: y = alpha * op(a) op(b), batched
// over the leading axes, where op() transposes when the attribute says so.
#pragma once

#include "oneflow_like/kernel.h"

namespace ofl {

/// f32: one oneDNN matmul primitive, cached per kernel object by problem
/// size, reading a and b in place (transposes are strides, alpha an output
/// scale), so a call costs exactly what calling oneDNN directly costs.
KernelFactory DnnlMatmulKernel();

/// f64, f16 and bf16 (oneDNN has no f64): plain loops accumulating in
/// double (f64) or float (f16, bf16), parallel over rows.
KernelFactory LoopMatmulKernel();

}  // namespace ofl

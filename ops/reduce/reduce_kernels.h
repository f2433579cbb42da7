// CPU kernels of the reduce family (internal to ops/reduce/).
#pragma once

#include <vector>

#include "oneflow_like/kernel.h"

namespace ofl {

/// Which reduction a kernel computes.
enum class ReduceKind { kSum, kMean, kMax };

/// The op name of a reduction: "reduce_sum", "reduce_mean", "reduce_max".
const char* ReduceOpName(ReduceKind kind);

/// The dtypes with a CPU kernel for `kind`.
std::vector<DType> ReduceKernelDTypes(ReduceKind kind);

/// reduce_sum / reduce_mean / reduce_max on one piece. A piece split along a
/// reduced axis yields its partial result (P(sum) or P(max)); reduce_mean
/// divides by the LOGICAL number of reduced elements, so pieces add up to
/// the mean.
KernelFactory ReduceKernel(ReduceKind kind);

/// reduce_max_grad: dx = dy / (number of ties) where x equals y, else 0.
KernelFactory ReduceMaxGradKernel();

/// The dtypes with a CPU kernel for reduce_max_grad.
std::vector<DType> ReduceMaxGradKernelDTypes();

}  // namespace ofl

// CPU kernels of the reduce family, and the attribute helpers the CUDA
// kernels share with them (internal to ops/reduce/).
#pragma once

#include <vector>

#include "oneflow_like/kernel.h"

namespace ofl {

/// Which reduction a kernel computes.
enum class ReduceKind { kSum, kMean, kMax };

/// The op name of a reduction: "reduce_sum", "reduce_mean", "reduce_max".
const char* ReduceOpName(ReduceKind kind);

/// The reduced axes of a piece of rank `rank`, sorted and distinct (empty
/// attribute `axes` = all axes). Inference validated them; this only guards
/// kernels called with attributes that skipped inference.
StatusOr<std::vector<int>> ReduceKernelAxes(const KernelContext& ctx, int rank);

/// The number of output elements: the product of the extents not in `axes`.
int64_t ReduceKeptCount(const Shape& shape, const std::vector<int>& axes);

/// reduce_max_grad's reduced axes, after checking its pieces: y and dy hold
/// one element per kept position, dx is shaped like x. `backend` ("cpu",
/// "cuda") names the kernel in the error.
StatusOr<std::vector<int>> ReduceMaxGradAxes(const KernelContext& ctx, const char* backend);

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

// f32 element-wise kernels backed by oneDNN eltwise primitives (forward and
// backward). The tensor is treated as 1-D: every element-wise op here maps
// each element independently, so shape and layout beyond the element count
// do not matter. Only .cc files include this header (oneDNN is a private
// dependency of ofl_ops).
#pragma once

#include <dnnl.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "oneflow_like/attr.h"
#include "oneflow_like/kernel.h"

namespace ofl {

/// A oneDNN eltwise algorithm with its alpha and beta (meaning per algorithm,
/// e.g. swish: alpha is the slope inside the sigmoid; pow: alpha x^beta).
struct EltwiseAlgorithm {
  dnnl::algorithm kind = dnnl::algorithm::eltwise_relu;
  float alpha = 0.0f;
  float beta = 0.0f;

  bool operator==(const EltwiseAlgorithm& other) const {
    return kind == other.kind && alpha == other.alpha && beta == other.beta;
  }
};

/// Chooses the algorithm of one call from the op's attributes (gelu's
/// approximate form, a scalar exponent), or nullopt where oneDNN would be
/// slower than the plain loop for these attributes.
using EltwiseChooser = std::function<std::optional<EltwiseAlgorithm>(const AttrMap&)>;

/// A chooser that ignores the attributes.
EltwiseChooser FixedEltwise(dnnl::algorithm kind, float alpha = 0.0f, float beta = 0.0f);

/// f32 y = f(x) by eltwise_forward (inputs: x; outputs: y). Calls whose
/// chooser answers nullopt run `fallback` (the plain loop kernel) instead.
KernelFactory DnnlEltwiseForwardKernel(EltwiseChooser choose, KernelFactory fallback = nullptr);

/// f32 dx = f'(x) dy by eltwise_backward (inputs: x, dy; outputs: dx), for
/// algorithms that read the forward input x (not the *_use_dst_for_bwd
/// ones). Declined calls run `fallback`, as for the forward kernel.
KernelFactory DnnlEltwiseBackwardKernel(EltwiseChooser choose, KernelFactory fallback = nullptr);

/// Registers the CPU kernels of `op` for `dtypes`: `f32_kernel` for f32 when
/// given (non-null), `loop_kernel` for every other dtype (and f32 otherwise).
Status RegisterEltwiseKernels(KernelRegistry& kernels, const std::string& op, const std::vector<DType>& dtypes,
                              const KernelFactory& loop_kernel, const KernelFactory& f32_kernel);

}  // namespace ofl

// Plain C++ kernels of layer_norm and its two backward ops, for every float
// dtype. They serve f64 (the gradient checks), f16 and bf16 (computed in
// float), f32 where oneDNN has no primitive that fits (both backward ops,
// see dnnl_layer_norm.h), and f32 pieces oneDNN should not see (empty rows).
#pragma once

#include "oneflow_like/kernel.h"

namespace ofl {

/// x, gamma, beta -> y, mean, inv_std over axes [begin_norm_axis, rank).
Status LoopLayerNorm(KernelContext& ctx);

/// dy, x, mean, inv_std, gamma -> dx.
Status LoopLayerNormGrad(KernelContext& ctx);

/// dy, x, mean, inv_std -> dgamma, dbeta.
Status LoopLayerNormParamGrad(KernelContext& ctx);

}  // namespace ofl

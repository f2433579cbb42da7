// Norm ops: layer_norm, layer_norm_grad, layer_norm_param_grad, rms_norm, rms_norm_grad, rms_norm_param_grad.
#pragma once

#include "oneflow_like/kernel.h"
#include "ops/op_schema.h"

namespace ofl {

/// Registers layer_norm, layer_norm_grad, layer_norm_param_grad, rms_norm, rms_norm_grad,
/// rms_norm_param_grad.
Status RegisterNormOps(OpRegistry& ops, KernelRegistry& kernels);
/// Registers layer_norm, layer_norm_grad and layer_norm_param_grad (called by RegisterNormOps).
Status RegisterLayerNormOps(OpRegistry& ops, KernelRegistry& kernels);
/// Registers rms_norm, rms_norm_grad and rms_norm_param_grad (called by RegisterNormOps).
Status RegisterRmsNormOps(OpRegistry& ops, KernelRegistry& kernels);

}  // namespace ofl

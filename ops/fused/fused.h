// Fused ops: several ordinary ops computed in one pass over memory. The
// fusion pass (compiler/passes/fusion.h) produces them from their unfused
// equivalents, which are also what the tests compare them against:
//
//   bias_add_gelu(x, bias){axis, approximate}
//       == gelu(bias_add(x, bias){axis}){approximate}
//   bias_add_gelu_grad(dy, x, bias){axis, approximate}
//       == gelu_grad(bias_add(x, bias){axis}, dy){approximate}
//       (recomputes the pre-activation instead of reading a saved one, as
//       Megatron's fused bias-gelu does: the forward then stores nothing)
//   adam_update_scaled(param, grad, m, v, learning_rate, step, grad_scale){adam
//   attrs}
//       == adam_update(param, mul(grad, grad_scale), m, v, learning_rate,
//       step){adam attrs}
//   add_layer_norm(x, residual, weight, bias){begin_norm_axis, epsilon}
//       -> (y, sum, mean, inv_std)
//       == sum = add(x, residual);
//          (y, mean, inv_std) = layer_norm(sum, weight, bias){same attrs}
//
// Each fused op rounds its intermediate to the storage dtype exactly where
// the unfused chain stores it, and runs f32 gelu on the same oneDNN
// algorithm as the gelu op, so fused and unfused results agree to float
// rounding (bitwise, where the same vector code runs).
#pragma once

#include "oneflow_like/kernel.h"
#include "ops/op_schema.h"

namespace ofl {

/// Registers bias_add_gelu, bias_add_gelu_grad, adam_update_scaled and
/// add_layer_norm.
Status RegisterFusedOps(OpRegistry& ops, KernelRegistry& kernels);

/// bias_add_gelu and bias_add_gelu_grad (bias_add_gelu_op.cc).
Status RegisterBiasAddGeluOps(OpRegistry& ops, KernelRegistry& kernels);
/// adam_update_scaled (adam_update_scaled_op.cc).
Status RegisterAdamUpdateScaledOp(OpRegistry& ops, KernelRegistry& kernels);
/// add_layer_norm (add_layer_norm_op.cc).
Status RegisterAddLayerNormOp(OpRegistry& ops, KernelRegistry& kernels);

/// x of bias_add_gelu(_grad) viewed as [outer, channels, inner], with bias
/// along `channels`; count = outer * channels * inner elements.
struct BiasLayout {
  int64_t channels = 1;
  int64_t inner = 1;
  int64_t count = 0;
};

/// Checks the pieces of a bias_add_gelu (backward: bias_add_gelu_grad)
/// kernel call, inputs (x, bias) or (dy, x, bias), as the CPU and CUDA
/// kernels both need them, and returns x's layout. `device` ("cpu", "cuda")
/// names the kernel in errors.
StatusOr<BiasLayout> BiasGeluLayoutOf(const KernelContext& ctx, bool backward, const char* device);

/// The CUDA kernel of add_layer_norm (add_layer_norm_cuda.cu, CUDA builds
/// only; called by RegisterFusedCudaKernels).
Status RegisterAddLayerNormCudaKernel(KernelRegistry& kernels);

}  // namespace ofl

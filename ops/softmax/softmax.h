// Softmax ops: softmax, softmax_grad, log_softmax, log_softmax_grad, causal_softmax, causal_softmax_grad.
#pragma once

#include "oneflow_like/kernel.h"
#include "ops/op_schema.h"

namespace ofl {

/// Registers softmax, softmax_grad, log_softmax, log_softmax_grad, causal_softmax, causal_softmax_grad.
Status RegisterSoftmaxOps(OpRegistry& ops, KernelRegistry& kernels);
/// Registers causal_softmax and causal_softmax_grad (called by RegisterSoftmaxOps).
Status RegisterCausalSoftmaxOps(OpRegistry& ops, KernelRegistry& kernels);

}  // namespace ofl

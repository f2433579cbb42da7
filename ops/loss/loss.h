// Loss ops: sparse_softmax_cross_entropy, sparse_softmax_cross_entropy_grad, mse_loss.
#pragma once

#include "oneflow_like/kernel.h"
#include "ops/op_schema.h"

namespace ofl {

/// Registers sparse_softmax_cross_entropy, sparse_softmax_cross_entropy_grad, mse_loss.
Status RegisterLossOps(OpRegistry& ops, KernelRegistry& kernels);
/// Registers sparse_softmax_cross_entropy and its _grad op (called by RegisterLossOps).
Status RegisterCrossEntropyOps(OpRegistry& ops, KernelRegistry& kernels);
/// Registers mse_loss (called by RegisterLossOps).
Status RegisterMseLossOp(OpRegistry& ops, KernelRegistry& kernels);

}  // namespace ofl

// Matmul ops: matmul, batch_matmul, bias_add.
#pragma once

#include "oneflow_like/kernel.h"
#include "ops/op_schema.h"

namespace ofl {

/// Registers matmul, batch_matmul, bias_add.
Status RegisterMatmulOps(OpRegistry& ops, KernelRegistry& kernels);

/// Registers bias_add alone (part of RegisterMatmulOps; bias_add_op.cc).
Status RegisterBiasAddOp(OpRegistry& ops, KernelRegistry& kernels);

}  // namespace ofl

// Reduce ops: reduce_sum, reduce_mean, reduce_max, reduce_max_grad.
#pragma once

#include "oneflow_like/kernel.h"
#include "ops/op_schema.h"

namespace ofl {

/// Registers reduce_sum, reduce_mean, reduce_max, reduce_max_grad.
Status RegisterReduceOps(OpRegistry& ops, KernelRegistry& kernels);

}  // namespace ofl

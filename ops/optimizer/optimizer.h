// Optimizer ops: sgd_update, adam_update, clip_scale.
#pragma once

#include "oneflow_like/kernel.h"
#include "ops/op_schema.h"

namespace ofl {

/// Registers sgd_update, adam_update, clip_scale.
Status RegisterOptimizerOps(OpRegistry& ops, KernelRegistry& kernels);

}  // namespace ofl

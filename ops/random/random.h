// Random ops: fill, random_uniform, random_normal, dropout.
#pragma once

#include "oneflow_like/kernel.h"
#include "ops/op_schema.h"

namespace ofl {

/// Registers fill, random_uniform, random_normal, dropout.
Status RegisterRandomOps(OpRegistry& ops, KernelRegistry& kernels);

}  // namespace ofl

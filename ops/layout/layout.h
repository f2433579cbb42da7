// Layout ops: reshape, transpose, slice, slice_grad, concat, split, broadcast_to, cast, identity, add_n.
#pragma once

#include "oneflow_like/kernel.h"
#include "ops/op_schema.h"

namespace ofl {

/// Registers reshape, transpose, slice, slice_grad, concat, split, broadcast_to, cast, identity, add_n.
Status RegisterLayoutOps(OpRegistry& ops, KernelRegistry& kernels);

}  // namespace ofl

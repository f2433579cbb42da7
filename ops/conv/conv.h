// Conv ops: conv2d, conv2d_grad_data, conv2d_grad_filter, max_pool2d, max_pool2d_grad, avg_pool2d,
// avg_pool2d_grad.
#pragma once

#include "oneflow_like/kernel.h"
#include "ops/op_schema.h"

namespace ofl {

/// Registers conv2d, conv2d_grad_data, conv2d_grad_filter, max_pool2d, max_pool2d_grad, avg_pool2d,
/// avg_pool2d_grad.
Status RegisterConvOps(OpRegistry& ops, KernelRegistry& kernels);

/// Registers the pooling ops alone (part of RegisterConvOps; pool_ops.cc).
Status RegisterPoolOps(OpRegistry& ops, KernelRegistry& kernels);

}  // namespace ofl

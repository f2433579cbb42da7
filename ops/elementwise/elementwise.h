// Element-wise ops: binary with numpy broadcasting, unary math and
// activations, scalar variants, and the backward helpers they need.
#pragma once

#include "oneflow_like/kernel.h"
#include "ops/op_schema.h"

namespace ofl {

/// add, sub, mul, div, maximum, minimum, pow, maximum_grad, minimum_grad.
Status RegisterBinaryOps(OpRegistry& ops, KernelRegistry& kernels);
/// neg, abs, sign, exp, log, sqrt, rsqrt, tanh, sigmoid, relu, gelu, silu and
/// the backward ops relu_grad, tanh_grad, sigmoid_grad, gelu_grad, silu_grad.
Status RegisterUnaryOps(OpRegistry& ops, KernelRegistry& kernels);
/// scalar_add, scalar_sub, scalar_mul, scalar_div, scalar_pow.
Status RegisterScalarOps(OpRegistry& ops, KernelRegistry& kernels);

}  // namespace ofl

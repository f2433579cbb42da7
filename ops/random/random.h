// Random ops: fill, random_uniform, random_normal, dropout.
//
// Random values are keyed on (seed, logical element index) through the
// counter-based Philox4x32-10 generator (ops/random/philox.h): a tensor
// initialised or a dropout mask drawn under any SBP on any number of
// devices equals the single-device result element for element.
#pragma once

#include "oneflow_like/kernel.h"
#include "ops/op_schema.h"

namespace ofl {

/// Registers fill, random_uniform, random_normal, dropout.
Status RegisterRandomOps(OpRegistry& ops, KernelRegistry& kernels);

/// fill, random_uniform, random_normal: ops without inputs whose kernel
/// dtype is the output dtype.
Status RegisterInitializerOps(OpRegistry& ops, KernelRegistry& kernels);
/// dropout.
Status RegisterDropoutOp(OpRegistry& ops, KernelRegistry& kernels);

}  // namespace ofl

#include "ops/matmul/matmul.h"

namespace ofl {

Status RegisterMatmulOps(OpRegistry& ops, KernelRegistry& kernels) { return Status::Ok(); }

}  // namespace ofl

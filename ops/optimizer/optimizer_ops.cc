#include "ops/optimizer/optimizer.h"

namespace ofl {

Status RegisterOptimizerOps(OpRegistry& ops, KernelRegistry& kernels) { return Status::Ok(); }

}  // namespace ofl

#include "ops/random/random.h"

namespace ofl {

Status RegisterRandomOps(OpRegistry& ops, KernelRegistry& kernels) { return Status::Ok(); }

}  // namespace ofl

#include "ops/conv/conv.h"

namespace ofl {

Status RegisterConvOps(OpRegistry& ops, KernelRegistry& kernels) { return Status::Ok(); }

}  // namespace ofl

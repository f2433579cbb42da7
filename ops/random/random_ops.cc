#include "ops/random/random.h"

namespace ofl {

Status RegisterRandomOps(OpRegistry& ops, KernelRegistry& kernels) {
  OFL_RETURN_IF_ERROR(RegisterInitializerOps(ops, kernels));
  OFL_RETURN_IF_ERROR(RegisterDropoutOp(ops, kernels));
  return Status::Ok();
}

}  // namespace ofl

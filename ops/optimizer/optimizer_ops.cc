#include "ops/optimizer/optimizer.h"

namespace ofl {

Status RegisterOptimizerOps(OpRegistry& ops, KernelRegistry& kernels) {
  OFL_RETURN_IF_ERROR(RegisterUpdateOps(ops, kernels));
  OFL_RETURN_IF_ERROR(RegisterClipScaleOp(ops, kernels));
  return Status::Ok();
}

}  // namespace ofl

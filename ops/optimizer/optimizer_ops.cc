#include "ops/optimizer/multi_tensor_adam.h"
#include "ops/optimizer/optimizer.h"

namespace ofl {

Status RegisterOptimizerOps(OpRegistry& ops, KernelRegistry& kernels) {
  OFL_RETURN_IF_ERROR(RegisterUpdateOps(ops, kernels));
  OFL_RETURN_IF_ERROR(RegisterClipScaleOp(ops, kernels));
  // After RegisterUpdateOps: its CPU kernel runs adam_update's.
  OFL_RETURN_IF_ERROR(RegisterMultiTensorAdamOp(ops, kernels));
  return Status::Ok();
}

}  // namespace ofl

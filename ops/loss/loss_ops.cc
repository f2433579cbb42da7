#include "ops/loss/loss.h"

namespace ofl {

Status RegisterLossOps(OpRegistry& ops, KernelRegistry& kernels) {
  OFL_RETURN_IF_ERROR(RegisterCrossEntropyOps(ops, kernels));
  return RegisterMseLossOp(ops, kernels);
}

}  // namespace ofl

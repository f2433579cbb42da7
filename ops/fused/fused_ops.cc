#include "ops/fused/fused.h"

namespace ofl {

Status RegisterFusedOps(OpRegistry& ops, KernelRegistry& kernels) {
  OFL_RETURN_IF_ERROR(RegisterBiasAddGeluOps(ops, kernels));
  OFL_RETURN_IF_ERROR(RegisterAdamUpdateScaledOp(ops, kernels));
  OFL_RETURN_IF_ERROR(RegisterAddLayerNormOp(ops, kernels));
  return Status::Ok();
}

}  // namespace ofl

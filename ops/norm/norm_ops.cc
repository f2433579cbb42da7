#include "ops/norm/norm.h"

namespace ofl {

Status RegisterNormOps(OpRegistry& ops, KernelRegistry& kernels) {
  OFL_RETURN_IF_ERROR(RegisterLayerNormOps(ops, kernels));
  return RegisterRmsNormOps(ops, kernels);
}

}  // namespace ofl

#include "ops/optimizer/clip.h"

#include <cmath>

namespace ofl {

StatusOr<std::vector<ValueRef>> ClipByGlobalNorm(OpEmitter& emitter, const std::vector<ValueRef>& grads,
                                                 double max_norm) {
  // Checked here as well as by clip_scale so that no op is emitted for a call that must fail.
  OFL_CHECK_OR_RETURN(std::isfinite(max_norm) && max_norm > 0)
      << "[clip_by_global_norm] max_norm: expected a finite value > 0, got " << max_norm;
  OFL_CHECK_OR_RETURN(!grads.empty())
      << "[clip_by_global_norm] grads: expected at least one gradient, got none";
  const DType dtype = emitter.Desc(grads[0]).dtype;
  for (size_t i = 1; i < grads.size(); ++i) {
    const DType other = emitter.Desc(grads[i]).dtype;
    OFL_CHECK_OR_RETURN(other == dtype)
        << "[clip_by_global_norm] grads[" << i << "]: expected dtype " << DTypeName(dtype)
        << " (the dtype of grads[0]), got " << DTypeName(other);
  }
  std::vector<ValueRef> sums;
  for (ValueRef grad : grads) {
    OFL_ASSIGN_OR_RETURN(ValueRef squares, emitter.Emit1("mul", {grad, grad}));
    OFL_ASSIGN_OR_RETURN(
        ValueRef sum,
        emitter.Emit1("reduce_sum", {squares}, {{"axes", std::vector<int64_t>{}}, {"keepdims", false}}));
    sums.push_back(sum);
  }
  OFL_ASSIGN_OR_RETURN(ValueRef total, emitter.Emit1("add_n", sums));
  OFL_ASSIGN_OR_RETURN(ValueRef scale, emitter.Emit1("clip_scale", {total}, {{"max_norm", max_norm}}));
  std::vector<ValueRef> clipped;
  for (ValueRef grad : grads) {
    OFL_ASSIGN_OR_RETURN(ValueRef scaled, emitter.Emit1("mul", {grad, scale}));
    clipped.push_back(scaled);
  }
  return clipped;
}

}  // namespace ofl

#include "ops/common/grad_helpers.h"

namespace ofl {

StatusOr<ValueRef> SumToShape(OpEmitter& emitter, ValueRef grad, const Shape& target) {
  const Shape shape = emitter.Desc(grad).shape;
  if (shape == target) return grad;
  std::vector<int64_t> axes;
  const int lead = shape.rank() - target.rank();
  for (int k = 0; k < shape.rank(); ++k) {
    if (k < lead || (target[k - lead] == 1 && shape[k] != 1)) axes.push_back(k);
  }
  ValueRef reduced = grad;
  if (!axes.empty()) {
    OFL_ASSIGN_OR_RETURN(reduced, emitter.Emit1("reduce_sum", {grad}, {{"axes", axes}, {"keepdims", true}}));
  }
  if (emitter.Desc(reduced).shape == target) return reduced;
  return emitter.Emit1("reshape", {reduced}, {{"shape", target}});
}

StatusOr<ValueRef> ZerosLike(OpEmitter& emitter, ValueRef like) {
  const TensorDesc desc = emitter.Desc(like);
  return emitter.Emit1("fill", {}, {{"shape", desc.shape}, {"dtype", desc.dtype}, {"value", 0.0}});
}

}  // namespace ofl

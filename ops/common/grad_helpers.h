// Building blocks of gradient rules.
#pragma once

#include "ops/op_schema.h"

namespace ofl {

/// Sums `grad` (shaped like a broadcast result) down to `target`, the shape
/// of the operand that was broadcast: reduce_sum over the broadcast axes,
/// then reshape. Returns `grad` itself when no reduction is needed.
StatusOr<ValueRef> SumToShape(OpEmitter& emitter, ValueRef grad, const Shape& target);

/// A tensor of zeros shaped and typed like `like`.
StatusOr<ValueRef> ZerosLike(OpEmitter& emitter, ValueRef like);

}  // namespace ofl

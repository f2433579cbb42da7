// Optimizer ops: sgd_update, adam_update, clip_scale.
//
// Updates write their state in place (OpSchema::mutated_inputs) and have no
// outputs; the runtime orders them after every reader of the step. The
// global-norm clipping composite built on clip_scale is in clip.h.
#pragma once

#include "oneflow_like/kernel.h"
#include "ops/op_schema.h"

namespace ofl {

/// Registers sgd_update, adam_update, clip_scale.
Status RegisterOptimizerOps(OpRegistry& ops, KernelRegistry& kernels);

/// sgd_update and adam_update.
Status RegisterUpdateOps(OpRegistry& ops, KernelRegistry& kernels);
/// clip_scale.
Status RegisterClipScaleOp(OpRegistry& ops, KernelRegistry& kernels);

}  // namespace ofl

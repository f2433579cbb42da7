// Plain C++ kernels of softmax, log_softmax and their backward ops: every
// float dtype, any axis, written to auto-vectorise (vector_math.h). They run
// everything but f32 softmax_grad over the last axis, which runs oneDNN;
// dnnl_softmax.h has the measurements behind that split.
#pragma once

#include "oneflow_like/kernel.h"

namespace ofl {

/// y = softmax(x) along attribute `axis`, or log_softmax(x) when `log`.
Status LoopSoftmax(KernelContext& ctx, bool log);

/// From y and dy along attribute `axis`: softmax_grad dx = y * (dy - sum(dy * y)),
/// or log_softmax_grad dx = dy - exp(y) * sum(dy) when `log`.
Status LoopSoftmaxGrad(KernelContext& ctx, bool log);

}  // namespace ofl

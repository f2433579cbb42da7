// f32 softmax_grad on oneDNN's softmax_v2_backward primitive.
//
// Measured on the 2-core AVX-512 EPYC this project benchmarks on (4096 x
// 1024 f32, best of 200 interleaved runs, ms), oneDNN 2.6 vs the loops of
// softmax_loops.h:
//   op                2 threads         1 thread
//   softmax           1.47 vs 1.07      2.13 vs 2.2
//   log_softmax       1.51 vs 1.04      2.29 vs 2.08
//   log_softmax_grad  1.34 vs 0.81      1.96 vs 1.62
//   softmax_grad      0.47 vs 0.47-0.58 1.30 vs 1.21-1.31
// oneDNN's AVX-512 code gains only 1.4x from the second thread here where
// the loops (and oneDNN's own AVX2 code) gain 2x. So softmax, log_softmax
// and log_softmax_grad run the loops for every dtype; softmax_grad, a tie
// within this machine's noise, stays on oneDNN as the design prefers. Over
// an axis other than the last oneDNN 2.6 has only its reference
// implementation (~100x slower than the loops), so those calls, and empty
// pieces, run LoopSoftmaxGrad as well.
#pragma once

#include "oneflow_like/kernel.h"

namespace ofl {

/// f32 softmax_grad: y, dy -> dx = y * (dy - sum(dy * y)) along `axis`.
KernelFactory DnnlSoftmaxGradKernel();

}  // namespace ofl

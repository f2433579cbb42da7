// f32 layer_norm on oneDNN's layer_normalization_forward primitive.
//
// Only the forward op: oneDNN 2.6's layer-norm backward cannot produce what
// our two backward ops each need on its own. Its backward_data form takes
// no scale (gamma), and its full backward form always computes dgamma and
// dbeta besides dx (and wants inv_std turned back into a variance). That
// full form took 2.7 ms on 1 thread and 1.15 ms on 2 for 4096 x 1024 f32,
// against 1.8 / 0.68 ms for the layer_norm_grad loop and 1.4 / 0.43 ms for
// the layer_norm_param_grad loop (layer_norm_loops.h), so both stay loops.
#pragma once

#include "oneflow_like/kernel.h"

namespace ofl {

/// f32 x, gamma, beta -> y, mean, inv_std. oneDNN writes the mean and the
/// variance straight into the mean and inv_std outputs; one pass over the
/// rows then turns each variance into 1 / sqrt(variance + epsilon). Pieces
/// with no rows or no normalised elements run LoopLayerNorm.
KernelFactory DnnlLayerNormKernel();

}  // namespace ofl

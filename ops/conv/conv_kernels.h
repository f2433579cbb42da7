// CPU kernels of conv2d, conv2d_grad_data and conv2d_grad_filter.
#pragma once

#include "oneflow_like/kernel.h"

namespace ofl {

/// Which of the three convolution computations a kernel runs.
enum class ConvPass {
  kForward,         ///< (x, w) -> y
  kBackwardData,    ///< (dy, w) -> dx
  kBackwardFilter,  ///< (dy, x) -> dw
};

/// f32: oneDNN convolution forward / backward-data / backward-weights, in
/// channel-blocked layouts where reordering pays off (conv_dnnl_kernel.cc);
/// the primitive, reorders and blocked buffers cached per kernel object.
KernelFactory DnnlConvKernel(ConvPass pass);

/// f64 (oneDNN has none): direct loops, parallel over independent outputs.
KernelFactory LoopConvKernel(ConvPass pass);

}  // namespace ofl

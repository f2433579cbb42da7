// CPU kernels of the 2-D poolings and their backward ops.
#pragma once

#include "oneflow_like/kernel.h"

namespace ofl {

/// Max or average pooling.
enum class PoolKind { kMax, kAverage };

/// f32 forward (x -> y): oneDNN pooling on the plain NCHW buffers, the
/// primitive, scratchpad and arguments cached per kernel object. Unlike
/// convolution, no blocked layout: oneDNN's JIT pooling reads NCHW directly,
/// and for a memory-bound op the reorders cost more than they save
/// (3x3/2 max pooling of [8,64,112,112]: 20 GB/s plain, 9 GB/s with reorders).
KernelFactory DnnlPoolKernel(PoolKind kind);
/// f32 backward: max_pool2d_grad (x, y, dy -> dx) re-runs the forward on x to
/// get oneDNN's argmax workspace (cached buffers), then oneDNN's backward;
/// avg_pool2d_grad (dy -> dx) is oneDNN's backward alone.
KernelFactory DnnlPoolGradKernel(PoolKind kind);

/// f64 forward and backward (oneDNN has no f64): direct loops over planes.
KernelFactory LoopPoolKernel(PoolKind kind);
/// f64 backward; max routes dy to the first maximum of each window.
KernelFactory LoopPoolGradKernel(PoolKind kind);

}  // namespace ofl

// CUDA kernels of conv2d, conv2d_grad_data and conv2d_grad_filter through
// cuDNN's convolution API (cudnnConvolutionForward / BackwardData /
// BackwardFilter), NCHW tensors and OIHW filters in place, no reorders.
//
// Precision: f16 and bf16 with f32 accumulation on tensor cores; f32 with
// FMA math only (no TF32) unless CudaAllowTf32() (ops/matmul/cuda_matmul.h);
// f64 in double. Algorithms come from cuDNN's v7 heuristics, limited to the
// stream's workspace; no cudaMalloc ever.
#pragma once

#include "oneflow_like/kernel.h"
#include "ops/conv/conv_kernels.h"

namespace ofl {

/// A kernel for `pass` (f32, f64, f16, bf16), caching its cuDNN descriptors
/// and algorithm for the last geometry it ran. Runs on a CudaStream only.
KernelFactory CudnnConvKernel(ConvPass pass);

}  // namespace ofl

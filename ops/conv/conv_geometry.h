// One convolution as a kernel's physical pieces define it, shared by the
// oneDNN and loop kernels of conv2d, conv2d_grad_data and conv2d_grad_filter.
//
// Kernels never need the logical shapes: every signature hands a device a
// smaller convolution (fewer images or channels) or a partial one whose sum
// is the result.
#pragma once

#include <vector>

#include "oneflow_like/kernel.h"
#include "ops/conv/conv_kernels.h"
#include "ops/conv/conv_params.h"

namespace ofl {

/// Extents of x, w and y and the attributes of one convolution.
struct ConvGeometry {
  int64_t n = 0, c = 0, h = 0, w = 0;  ///< x
  int64_t o = 0, kh = 0, kw = 0;       ///< w is [o, c / groups, kh, kw]
  int64_t oh = 0, ow = 0;              ///< y
  Conv2dParams p;

  /// Everything a cached primitive depends on.
  std::vector<int64_t> Key() const;
};

/// The blobs of x, w and y for `pass` (one of them is the kernel's output).
struct ConvBlobs {
  const Blob* x;
  const Blob* w;
  const Blob* y;
};

/// Which of the kernel's inputs and output are x, w and y for `pass`.
ConvBlobs ConvBlobsOf(const KernelContext& ctx, ConvPass pass);

/// Reads the attributes and checks the pieces form one convolution.
StatusOr<ConvGeometry> ConvGeometryOf(const KernelContext& ctx, ConvPass pass);

/// True when the output needs no convolution: it is empty, or the sum is
/// empty (no channels, or no images for dw) and it has been zeroed. Zero-sized
/// pieces must never reach oneDNN.
bool ConvHandledWithoutCompute(const ConvGeometry& g, const Blob& out, ConvPass pass);

}  // namespace ofl

// The attributes of 2-D convolution and pooling, read and checked once, and
// the window arithmetic shared by inference and the kernels.
//
// Windows follow PyTorch's floor mode: along one spatial axis of extent `in`,
// out = (in + 2 padding - dilation (kernel - 1) - 1) / stride + 1 (floor).
#pragma once

#include <array>
#include <string>

#include "oneflow_like/attr.h"
#include "oneflow_like/status.h"

namespace ofl {

/// stride, padding, dilation (per spatial axis: H, W) and groups of a conv2d.
struct Conv2dParams {
  std::array<int64_t, 2> stride{1, 1};
  std::array<int64_t, 2> padding{0, 0};
  std::array<int64_t, 2> dilation{1, 1};
  int64_t groups = 1;
};

/// kernel, stride and padding (per spatial axis) of a 2-D pooling.
struct Pool2dParams {
  std::array<int64_t, 2> kernel{1, 1};
  std::array<int64_t, 2> stride{1, 1};
  std::array<int64_t, 2> padding{0, 0};
  bool count_include_pad = true;  ///< avg_pool2d only: divide by the whole window
};

/// Reads and checks conv2d's attributes; errors begin with `who` ("[conv2d]").
StatusOr<Conv2dParams> ReadConv2dParams(const std::string& who, const AttrMap& attrs);

/// Reads and checks a pooling's attributes (stride [] means the kernel;
/// 2 padding <= kernel so that no window lies wholly in the padding).
StatusOr<Pool2dParams> ReadPool2dParams(const std::string& who, const AttrMap& attrs, bool average);

/// Extent of the window span: dilation (kernel - 1) + 1.
inline int64_t DilatedExtent(int64_t kernel, int64_t dilation) { return dilation * (kernel - 1) + 1; }

/// Output extent along one axis; <= 0 when no window fits.
inline int64_t WindowOutputExtent(int64_t in, int64_t kernel, int64_t stride, int64_t padding,
                                  int64_t dilation) {
  const int64_t span = in + 2 * padding - DilatedExtent(kernel, dilation);
  return span < 0 ? 0 : span / stride + 1;
}

/// The padding after the last window that makes oneDNN's size check exact
/// (it may be smaller than `padding`, even negative, when floor drops a tail).
inline int64_t RightPadding(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding,
                            int64_t dilation) {
  return (out - 1) * stride + DilatedExtent(kernel, dilation) - in - padding;
}

}  // namespace ofl

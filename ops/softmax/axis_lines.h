// Iterating a tensor as independent lines along one axis, the loop shape of
// every softmax-like kernel: a row-major tensor is [outer, extent, inner]
// around the axis, and each of the outer * inner lines has `extent`
// elements `inner` apart.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "oneflow_like/parallel.h"
#include "oneflow_like/shape.h"

namespace ofl {

/// A row-major shape seen as [outer, extent, inner] around one axis.
struct AxisView {
  int64_t outer = 1;
  int64_t extent = 1;
  int64_t inner = 1;

  /// The view of `shape` around `axis` (a valid, non-negative axis).
  static AxisView Around(const Shape& shape, int axis) {
    AxisView view;
    for (int k = 0; k < axis; ++k) view.outer *= shape[k];
    view.extent = shape[axis];
    for (int k = axis + 1; k < shape.rank(); ++k) view.inner *= shape[k];
    return view;
  }
  int64_t lines() const { return outer * inner; }
};

/// The stride of a contiguous line, a compile-time 1 so the fast path
/// (softmax over the last axis) compiles to unit-stride loops.
using UnitStride = std::integral_constant<int64_t, 1>;

/// Calls line(line_index, base, stride) for every line of `view`, in
/// parallel over lines; element j of the line is at base + j * stride.
/// `stride` is UnitStride when the axis is the last one, int64_t otherwise.
template <typename LineFn>
void ForEachLine(const AxisView& view, LineFn&& line) {
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 14) / std::max<int64_t>(1, view.extent));
  if (view.extent == 0) return;
  if (view.inner == 1) {
    ParallelFor(view.lines(), grain, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) line(r, r * view.extent, UnitStride{});
    });
    return;
  }
  ParallelFor(view.lines(), grain, [&](int64_t begin, int64_t end) {
    for (int64_t l = begin; l < end; ++l) {
      const int64_t o = l / view.inner;
      const int64_t i = l % view.inner;
      line(l, o * view.extent * view.inner + i, view.inner);
    }
  });
}

}  // namespace ofl

// Iterating a tensor as independent lines along one axis, the loop shape of
// every softmax-like kernel: a row-major tensor is [outer, extent, inner]
// around the axis, and each of the outer * inner lines has `extent`
// elements `inner` apart.
#pragma once

#include <algorithm>
#include <cstdint>

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

/// Lines handled together when the axis is not the last. Element j of
/// neighbouring lines are neighbours in memory, so a block of lines walked
/// along the axis reads contiguous runs and its loops vectorise across
/// lines; 64 keeps a block's running statistics in a few cache lines.
inline constexpr int64_t kColumnBlock = 64;

/// Runs every line of `view` once, in parallel:
///  - axis last (inner == 1): row(base), the line being [base, base + extent);
///  - otherwise: columns(base, count) for blocks of `count` <= kColumnBlock
///    neighbouring lines, element j of line i (i < count) at
///    base + j * inner + i.
/// Nothing runs when the view has no elements.
template <typename RowFn, typename ColumnsFn>
void ForEachLineBlock(const AxisView& view, RowFn&& row, ColumnsFn&& columns) {
  if (view.extent == 0 || view.lines() == 0) return;
  // About 16K elements per parallel chunk.
  const int64_t work = int64_t{1} << 14;
  if (view.inner == 1) {
    ParallelFor(view.outer, std::max<int64_t>(1, work / view.extent), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) row(r * view.extent);
    });
    return;
  }
  const int64_t blocks_per_outer = (view.inner + kColumnBlock - 1) / kColumnBlock;
  const int64_t grain = std::max<int64_t>(1, work / (view.extent * std::min(view.inner, kColumnBlock)));
  ParallelFor(view.outer * blocks_per_outer, grain, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t o = task / blocks_per_outer;
      const int64_t first = (task % blocks_per_outer) * kColumnBlock;
      columns(o * view.extent * view.inner + first, std::min(kColumnBlock, view.inner - first));
    }
  });
}

}  // namespace ofl

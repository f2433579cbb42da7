// How a reduction of a row-major tensor over a set of axes is planned,
// shared by the CPU engine (reduce_loop.h) and the CUDA kernels
// (reduce_cuda.cu); free of the CPU's threading so nvcc can include it.
#pragma once

#include <cstdint>
#include <vector>

#include "oneflow_like/shape.h"

namespace ofl {

/// One pass: out[o, i] = combine over r of in[o, r, i].
struct ReducePass {
  int64_t outer = 1;
  int64_t reduced = 1;
  int64_t inner = 1;
};

/// A run of neighbouring axes with the same role (reduced or kept), axes of
/// extent 1 dropped: its merged extent and the row-major element stride of
/// its innermost axis.
struct ReduceRun {
  int64_t extent;
  bool reduced;
  int64_t stride;
};

/// The runs of a tensor of `shape` reduced over the sorted, distinct `axes`,
/// outermost first. Empty when every extent is 1.
std::vector<ReduceRun> ReduceRuns(const Shape& shape, const std::vector<int>& axes);

/// The passes that reduce a tensor of `shape` over the sorted, distinct
/// `axes`, in execution order. Empty when no axis of extent > 1 is reduced
/// (the reduction is then an element-wise copy). `shape` has no zero extent.
std::vector<ReducePass> PlanReduction(const Shape& shape, const std::vector<int>& axes);

}  // namespace ofl

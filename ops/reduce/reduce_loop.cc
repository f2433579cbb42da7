#include "ops/reduce/reduce_loop.h"

namespace ofl {

std::vector<ReduceRun> ReduceRuns(const Shape& shape, const std::vector<int>& axes) {
  std::vector<int64_t> strides(shape.rank());
  int64_t stride = 1;
  for (int axis = shape.rank() - 1; axis >= 0; --axis) {
    strides[axis] = stride;
    stride *= shape[axis];
  }
  std::vector<ReduceRun> runs;
  for (int axis = 0; axis < shape.rank(); ++axis) {
    if (shape[axis] == 1) continue;
    const bool reduced = std::binary_search(axes.begin(), axes.end(), axis);
    if (!runs.empty() && runs.back().reduced == reduced) {
      runs.back().extent *= shape[axis];
      runs.back().stride = strides[axis];
    } else {
      runs.push_back(ReduceRun{shape[axis], reduced, strides[axis]});
    }
  }
  return runs;
}

std::vector<ReducePass> PlanReduction(const Shape& shape, const std::vector<int>& axes) {
  std::vector<ReduceRun> runs = ReduceRuns(shape, axes);
  // Reduce the last reduced run first: everything after it is kept, so its
  // `inner` block is contiguous; then drop it and repeat.
  std::vector<ReducePass> passes;
  for (int index = static_cast<int>(runs.size()) - 1; index >= 0; --index) {
    if (!runs[index].reduced) continue;
    ReducePass pass;
    pass.reduced = runs[index].extent;
    for (int before = 0; before < index; ++before) pass.outer *= runs[before].extent;
    for (size_t after = index + 1; after < runs.size(); ++after) pass.inner *= runs[after].extent;
    passes.push_back(pass);
    runs.erase(runs.begin() + index);
  }
  return passes;
}

}  // namespace ofl

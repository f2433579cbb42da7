#include "ops/reduce/reduce_loop.h"

namespace ofl {

std::vector<ReducePass> PlanReduction(const Shape& shape, const std::vector<int>& axes) {
  // Runs of neighbouring axes with the same role; extent-1 axes play no role.
  struct Run {
    int64_t extent;
    bool reduced;
  };
  std::vector<Run> runs;
  for (int axis = 0; axis < shape.rank(); ++axis) {
    if (shape[axis] == 1) continue;
    const bool reduced = std::binary_search(axes.begin(), axes.end(), axis);
    if (!runs.empty() && runs.back().reduced == reduced) {
      runs.back().extent *= shape[axis];
    } else {
      runs.push_back(Run{shape[axis], reduced});
    }
  }
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

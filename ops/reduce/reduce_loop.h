// The CPU reduction engine shared by reduce_sum, reduce_mean and reduce_max.
//
// Any reduction of a row-major tensor over a set of axes is a sequence of
// passes over [outer, reduced, inner] views: axes of extent 1 are dropped,
// neighbouring axes that are both reduced or both kept are merged, and each
// remaining reduced run becomes one pass (the last run first, so `inner` is
// always a contiguous block of kept elements). The two shapes that matter
// most are one pass each and have contiguous inner loops:
//   - reduce over trailing axes  ([outer, reduced, 1]): row sums;
//   - reduce over leading axes   ([1, reduced, inner]): column sums (bias
//     gradients), accumulated four rows at a time into a block of columns.
// Work is cut into tasks by output element and column block, and also along
// the reduced extent when the output is small, so a full reduction of a big
// tensor still uses every thread. Partial results of one output element are
// combined in a fixed order, so results do not depend on the thread count.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "oneflow_like/parallel.h"
#include "oneflow_like/shape.h"
#include "ops/reduce/reduce_plan.h"

namespace ofl {

/// The least number of inputs worth a task of its own.
inline constexpr int64_t kReduceTaskElements = int64_t{1} << 15;
/// Columns accumulated together by one task (their accumulators stay in L1).
inline constexpr int64_t kReduceColumnBlock = 512;
/// Tasks a pass aims for when its output is too small to give them.
inline constexpr int64_t kReduceMinTasks = 64;

/// Summation, with `Acc` as accumulator.
template <typename Acc>
struct SumCombiner {
  using Accumulator = Acc;
  static Acc Identity() { return Acc(0); }
  static Acc Combine(Acc a, Acc b) { return a + b; }
};

/// Maximum, NaN-propagating, with `Acc` as accumulator.
template <typename Acc>
struct MaxCombiner {
  using Accumulator = Acc;
  static Acc Identity() {
    if constexpr (std::numeric_limits<Acc>::has_infinity) {
      return -std::numeric_limits<Acc>::infinity();
    } else {
      return std::numeric_limits<Acc>::lowest();
    }
  }
  // `a != a` keeps a NaN accumulator; a NaN `b` loses `a > b` and is taken.
  static Acc Combine(Acc a, Acc b) { return (a > b || a != a) ? a : b; }
};

/// Combines `count` contiguous elements into one accumulator, with
/// independent lanes so the loop vectorises.
template <typename Combiner, typename In>
typename Combiner::Accumulator ReduceContiguous(const In* in, int64_t count) {
  using Acc = typename Combiner::Accumulator;
  constexpr int kLanes = 8;
  Acc lanes[kLanes];
  for (Acc& lane : lanes) lane = Combiner::Identity();
  int64_t i = 0;
  for (; i + kLanes <= count; i += kLanes) {
    for (int k = 0; k < kLanes; ++k) lanes[k] = Combiner::Combine(lanes[k], static_cast<Acc>(in[i + k]));
  }
  Acc total = Combiner::Identity();
  for (; i < count; ++i) total = Combiner::Combine(total, static_cast<Acc>(in[i]));
  for (Acc lane : lanes) total = Combiner::Combine(total, lane);
  return total;
}

/// Runs one pass: reads `in` as [outer, reduced, inner], writes
/// out[o * inner + i] = store(accumulated value).
template <typename Combiner, typename In, typename Out, typename Store>
void RunReducePass(const In* in, Out* out, const ReducePass& pass, Store store) {
  using Acc = typename Combiner::Accumulator;
  const int64_t outer = pass.outer, reduced = pass.reduced, inner = pass.inner;
  const int64_t out_count = outer * inner;
  if (out_count == 0) return;
  if (reduced == 0) {
    for (int64_t i = 0; i < out_count; ++i) out[i] = store(Combiner::Identity());
    return;
  }
  const int64_t column_block = std::min(inner, kReduceColumnBlock);
  const int64_t column_blocks = (inner + column_block - 1) / column_block;
  // The reduced extent is cut into row blocks only when the output alone
  // gives too few tasks. The cut depends on the shape alone, so the order of
  // additions, and thus the result, does not depend on the thread count.
  int64_t row_block = reduced;
  const int64_t natural_tasks = outer * column_blocks;
  if (natural_tasks < kReduceMinTasks) {
    const int64_t wanted = (kReduceMinTasks + natural_tasks - 1) / natural_tasks;
    row_block =
        std::max((reduced + wanted - 1) / wanted, (kReduceTaskElements + column_block - 1) / column_block);
  }
  const int64_t row_blocks = (reduced + row_block - 1) / row_block;
  const int64_t tasks = outer * row_blocks * column_blocks;
  const int64_t task_elements = std::min(reduced, row_block) * column_block;
  const int64_t grain = std::max<int64_t>(1, kReduceTaskElements / task_elements);
  // With several row blocks per output element, tasks write partial results
  // [outer, row_blocks, inner] that are combined afterwards in block order.
  std::vector<Acc> partial(row_blocks > 1 ? outer * row_blocks * inner : 0);

  ParallelFor(tasks, grain, [&](int64_t begin, int64_t end) {
    std::vector<Acc> accumulators(inner == 1 ? 0 : column_block);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t o = task / (row_blocks * column_blocks);
      const int64_t rest = task % (row_blocks * column_blocks);
      const int64_t rb = rest / column_blocks;
      const int64_t cb = rest % column_blocks;
      const int64_t r0 = rb * row_block, r1 = std::min(reduced, r0 + row_block);
      const int64_t j0 = cb * column_block, j1 = std::min(inner, j0 + column_block);
      const In* base = in + o * reduced * inner;
      auto emit = [&](int64_t j, Acc value) {
        if (row_blocks == 1) {
          out[o * inner + j] = store(value);
        } else {
          partial[(o * row_blocks + rb) * inner + j] = value;
        }
      };
      if (inner == 1) {
        emit(0, ReduceContiguous<Combiner>(base + r0, r1 - r0));
        continue;
      }
      const int64_t width = j1 - j0;
      Acc* acc = accumulators.data();
      for (int64_t j = 0; j < width; ++j) acc[j] = Combiner::Identity();
      // Four rows per sweep: a quarter of the accumulator loads and stores.
      int64_t r = r0;
      for (; r + 4 <= r1; r += 4) {
        const In* row0 = base + r * inner + j0;
        const In* row1 = row0 + inner;
        const In* row2 = row1 + inner;
        const In* row3 = row2 + inner;
        for (int64_t j = 0; j < width; ++j) {
          const Acc a = Combiner::Combine(static_cast<Acc>(row0[j]), static_cast<Acc>(row1[j]));
          const Acc b = Combiner::Combine(static_cast<Acc>(row2[j]), static_cast<Acc>(row3[j]));
          acc[j] = Combiner::Combine(acc[j], Combiner::Combine(a, b));
        }
      }
      for (; r < r1; ++r) {
        const In* row = base + r * inner + j0;
        for (int64_t j = 0; j < width; ++j) acc[j] = Combiner::Combine(acc[j], static_cast<Acc>(row[j]));
      }
      for (int64_t j = 0; j < width; ++j) emit(j0 + j, acc[j]);
    }
  });
  if (row_blocks == 1) return;
  ParallelFor(out_count, std::max<int64_t>(1, kReduceTaskElements / row_blocks),
              [&](int64_t begin, int64_t end) {
                for (int64_t index = begin; index < end; ++index) {
                  const int64_t o = index / inner, j = index % inner;
                  Acc value = Combiner::Identity();
                  for (int64_t rb = 0; rb < row_blocks; ++rb) {
                    value = Combiner::Combine(value, partial[(o * row_blocks + rb) * inner + j]);
                  }
                  out[index] = store(value);
                }
              });
}

/// Reduces `in` (shaped `shape`) over the sorted, distinct `axes` into
/// `out` (the kept elements in order), writing store(accumulated value).
template <typename Combiner, typename In, typename Out, typename Store>
void ReduceTensor(const In* in, const Shape& shape, const std::vector<int>& axes, Out* out, Store store) {
  using Acc = typename Combiner::Accumulator;
  int64_t out_count = 1;
  for (int axis = 0; axis < shape.rank(); ++axis) {
    if (!std::binary_search(axes.begin(), axes.end(), axis)) out_count *= shape[axis];
  }
  if (shape.NumElements() == 0) {  // nothing to combine: every output is the identity
    for (int64_t i = 0; i < out_count; ++i) out[i] = store(Combiner::Identity());
    return;
  }
  const std::vector<ReducePass> passes = PlanReduction(shape, axes);
  if (passes.empty()) {
    ParallelFor(out_count, kReduceTaskElements, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) out[i] = store(static_cast<Acc>(in[i]));
    });
    return;
  }
  auto keep = [](Acc value) { return value; };
  if (passes.size() == 1) {
    RunReducePass<Combiner>(in, out, passes[0], store);
    return;
  }
  // Several reduced runs: intermediate results stay in the accumulator type.
  std::vector<Acc> current(passes[0].outer * passes[0].inner);
  RunReducePass<Combiner>(in, current.data(), passes[0], keep);
  for (size_t p = 1; p + 1 < passes.size(); ++p) {
    std::vector<Acc> next(passes[p].outer * passes[p].inner);
    RunReducePass<Combiner>(current.data(), next.data(), passes[p], keep);
    current.swap(next);
  }
  RunReducePass<Combiner>(current.data(), out, passes.back(), store);
}

}  // namespace ofl

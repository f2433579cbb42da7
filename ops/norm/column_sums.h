// Per-column sums over the rows of a [rows, cols] problem, the shape of
// every normalisation's parameter gradient (dgamma = sum over rows of
// dy * xhat), computed in parallel with contiguous row reads.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "oneflow_like/parallel.h"

namespace ofl {

/// Fills results[k][j] = sum over rows r of term_k(r, j) for K outputs.
/// `add_rows(row_begin, row_end, col_begin, col_end, sums)` adds the
/// contributions of rows [row_begin, row_end) to columns [col_begin, col_end)
/// into sums[k][j - col_begin]; it is called concurrently on disjoint sums.
///
/// The rows are cut into parts, each summed into its own partial row, and
/// the partial rows are added in part order. The cut depends on the shape
/// alone, so results repeat bit for bit whatever the thread count; and each
/// task reads whole row segments, which the hardware prefetches, where a
/// split over columns alone would stride across rows.
template <int K, typename C, typename AddRows>
void SumOverRows(int64_t rows, int64_t cols, AddRows&& add_rows, const std::array<C*, K>& results) {
  if (cols <= 0) return;
  constexpr int64_t kRowsPerPart = 32;
  constexpr int64_t kMaxParts = 16;
  constexpr int64_t kColumnsPerTask = 1024;
  const int64_t parts = std::clamp<int64_t>(rows / kRowsPerPart, 1, kMaxParts);
  const int64_t column_tasks = (cols + kColumnsPerTask - 1) / kColumnsPerTask;
  std::vector<C> partial(static_cast<size_t>(parts * K * cols), C(0));
  ParallelFor(parts * column_tasks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t part = task / column_tasks;
      const int64_t col_begin = (task % column_tasks) * kColumnsPerTask;
      const int64_t col_end = std::min(cols, col_begin + kColumnsPerTask);
      std::array<C*, K> sums;
      for (int k = 0; k < K; ++k) sums[k] = partial.data() + (part * K + k) * cols + col_begin;
      add_rows(rows * part / parts, rows * (part + 1) / parts, col_begin, col_end, sums);
    }
  });
  ParallelFor(cols, kColumnsPerTask, [&](int64_t begin, int64_t end) {
    for (int k = 0; k < K; ++k) {
      for (int64_t j = begin; j < end; ++j) {
        C total = 0;
        for (int64_t part = 0; part < parts; ++part) total += partial[(part * K + k) * cols + j];
        results[k][j] = total;
      }
    }
  });
}

}  // namespace ofl

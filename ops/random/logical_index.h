// Walking a physical piece by logical element index, for ops whose values
// are keyed on the position in the logical tensor (seeded initialisers,
// dropout): the same logical element gets the same value whichever device
// holds it.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "oneflow_like/kernel.h"
#include "oneflow_like/parallel.h"

namespace ofl {

/// Checks that `arg` describes a piece that lies inside its logical tensor.
inline Status CheckPieceInLogical(const std::string& op, const TensorArg& arg) {
  const Shape& piece = arg.blob.shape();
  const int rank = piece.rank();
  OFL_CHECK_OR_RETURN(arg.logical_shape.rank() == rank && static_cast<int>(arg.offset.size()) == rank)
      << "[" << op << "] cpu kernel: expected a piece of rank " << rank
      << " with one offset per axis, got logical " << arg.logical_shape.ToString() << " and "
      << arg.offset.size() << " offsets";
  for (int axis = 0; axis < rank; ++axis) {
    OFL_CHECK_OR_RETURN(arg.offset[axis] >= 0 && arg.offset[axis] + piece[axis] <= arg.logical_shape[axis])
        << "[" << op << "] cpu kernel: expected piece " << piece.ToString() << " inside logical "
        << arg.logical_shape.ToString() << ", got offset " << arg.offset[axis] << " on axis " << axis;
  }
  return Status::Ok();
}

/// Calls fn(local_begin, logical_begin, count) for every run of the piece
/// that is contiguous in both the piece and the logical tensor (a row along
/// the last axis): elements local_begin + j and logical_begin + j match for
/// j < count. Runs are visited in parallel; fn must be safe on disjoint runs.
template <typename Fn>
void ForEachLogicalRun(const TensorArg& arg, Fn&& fn) {
  const Shape& piece = arg.blob.shape();
  const int rank = piece.rank();
  const int64_t count = piece.NumElements();
  if (count == 0) return;
  if (rank == 0) {
    fn(int64_t{0}, int64_t{0}, int64_t{1});
    return;
  }
  const int64_t row = piece[rank - 1];
  const int64_t rows = count / row;
  const std::vector<int64_t> logical_strides = arg.logical_shape.Strides();
  ParallelFor(rows, std::max<int64_t>(1, (int64_t{1} << 14) / row), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      int64_t logical = arg.offset[rank - 1];
      int64_t rest = r;
      for (int axis = rank - 2; axis >= 0; --axis) {
        const int64_t index = rest % piece[axis];
        rest /= piece[axis];
        logical += (arg.offset[axis] + index) * logical_strides[axis];
      }
      fn(r * row, logical, row);
    }
  });
}

}  // namespace ofl

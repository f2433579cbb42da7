// Pieces shared by the CPU (micro_batch_ops.cc) and CUDA (pipeline_cuda.cu)
// kernels of the pipeline family.
#pragma once

#include <cstdint>
#include <string>

#include "oneflow_like/kernel.h"

namespace ofl {

/// The micro-batch index of this act, checked against the op's attribute
/// micro_batches; errors name the op and `backend` ("cpu", "cuda").
StatusOr<int64_t> MicroBatchOf(const KernelContext& ctx, const std::string& backend);

/// The rows one unpack or pack act moves: row r of the micro-batch piece
/// (unpack's y, pack's x) is row first + r * micro_batches of the mini-batch
/// piece (unpack's x, pack's y), for r in [0, rows).
struct MicroBatchRows {
  int64_t micro = 0;          ///< the act's micro-batch
  int64_t micro_batches = 1;  ///< M
  int64_t first = 0;          ///< row of the mini-batch piece that micro-batch row 0 maps to
  int64_t rows = 0;           ///< rows of the micro-batch piece
  int64_t row_bytes = 0;      ///< bytes of one row (0 when there are no rows)
};

/// The rows of an unpack (`unpack`) or pack act, with every one of them
/// checked to lie inside the mini-batch piece (pieces of the batch axis must
/// hold whole groups of M rows); the error names the first row outside, as a
/// row-by-row check would. Errors name the op and `backend`.
StatusOr<MicroBatchRows> MicroBatchRowsOf(const KernelContext& ctx, const std::string& backend, bool unpack);

}  // namespace ofl

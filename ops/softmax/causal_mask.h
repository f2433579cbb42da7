// The mask of causal_softmax, one definition for the CPU and CUDA kernels.
// It keys on the LOGICAL query row, so the op may be split along query rows.
#pragma once

#include <cstdint>

#include "oneflow_like/kernel.h"
#include "oneflow_like/macros.h"

namespace ofl {

/// The mask on one piece of [..., Tq, Tk] scores. Row r of the piece (rows
/// of tk keys counted over every leading axis) is logical query
/// q = row_offset + r % local_tq, which sees keys j < q + (Tk - Tq) + 1:
/// with Tq == Tk the usual lower triangle; with Tq < Tk (the last Tq
/// queries of a longer sequence, as with a key/value cache) every query
/// also sees the Tk - Tq earlier keys.
struct CausalMask {
  int64_t tk = 0;
  int64_t local_tq = 0;
  int64_t row_offset = 0;
  int64_t visible_shift = 0;  // Tk - Tq of the logical tensor

  /// The number of leading keys row r sees, in [0, tk]. local_tq > 0.
  OFL_HOST_DEVICE OFL_INLINE int64_t VisibleKeys(int64_t r) const {
    const int64_t visible = row_offset + r % local_tq + visible_shift + 1;
    return visible < 0 ? 0 : (visible > tk ? tk : visible);
  }
};

/// The mask of input 0 (x) of a causal_softmax kernel invocation; the key
/// axis must be whole on each device.
inline StatusOr<CausalMask> CausalMaskOf(const KernelContext& ctx) {
  const TensorArg& x_arg = ctx.inputs[0];
  const Shape& shape = x_arg.blob.shape();
  const int rank = shape.rank();
  OFL_CHECK_OR_RETURN(rank >= 2 && x_arg.logical_shape.rank() == rank)
      << "[" << ctx.op_name << "] x: expected a piece and logical shape of the same rank >= 2, got "
      << shape.ToString() << " of " << x_arg.logical_shape.ToString();
  CausalMask mask;
  mask.tk = shape[rank - 1];
  mask.local_tq = shape[rank - 2];
  OFL_CHECK_OR_RETURN(mask.tk == x_arg.logical_shape[rank - 1])
      << "[" << ctx.op_name << "] x: expected the key axis whole on each device ("
      << x_arg.logical_shape[rank - 1] << " keys), got a piece with " << mask.tk;
  mask.row_offset = x_arg.offset.empty() ? 0 : x_arg.offset[rank - 2];
  mask.visible_shift = x_arg.logical_shape[rank - 1] - x_arg.logical_shape[rank - 2];
  return mask;
}

}  // namespace ofl

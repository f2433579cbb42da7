#include "ops/elementwise/broadcast_loop.h"

namespace ofl {

std::vector<int64_t> BroadcastStrides(const Shape& in, const Shape& out) {
  const std::vector<int64_t> in_strides = in.Strides();
  std::vector<int64_t> strides(out.rank(), 0);
  const int lead = out.rank() - in.rank();
  for (int axis = lead; axis < out.rank(); ++axis) {
    const int in_axis = axis - lead;
    strides[axis] = in[in_axis] == 1 ? 0 : in_strides[in_axis];
  }
  return strides;
}

}  // namespace ofl

// CPU loops for element-wise ops with numpy broadcasting.
#pragma once

#include <vector>

#include "oneflow_like/parallel.h"
#include "oneflow_like/shape.h"
#include "ops/common/kernel_helpers.h"
#include "ops/elementwise/functors.h"

namespace ofl {

/// Strides (in elements) with which `in` is read for each axis of `out`:
/// 0 along broadcast axes. `in` must broadcast to `out`.
std::vector<int64_t> BroadcastStrides(const Shape& in, const Shape& out);

/// out[i] = f(in[i]) over `count` elements, in the compute type.
template <typename T, typename F>
void UnaryLoop(const T* in, T* out, int64_t count, F f) {
  using C = ComputeType<T>;
  ParallelFor(count, 1 << 14, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) out[i] = FromCompute<T>(f(ToCompute<C>(in[i])));
  });
}

/// One output row of a broadcast: o[i] = f(a[i * AStep], b[i * BStep]).
/// The steps along the last axis are always 1 (read along) or 0 (broadcast),
/// and as constants they let the compiler vectorise each case with plain
/// loads and splats, where runtime steps gave element-by-element gathers.
template <int AStep, int BStep, typename T, typename F>
inline void BroadcastRow(const T* a, const T* b, T* o, int64_t row, F f) {
  using C = ComputeType<T>;
  for (int64_t i = 0; i < row; ++i) {
    o[i] = FromCompute<T>(f(ToCompute<C>(a[i * AStep]), ToCompute<C>(b[i * BStep])));
  }
}

/// out = f(a, b) with a and b broadcast to `out_shape`.
template <typename T, typename F>
void BinaryBroadcastLoop(const T* a, const Shape& a_shape, const T* b, const Shape& b_shape, T* out,
                         const Shape& out_shape, F f) {
  using C = ComputeType<T>;
  const int64_t count = out_shape.NumElements();
  if (count == 0) return;
  if (a_shape == out_shape && b_shape == out_shape) {
    ParallelFor(count, 1 << 14, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) out[i] = FromCompute<T>(f(ToCompute<C>(a[i]), ToCompute<C>(b[i])));
    });
    return;
  }
  const int rank = out_shape.rank();
  const std::vector<int64_t> a_strides = BroadcastStrides(a_shape, out_shape);
  const std::vector<int64_t> b_strides = BroadcastStrides(b_shape, out_shape);
  const int64_t row = rank == 0 ? 1 : out_shape[rank - 1];
  const int64_t a_step = rank == 0 ? 0 : a_strides[rank - 1];
  const int64_t b_step = rank == 0 ? 0 : b_strides[rank - 1];
  const int64_t rows = count / row;
  ParallelFor(rows, std::max<int64_t>(1, (1 << 14) / row), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      int64_t a_offset = 0, b_offset = 0, rest = r;
      for (int axis = rank - 2; axis >= 0; --axis) {
        const int64_t index = rest % out_shape[axis];
        rest /= out_shape[axis];
        a_offset += index * a_strides[axis];
        b_offset += index * b_strides[axis];
      }
      T* o = out + r * row;
      if (a_step == 1 && b_step == 1) {
        BroadcastRow<1, 1>(a + a_offset, b + b_offset, o, row, f);
      } else if (a_step == 1) {
        BroadcastRow<1, 0>(a + a_offset, b + b_offset, o, row, f);
      } else if (b_step == 1) {
        BroadcastRow<0, 1>(a + a_offset, b + b_offset, o, row, f);
      } else {
        BroadcastRow<0, 0>(a + a_offset, b + b_offset, o, row, f);
      }
    }
  });
}

}  // namespace ofl

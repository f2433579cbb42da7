#include "ops/softmax/softmax_loops.h"

#include <cmath>
#include <limits>
#include <type_traits>

#include "ops/common/kernel_helpers.h"
#include "ops/elementwise/functors.h"
#include "ops/softmax/axis_lines.h"
#include "ops/common/vector_math.h"

namespace ofl {

namespace {

AxisView ViewOf(const KernelContext& ctx) {
  const Shape& shape = ctx.in(0).shape();
  const int axis = static_cast<int>(ctx.attr().GetInt("axis"));
  return AxisView::Around(shape, axis < 0 ? axis + shape.rank() : axis);
}

// When T is its own compute type, the forward pass may park exp(x - max) in
// y and rescale it in place; a narrower T (f16, bf16) would round it twice,
// so those recompute the exponential instead.
template <typename T>
inline constexpr bool kParkInOutput = std::is_same_v<T, ComputeType<T>>;

// One contiguous line of n elements. Subtracting the line's maximum keeps
// exp from overflowing.
template <typename T, bool kLog>
void SoftmaxRow(const T* __restrict x, T* __restrict y, int64_t n) {
  using C = ComputeType<T>;
  const C max = MaxOf<C>(n, [&](int64_t j) { return ToCompute<C>(x[j]); });
  if constexpr (kLog) {
    const C sum = SumOf<C>(n, [&](int64_t j) { return ExpOf<C>(ToCompute<C>(x[j]) - max); });
    const C shift = max + std::log(sum);
    for (int64_t j = 0; j < n; ++j) y[j] = FromCompute<T>(ToCompute<C>(x[j]) - shift);
    return;
  }
  C sum;
  if constexpr (kParkInOutput<T>) {
    sum = SumOf<C>(n, [&](int64_t j) {
      const C e = ExpOf<C>(x[j] - max);
      y[j] = e;
      return e;
    });
  } else {
    sum = SumOf<C>(n, [&](int64_t j) { return ExpOf<C>(ToCompute<C>(x[j]) - max); });
  }
  const C inverse = C(1) / sum;
  for (int64_t j = 0; j < n; ++j) {
    const C e = kParkInOutput<T> ? ToCompute<C>(y[j]) : ExpOf<C>(ToCompute<C>(x[j]) - max);
    y[j] = FromCompute<T>(e * inverse);
  }
}

// `count` neighbouring lines of `extent` elements, `stride` apart: the same
// three passes, each vectorised across the lines.
template <typename T, bool kLog>
void SoftmaxColumns(const T* __restrict x, T* __restrict y, int64_t extent, int64_t stride, int64_t count) {
  using C = ComputeType<T>;
  C max[kColumnBlock], sum[kColumnBlock];
  for (int64_t i = 0; i < count; ++i) {
    max[i] = -std::numeric_limits<C>::infinity();
    sum[i] = 0;
  }
  for (int64_t j = 0; j < extent; ++j) {
    const T* xj = x + j * stride;
    for (int64_t i = 0; i < count; ++i) {
      const C value = ToCompute<C>(xj[i]);
      max[i] = max[i] < value ? value : max[i];
    }
  }
  constexpr bool park = kParkInOutput<T> && !kLog;
  for (int64_t j = 0; j < extent; ++j) {
    const T* xj = x + j * stride;
    T* yj = y + j * stride;
    for (int64_t i = 0; i < count; ++i) {
      const C e = ExpOf<C>(ToCompute<C>(xj[i]) - max[i]);
      sum[i] += e;
      if constexpr (park) yj[i] = FromCompute<T>(e);
    }
  }
  // Turn the statistics into what the last pass needs: a shift (log) or a
  // factor (softmax).
  for (int64_t i = 0; i < count; ++i) sum[i] = kLog ? max[i] + std::log(sum[i]) : C(1) / sum[i];
  for (int64_t j = 0; j < extent; ++j) {
    const T* xj = x + j * stride;
    T* yj = y + j * stride;
    for (int64_t i = 0; i < count; ++i) {
      if constexpr (kLog) {
        yj[i] = FromCompute<T>(ToCompute<C>(xj[i]) - sum[i]);
      } else {
        const C e = park ? ToCompute<C>(yj[i]) : ExpOf<C>(ToCompute<C>(xj[i]) - max[i]);
        yj[i] = FromCompute<T>(e * sum[i]);
      }
    }
  }
}

// The value each backward line needs: sum(dy * y) for softmax, sum(dy) for
// log_softmax; then dx from it.
template <typename C, bool kLog>
inline C GradTerm(C y, C dy) {
  if constexpr (kLog) {
    return dy;
  } else {
    return dy * y;
  }
}
template <typename C, bool kLog>
inline C GradOf(C y, C dy, C total) {
  if constexpr (kLog) {
    return dy - ExpOf<C>(y) * total;
  } else {
    return y * (dy - total);
  }
}

template <typename T, bool kLog>
void SoftmaxGradRow(const T* __restrict y, const T* __restrict dy, T* __restrict dx, int64_t n) {
  using C = ComputeType<T>;
  const C total = SumOf<C>(n, [&](int64_t j) { return GradTerm<C, kLog>(ToCompute<C>(y[j]), ToCompute<C>(dy[j])); });
  for (int64_t j = 0; j < n; ++j) {
    dx[j] = FromCompute<T>(GradOf<C, kLog>(ToCompute<C>(y[j]), ToCompute<C>(dy[j]), total));
  }
}

template <typename T, bool kLog>
void SoftmaxGradColumns(const T* __restrict y, const T* __restrict dy, T* __restrict dx, int64_t extent, int64_t stride,
                        int64_t count) {
  using C = ComputeType<T>;
  C total[kColumnBlock] = {};
  for (int64_t j = 0; j < extent; ++j) {
    for (int64_t i = 0; i < count; ++i) {
      total[i] += GradTerm<C, kLog>(ToCompute<C>(y[j * stride + i]), ToCompute<C>(dy[j * stride + i]));
    }
  }
  for (int64_t j = 0; j < extent; ++j) {
    for (int64_t i = 0; i < count; ++i) {
      const int64_t at = j * stride + i;
      dx[at] = FromCompute<T>(GradOf<C, kLog>(ToCompute<C>(y[at]), ToCompute<C>(dy[at]), total[i]));
    }
  }
}

template <bool kLog>
Status RunSoftmax(KernelContext& ctx) {
  const AxisView view = ViewOf(ctx);
  return DispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = ctx.in(0).As<T>();
    T* y = ctx.out(0).As<T>();
    ForEachLineBlock(
        view, [&](int64_t base) { SoftmaxRow<T, kLog>(x + base, y + base, view.extent); },
        [&](int64_t base, int64_t count) {
          SoftmaxColumns<T, kLog>(x + base, y + base, view.extent, view.inner, count);
        });
  });
}

template <bool kLog>
Status RunSoftmaxGrad(KernelContext& ctx) {
  const AxisView view = ViewOf(ctx);
  return DispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* y = ctx.in(0).As<T>();
    const T* dy = ctx.in(1).As<T>();
    T* dx = ctx.out(0).As<T>();
    ForEachLineBlock(
        view, [&](int64_t base) { SoftmaxGradRow<T, kLog>(y + base, dy + base, dx + base, view.extent); },
        [&](int64_t base, int64_t count) {
          SoftmaxGradColumns<T, kLog>(y + base, dy + base, dx + base, view.extent, view.inner, count);
        });
  });
}

}  // namespace

Status LoopSoftmax(KernelContext& ctx, bool log) { return log ? RunSoftmax<true>(ctx) : RunSoftmax<false>(ctx); }

Status LoopSoftmaxGrad(KernelContext& ctx, bool log) {
  return log ? RunSoftmaxGrad<true>(ctx) : RunSoftmaxGrad<false>(ctx);
}

}  // namespace ofl

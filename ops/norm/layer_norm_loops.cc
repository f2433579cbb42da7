#include "ops/norm/layer_norm_loops.h"

#include <array>
#include <cmath>
#include <vector>

#include "oneflow_like/parallel.h"
#include "ops/common/kernel_helpers.h"
#include "ops/elementwise/functors.h"
#include "ops/norm/column_sums.h"
#include "ops/norm/norm_common.h"
#include "ops/common/vector_math.h"

namespace ofl {

namespace {

// The [rows, cols] view of input `x_index` around attribute begin_norm_axis.
NormRows RowsOf(const KernelContext& ctx, int x_index) {
  const Shape& shape = ctx.in(x_index).shape();
  const int64_t axis = ctx.attr().GetInt("begin_norm_axis");
  return NormRows::Of(shape, static_cast<int>(axis < 0 ? axis + shape.rank() : axis));
}

}  // namespace

// Per row: mean, biased variance (two passes over the row, which stays in
// L1, so the stable form costs no memory traffic), inv_std, then
// y = (x - mean) * inv_std * gamma + beta.
Status LoopLayerNorm(KernelContext& ctx) {
  const NormRows view = RowsOf(ctx, 0);
  const double epsilon = ctx.attr().GetFloat("epsilon");
  return DispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    using C = ComputeType<T>;
    const T* x = ctx.in(0).As<T>();
    const T* gamma = ctx.in(1).As<T>();
    const T* beta = ctx.in(2).As<T>();
    T* y = ctx.out(0).As<T>();
    T* mean_out = ctx.out(1).As<T>();
    T* inv_std_out = ctx.out(2).As<T>();
    const int64_t cols = view.cols;
    const C count = static_cast<C>(cols);
    ParallelFor(view.rows, view.grain(), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const T* __restrict xr = x + r * cols;
        T* __restrict yr = y + r * cols;
        const C sum = SumOf<C>(cols, [&](int64_t j) { return ToCompute<C>(xr[j]); });
        const C mean = cols > 0 ? sum / count : C(0);
        const C squares = SumOf<C>(cols, [&](int64_t j) {
          const C centred = ToCompute<C>(xr[j]) - mean;
          return centred * centred;
        });
        const C variance = cols > 0 ? squares / count : C(0);
        const C inv_std = C(1) / std::sqrt(variance + static_cast<C>(epsilon));
        for (int64_t j = 0; j < cols; ++j) {
          yr[j] =
              FromCompute<T>((ToCompute<C>(xr[j]) - mean) * inv_std * ToCompute<C>(gamma[j]) + ToCompute<C>(beta[j]));
        }
        mean_out[r] = FromCompute<T>(mean);
        inv_std_out[r] = FromCompute<T>(inv_std);
      }
    });
  });
}

// With g = dy * gamma and xhat = (x - mean) * inv_std, per row:
//   dx = inv_std * (g - mean(g) - xhat * mean(g * xhat)).
Status LoopLayerNormGrad(KernelContext& ctx) {
  const NormRows view = RowsOf(ctx, 1);
  return DispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    using C = ComputeType<T>;
    const T* dy = ctx.in(0).As<T>();
    const T* x = ctx.in(1).As<T>();
    const T* mean = ctx.in(2).As<T>();
    const T* inv_std = ctx.in(3).As<T>();
    const T* gamma = ctx.in(4).As<T>();
    T* dx = ctx.out(0).As<T>();
    const int64_t cols = view.cols;
    const C count = static_cast<C>(cols);
    ParallelFor(view.rows, view.grain(), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const T* __restrict dyr = dy + r * cols;
        const T* __restrict xr = x + r * cols;
        T* __restrict dxr = dx + r * cols;
        const C m = ToCompute<C>(mean[r]);
        const C s = ToCompute<C>(inv_std[r]);
        const C sum_g = SumOf<C>(cols, [&](int64_t j) { return ToCompute<C>(dyr[j]) * ToCompute<C>(gamma[j]); });
        // sum(g * xhat) = inv_std * sum(g * (x - mean)): one multiply per row, not per element.
        const C sum_g_centred = SumOf<C>(
            cols, [&](int64_t j) { return ToCompute<C>(dyr[j]) * ToCompute<C>(gamma[j]) * (ToCompute<C>(xr[j]) - m); });
        const C mean_g = sum_g / count;
        const C mean_g_xhat = sum_g_centred * s / count;
        for (int64_t j = 0; j < cols; ++j) {
          const C g = ToCompute<C>(dyr[j]) * ToCompute<C>(gamma[j]);
          const C xhat = (ToCompute<C>(xr[j]) - m) * s;
          dxr[j] = FromCompute<T>(s * (g - mean_g - xhat * mean_g_xhat));
        }
      }
    });
  });
}

// dgamma = sum over rows of dy * xhat, dbeta = sum over rows of dy.
Status LoopLayerNormParamGrad(KernelContext& ctx) {
  const NormRows view = RowsOf(ctx, 1);
  return DispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    using C = ComputeType<T>;
    const T* dy = ctx.in(0).As<T>();
    const T* x = ctx.in(1).As<T>();
    const T* mean = ctx.in(2).As<T>();
    const T* inv_std = ctx.in(3).As<T>();
    const int64_t cols = view.cols;
    std::vector<C> dgamma(cols), dbeta(cols);
    SumOverRows<2, C>(
        view.rows, cols,
        [&](int64_t row_begin, int64_t row_end, int64_t col_begin, int64_t col_end, const std::array<C*, 2>& sums) {
          C* __restrict sum_gamma = sums[0];
          C* __restrict sum_beta = sums[1];
          for (int64_t r = row_begin; r < row_end; ++r) {
            const T* __restrict dyr = dy + r * cols + col_begin;
            const T* __restrict xr = x + r * cols + col_begin;
            const C m = ToCompute<C>(mean[r]);
            const C s = ToCompute<C>(inv_std[r]);
            for (int64_t j = 0; j < col_end - col_begin; ++j) {
              const C g = ToCompute<C>(dyr[j]);
              sum_gamma[j] += g * (ToCompute<C>(xr[j]) - m) * s;
              sum_beta[j] += g;
            }
          }
        },
        std::array<C*, 2>{dgamma.data(), dbeta.data()});
    T* dgamma_out = ctx.out(0).As<T>();
    T* dbeta_out = ctx.out(1).As<T>();
    for (int64_t j = 0; j < cols; ++j) {
      dgamma_out[j] = FromCompute<T>(dgamma[j]);
      dbeta_out[j] = FromCompute<T>(dbeta[j]);
    }
  });
}

}  // namespace ofl

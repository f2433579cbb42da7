#include "ops/reduce/reduce_kernels.h"

#include <algorithm>
#include <type_traits>

#include "ops/common/kernel_helpers.h"
#include "ops/reduce/reduce_loop.h"

namespace ofl {

namespace {

using ReduceFloatTypes = TypeList<float, double, Float16, BFloat16>;
using ReduceNumericTypes = TypeList<float, double, Float16, BFloat16, int32_t, int64_t>;

/// Accumulator of sums: double for f32 and f64 (long rows lose no digits),
/// float for 16-bit floats, int64 for integers.
template <typename T>
using SumAccumulator = std::conditional_t<
    std::is_same_v<T, float> || std::is_same_v<T, double>, double,
    std::conditional_t<std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>, float, int64_t>>;

/// Accumulator of maxima: exact in the storage type, float for 16-bit floats.
template <typename T>
using MaxAccumulator =
    std::conditional_t<std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>, float, T>;

Status RunReduce(KernelContext& ctx, ReduceKind kind) {
  const Blob& x = ctx.in(0);
  const Blob& y = ctx.out(0);
  OFL_ASSIGN_OR_RETURN(std::vector<int> axes, ReduceKernelAxes(ctx, x.shape().rank()));
  OFL_CHECK_OR_RETURN(ReduceKeptCount(x.shape(), axes) == y.NumElements())
      << "[" << ctx.op_name << "] cpu kernel: expected an output piece of "
      << ReduceKeptCount(x.shape(), axes) << " elements for input piece " << x.shape().ToString() << ", got "
      << y.shape().ToString();
  // A mean divides by the logical count: pieces of an input split along a
  // reduced axis then add up (P(sum)) to the logical mean.
  double scale = 1.0;
  if (kind == ReduceKind::kMean) {
    const Shape& logical = ctx.inputs[0].logical_shape;
    OFL_CHECK_OR_RETURN(logical.rank() == x.shape().rank())
        << "[" << ctx.op_name << "] cpu kernel: expected a logical shape of rank " << x.shape().rank()
        << ", got " << logical.ToString();
    int64_t count = 1;
    for (int axis : axes) count *= logical[axis];
    scale = 1.0 / static_cast<double>(count);
  }
  const DType dtype = x.dtype();
  if (kind == ReduceKind::kMax) {
    return DispatchOr(ctx, ReduceNumericTypes{}, dtype, [&](auto tag) {
      using T = decltype(tag);
      using Acc = MaxAccumulator<T>;
      ReduceTensor<MaxCombiner<Acc>>(x.As<T>(), x.shape(), axes, y.As<T>(),
                                     [](Acc value) { return FromCompute<T>(value); });
    });
  }
  if (kind == ReduceKind::kMean) {
    return DispatchOr(ctx, ReduceFloatTypes{}, dtype, [&](auto tag) {
      using T = decltype(tag);
      using Acc = SumAccumulator<T>;
      const Acc factor = static_cast<Acc>(scale);
      ReduceTensor<SumCombiner<Acc>>(x.As<T>(), x.shape(), axes, y.As<T>(),
                                     [factor](Acc value) { return FromCompute<T>(value * factor); });
    });
  }
  return DispatchOr(ctx, ReduceNumericTypes{}, dtype, [&](auto tag) {
    using T = decltype(tag);
    using Acc = SumAccumulator<T>;
    ReduceTensor<SumCombiner<Acc>>(x.As<T>(), x.shape(), axes, y.As<T>(),
                                   [](Acc value) { return FromCompute<T>(value); });
  });
}

// dx[i] = dy[o] / ties[o] where x[i] == y[o], else 0; o is the output
// element x[i] reduces into. Works on any piece whose reduced axes are
// whole (the op's signatures never split them).
Status RunReduceMaxGrad(KernelContext& ctx) {
  const Blob& x = ctx.in(0);
  const Blob& y = ctx.in(1);
  const Blob& dy = ctx.in(2);
  const Blob& dx = ctx.out(0);
  const Shape& shape = x.shape();
  const int rank = shape.rank();
  OFL_ASSIGN_OR_RETURN(std::vector<int> axes, ReduceMaxGradAxes(ctx, "cpu"));
  const int64_t kept = ReduceKeptCount(shape, axes);
  const int64_t count = shape.NumElements();
  if (count == 0) return Status::Ok();
  // Stride of each x axis in the output (0 on reduced axes).
  std::vector<int64_t> out_strides(rank, 0);
  int64_t stride = 1;
  for (int axis = rank - 1; axis >= 0; --axis) {
    if (std::binary_search(axes.begin(), axes.end(), axis)) continue;
    out_strides[axis] = stride;
    stride *= shape[axis];
  }
  const int64_t row = rank == 0 ? 1 : shape[rank - 1];
  const int64_t row_step = rank == 0 ? 0 : out_strides[rank - 1];
  const int64_t rows = count / row;
  auto row_offset = [&](int64_t r) {
    int64_t offset = 0;
    for (int axis = rank - 2; axis >= 0; --axis) {
      offset += (r % shape[axis]) * out_strides[axis];
      r /= shape[axis];
    }
    return offset;
  };
  return DispatchOr(ctx, ReduceNumericTypes{}, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using C = MaxAccumulator<T>;
    const T* xs = x.As<T>();
    const T* ys = y.As<T>();
    const T* dys = dy.As<T>();
    T* dxs = dx.As<T>();
    // Ties per output element; counted in one sequential sweep because
    // many inputs land on the same output element.
    std::vector<int64_t> ties(kept, 0);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t base = row_offset(r);
      const T* xr = xs + r * row;
      for (int64_t i = 0; i < row; ++i) {
        const int64_t o = base + i * row_step;
        ties[o] += static_cast<C>(xr[i]) == static_cast<C>(ys[o]);
      }
    }
    ParallelFor(rows, std::max<int64_t>(1, kReduceTaskElements / row), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t base = row_offset(r);
        const T* xr = xs + r * row;
        T* dxr = dxs + r * row;
        for (int64_t i = 0; i < row; ++i) {
          const int64_t o = base + i * row_step;
          const bool wins = static_cast<C>(xr[i]) == static_cast<C>(ys[o]);
          dxr[i] =
              wins ? FromCompute<T>(static_cast<C>(dys[o]) / static_cast<C>(ties[o])) : FromCompute<T>(C(0));
        }
      }
    });
  });
}

}  // namespace

StatusOr<std::vector<int>> ReduceKernelAxes(const KernelContext& ctx, int rank) {
  const std::vector<int64_t>& given = ctx.attr().GetInts("axes");
  std::vector<int> axes;
  if (given.empty()) {
    for (int axis = 0; axis < rank; ++axis) axes.push_back(axis);
    return axes;
  }
  for (int64_t axis : given) {
    OFL_ASSIGN_OR_RETURN(int normalized, NormalizeAxis("[" + ctx.op_name + "] attribute axes", axis, rank));
    axes.push_back(normalized);
  }
  std::sort(axes.begin(), axes.end());
  axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
  return axes;
}

int64_t ReduceKeptCount(const Shape& shape, const std::vector<int>& axes) {
  int64_t count = 1;
  for (int axis = 0; axis < shape.rank(); ++axis) {
    if (!std::binary_search(axes.begin(), axes.end(), axis)) count *= shape[axis];
  }
  return count;
}

StatusOr<std::vector<int>> ReduceMaxGradAxes(const KernelContext& ctx, const char* backend) {
  const Shape& shape = ctx.in(0).shape();
  OFL_ASSIGN_OR_RETURN(std::vector<int> axes, ReduceKernelAxes(ctx, shape.rank()));
  const int64_t kept = ReduceKeptCount(shape, axes);
  const Blob& y = ctx.in(1);
  const Blob& dy = ctx.in(2);
  const Blob& dx = ctx.out(0);
  OFL_CHECK_OR_RETURN(y.NumElements() == kept && dy.NumElements() == kept && dx.shape() == shape)
      << "[" << ctx.op_name << "] " << backend << " kernel: expected y and dy pieces of " << kept
      << " elements and dx " << shape.ToString() << ", got y " << y.shape().ToString() << ", dy "
      << dy.shape().ToString() << ", dx " << dx.shape().ToString();
  return axes;
}

const char* ReduceOpName(ReduceKind kind) {
  switch (kind) {
    case ReduceKind::kSum:
      return "reduce_sum";
    case ReduceKind::kMean:
      return "reduce_mean";
    case ReduceKind::kMax:
      return "reduce_max";
  }
  return "reduce_sum";
}

std::vector<DType> ReduceKernelDTypes(ReduceKind kind) {
  return kind == ReduceKind::kMean ? DTypesOf(ReduceFloatTypes{}) : DTypesOf(ReduceNumericTypes{});
}

KernelFactory ReduceKernel(ReduceKind kind) {
  return MakeFunctionKernel([kind](KernelContext& ctx) { return RunReduce(ctx, kind); });
}

KernelFactory ReduceMaxGradKernel() { return MakeFunctionKernel(RunReduceMaxGrad); }

std::vector<DType> ReduceMaxGradKernelDTypes() { return DTypesOf(ReduceNumericTypes{}); }

}  // namespace ofl

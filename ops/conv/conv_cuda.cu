// CUDA kernels of the conv family: conv2d and its two gradients through
// cuDNN (ops/conv/cudnn_conv.cc), the four poolings written here.
//
// Why the poolings are hand-written rather than cuDNN's: max_pool2d_grad must
// route each gradient to the tap the CPU picks (the first in-bounds maximum
// of the window in row-major tap order, strict '>', so a NaN wins only as
// the first tap and ties go to the earliest tap). cuDNN documents neither
// its tie rule nor its NaN rule for max pooling backward, and it needs the
// forward y where the CPU recomputes from x. Pooling is memory-bound, so a
// direct kernel costs little. Each kernel mirrors pool_kernels.cc's loops:
// same window arithmetic, same divisor, same order of summation per output
// (so f64 results match the CPU loops bit for bit).
//
// Every pooling kernel is a gather: one thread per output element (dx for
// the backward ones), so no atomics and a deterministic order.
#include <cmath>
#include <memory>

#include "ops/common/cuda_helpers.cuh"
#include "ops/conv/conv_kernels.h"
#include "ops/conv/conv_params.h"
#include "ops/conv/cudnn_conv.h"
#include "ops/cuda_kernels.h"

namespace ofl {

namespace {

// One pooling: x planes [h, w] -> y planes [oh, ow], `planes` = n * c.
struct CudaPoolGeometry {
  int64_t planes = 0, h = 0, w = 0, oh = 0, ow = 0;
  int64_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  bool count_include_pad = true;
};

// Reads the attributes and checks x-side and y-side shapes form one
// pooling, exactly as the CPU's GeometryOf does (floor mode, dilation 1).
StatusOr<CudaPoolGeometry> PoolGeometryOf(const KernelContext& ctx, bool average, const Blob& x,
                                          const Blob& y) {
  OFL_ASSIGN_OR_RETURN(Pool2dParams p, ReadPool2dParams("[" + ctx.op_name + "]", ctx.attr(), average));
  const Shape& xs = x.shape();
  const Shape& ys = y.shape();
  const bool consistent = xs.rank() == 4 && ys.rank() == 4 && xs[0] == ys[0] && xs[1] == ys[1] &&
                          ys[2] == WindowOutputExtent(xs[2], p.kernel[0], p.stride[0], p.padding[0], 1) &&
                          ys[3] == WindowOutputExtent(xs[3], p.kernel[1], p.stride[1], p.padding[1], 1) &&
                          x.dtype() == y.dtype();
  OFL_CHECK_OR_RETURN(consistent) << "[" << ctx.op_name
                                  << "] cuda kernel: expected pieces of one pooling, got x " << xs.ToString()
                                  << " and y " << ys.ToString();
  CudaPoolGeometry g;
  g.planes = xs[0] * xs[1];
  g.h = xs[2];
  g.w = xs[3];
  g.oh = ys[2];
  g.ow = ys[3];
  g.kernel_h = p.kernel[0];
  g.kernel_w = p.kernel[1];
  g.stride_h = p.stride[0];
  g.stride_w = p.stride[1];
  g.pad_h = p.padding[0];
  g.pad_w = p.padding[1];
  g.count_include_pad = p.count_include_pad;
  return g;
}

// Offset in the x plane of the first maximum of window (i, j), or -1 when
// the window has no in-bounds tap (only when h or w is 0). Same tap order
// and strict '>' as ArgMax in pool_kernels.cc; padding never wins.
template <typename C, typename D>
__device__ int64_t WindowArgMax(const CudaPoolGeometry& g, const D* x_plane, int64_t i, int64_t j) {
  int64_t best = -1;
  C best_value = C(0);
  for (int64_t a = 0; a < g.kernel_h; ++a) {
    const int64_t r = i * g.stride_h - g.pad_h + a;
    if (r < 0 || r >= g.h) continue;
    for (int64_t b = 0; b < g.kernel_w; ++b) {
      const int64_t s = j * g.stride_w - g.pad_w + b;
      if (s < 0 || s >= g.w) continue;
      const C value = ToCudaCompute<C>(x_plane[r * g.w + s]);
      if (best < 0 || value > best_value) {
        best = r * g.w + s;
        best_value = value;
      }
    }
  }
  return best;
}

// In-bounds taps along one axis of a window starting at `start`.
__device__ __forceinline__ int64_t TapsInside(int64_t start, int64_t kernel, int64_t extent) {
  const int64_t begin = start < 0 ? 0 : start;
  const int64_t end = start + kernel < extent ? start + kernel : extent;
  return end > begin ? end - begin : 0;
}

// Taps counted by the average of window (i, j) (Divisor in pool_kernels.cc).
__device__ __forceinline__ int64_t WindowDivisor(const CudaPoolGeometry& g, int64_t i, int64_t j) {
  if (g.count_include_pad) return g.kernel_h * g.kernel_w;
  return TapsInside(i * g.stride_h - g.pad_h, g.kernel_h, g.h) *
         TapsInside(j * g.stride_w - g.pad_w, g.kernel_w, g.w);
}

// The first and last window index along one axis whose window covers input
// position `position`: window i covers [i stride - pad, i stride - pad +
// kernel - 1]. Empty (last < first) when none does.
__device__ __forceinline__ void CoveringWindows(int64_t position, int64_t kernel, int64_t stride, int64_t pad,
                                                int64_t out_extent, int64_t* first, int64_t* last) {
  const int64_t low = position + pad - kernel + 1;  // i stride >= low
  *first = low <= 0 ? 0 : (low + stride - 1) / stride;
  const int64_t high = (position + pad) / stride;  // i stride <= position + pad (>= 0)
  *last = high < out_extent - 1 ? high : out_extent - 1;
}

template <typename D, bool kMax>
__global__ void PoolForwardKernel(CudaPoolGeometry g, const D* x, D* y, int64_t count) {
  using C = CudaCompute<D>;
  for (int64_t index = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; index < count;
       index += int64_t{gridDim.x} * blockDim.x) {
    const int64_t plane = index / (g.oh * g.ow);
    const int64_t within = index % (g.oh * g.ow);
    const int64_t i = within / g.ow, j = within % g.ow;
    const D* x_plane = x + plane * g.h * g.w;
    if constexpr (kMax) {
      const int64_t best = WindowArgMax<C>(g, x_plane, i, j);
      // No in-bounds tap (an empty x plane): -inf, the max of nothing. The
      // CPU loop reads out of bounds there.
      y[index] = best < 0 ? FromCudaCompute<D>(-static_cast<C>(INFINITY)) : x_plane[best];
    } else {
      C sum = C(0);
      for (int64_t a = 0; a < g.kernel_h; ++a) {
        const int64_t r = i * g.stride_h - g.pad_h + a;
        if (r < 0 || r >= g.h) continue;
        for (int64_t b = 0; b < g.kernel_w; ++b) {
          const int64_t s = j * g.stride_w - g.pad_w + b;
          if (s >= 0 && s < g.w) sum += ToCudaCompute<C>(x_plane[r * g.w + s]);
        }
      }
      y[index] = FromCudaCompute<D>(sum / static_cast<C>(WindowDivisor(g, i, j)));
    }
  }
}

// dx[plane, r, s] = sum over the windows (i, j) covering (r, s), in row-major
// window order (the CPU's order of += into dx), of dy[i, j] if (r, s) is the
// window's first maximum (max) or dy[i, j] / divisor (average). x is only
// read for max.
template <typename D, bool kMax>
__global__ void PoolBackwardKernel(CudaPoolGeometry g, const D* x, const D* dy, D* dx, int64_t count) {
  using C = CudaCompute<D>;
  for (int64_t index = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; index < count;
       index += int64_t{gridDim.x} * blockDim.x) {
    const int64_t plane = index / (g.h * g.w);
    const int64_t within = index % (g.h * g.w);
    const int64_t r = within / g.w, s = within % g.w;
    const D* dy_plane = dy + plane * g.oh * g.ow;
    int64_t i_first, i_last, j_first, j_last;
    CoveringWindows(r, g.kernel_h, g.stride_h, g.pad_h, g.oh, &i_first, &i_last);
    CoveringWindows(s, g.kernel_w, g.stride_w, g.pad_w, g.ow, &j_first, &j_last);
    C sum = C(0);
    for (int64_t i = i_first; i <= i_last; ++i) {
      for (int64_t j = j_first; j <= j_last; ++j) {
        const C grad = ToCudaCompute<C>(dy_plane[i * g.ow + j]);
        if constexpr (kMax) {
          if (WindowArgMax<C>(g, x + plane * g.h * g.w, i, j) == within) sum += grad;
        } else {
          sum += grad / static_cast<C>(WindowDivisor(g, i, j));
        }
      }
    }
    dx[index] = FromCudaCompute<D>(sum);
  }
}

template <bool kMax>
Status PoolForward(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  OFL_ASSIGN_OR_RETURN(CudaPoolGeometry g, PoolGeometryOf(ctx, !kMax, ctx.in(0), ctx.out(0)));
  const int64_t count = ctx.out(0).NumElements();
  if (count == 0) return Status::Ok();
  OFL_RETURN_IF_ERROR(CudaDispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
    using D = CudaStorage<decltype(tag)>;
    PoolForwardKernel<D, kMax><<<CudaGridFor(count), kCudaBlock, 0, stream->native()>>>(
        g, static_cast<const D*>(ctx.in(0).data), static_cast<D*>(ctx.out(0).data), count);
  }));
  return CudaLaunchStatus(ctx);
}

// max_pool2d_grad: inputs (x, y, dy), y unused (the winner is recomputed
// from x, as on the CPU); avg_pool2d_grad: input (dy).
template <bool kMax>
Status PoolBackward(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  const Blob& dy = kMax ? ctx.in(2) : ctx.in(0);
  const Blob& dx = ctx.out(0);
  OFL_ASSIGN_OR_RETURN(CudaPoolGeometry g, PoolGeometryOf(ctx, !kMax, dx, dy));
  if (kMax) {
    OFL_CHECK_OR_RETURN(ctx.in(0).shape() == dx.shape() && ctx.in(0).dtype() == dx.dtype())
        << "[" << ctx.op_name << "] cuda kernel: expected x shaped like dx " << dx.shape().ToString()
        << ", got " << ctx.in(0).shape().ToString();
  }
  const int64_t count = dx.NumElements();
  if (count == 0) return Status::Ok();
  OFL_RETURN_IF_ERROR(CudaDispatchOr(ctx, FloatTypes{}, dx.dtype(), [&](auto tag) {
    using D = CudaStorage<decltype(tag)>;
    const D* x = kMax ? static_cast<const D*>(ctx.in(0).data) : nullptr;
    PoolBackwardKernel<D, kMax><<<CudaGridFor(count), kCudaBlock, 0, stream->native()>>>(
        g, x, static_cast<const D*>(dy.data), static_cast<D*>(dx.data), count);
  }));
  return CudaLaunchStatus(ctx);
}

}  // namespace

Status RegisterConvCudaKernels(KernelRegistry& kernels) {
  // The CPU has f32 and f64; CUDA adds f16 and bf16 (issue 7: compute-heavy
  // ops get the 16-bit types on the GPU).
  const std::vector<DType> dtypes = DTypesOf(FloatTypes{});
  OFL_RETURN_IF_ERROR(
      kernels.RegisterForDTypes("conv2d", DeviceType::kCUDA, dtypes, CudnnConvKernel(ConvPass::kForward)));
  OFL_RETURN_IF_ERROR(kernels.RegisterForDTypes("conv2d_grad_data", DeviceType::kCUDA, dtypes,
                                                CudnnConvKernel(ConvPass::kBackwardData)));
  OFL_RETURN_IF_ERROR(kernels.RegisterForDTypes("conv2d_grad_filter", DeviceType::kCUDA, dtypes,
                                                CudnnConvKernel(ConvPass::kBackwardFilter)));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "max_pool2d", FloatTypes{}, PoolForward<true>));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "avg_pool2d", FloatTypes{}, PoolForward<false>));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "max_pool2d_grad", FloatTypes{}, PoolBackward<true>));
  return RegisterCudaKernel(kernels, "avg_pool2d_grad", FloatTypes{}, PoolBackward<false>);
}

}  // namespace ofl

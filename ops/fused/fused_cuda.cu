// CUDA kernels of the fused family: bias_add_gelu, bias_add_gelu_grad and
// adam_update_scaled here; add_layer_norm in add_layer_norm_cuda.cu.
//
// bias_add_gelu(_grad) mirrors bias_add_gelu_op.cc: x + bias is formed in
// float (double for f64), rounded to the storage dtype exactly where
// bias_add would store it, read back in gelu's compute type and fed to the
// shared functors of ops/elementwise/functors.h. One pass over memory: x
// (and dy) read once, the result written once. Where every 16-byte pack of
// x lies in one bias run (bias along the last axis with channels a
// multiple of the pack, or an inner extent that is a multiple of it) and
// the pointers are 16-byte aligned, x, dy and out move in 16-byte packs.
//
// adam_update_scaled mirrors adam_update_scaled_op.cc, which is compiled
// with -ffp-contract=off: both run the shared Adam math of
// ops/optimizer/adam_math.h (explicit round-to-nearest intrinsics on the
// device, which nvcc never contracts into an FMA), and grad * grad_scale is
// one __fmul_rn / __dmul_rn, rounded to the parameter dtype as mul stores it.
#include <cstdint>
#include <type_traits>

#include "ops/common/cuda_helpers.cuh"
#include "ops/cuda_kernels.h"
#include "ops/elementwise/functors.h"
#include "ops/fused/fused.h"
#include "ops/optimizer/adam_attrs.h"

namespace ofl {

namespace {

// ---- bias_add_gelu and bias_add_gelu_grad ---------------------------------

/// 16 bytes of storage elements, loaded and stored as one vector access.
template <typename D>
struct alignas(16) Pack16 {
  static constexpr int kSize = 16 / sizeof(D);
  D value[kSize];
};

/// x + bias as bias_add stores it (accumulated in float, double for f64,
/// rounded to D), then read back in gelu's compute type.
template <typename D>
__device__ __forceinline__ CudaCompute<D> PreActivation(D x, D bias) {
  using Accumulate = std::conditional_t<std::is_same_v<D, double>, double, float>;
  return ToCudaCompute<CudaCompute<D>>(
      FromCudaCompute<D>(ToCudaCompute<Accumulate>(x) + ToCudaCompute<Accumulate>(bias)));
}

/// One element: gelu(x + bias), or gelu'(x + bias) dy when kBackward.
template <typename D, bool kBackward, typename Gelu, typename GeluGrad>
__device__ __forceinline__ D BiasGeluElement(D x, D bias, D dy) {
  using C = CudaCompute<D>;
  const C pre = PreActivation(x, bias);
  if constexpr (kBackward) {
    return FromCudaCompute<D>(GeluGrad{}(pre, ToCudaCompute<C>(dy)));
  } else {
    return FromCudaCompute<D>(Gelu{}(pre));
  }
}

/// Any layout: element i adds bias[(i / inner) % channels]. `dy` is null
/// for the forward.
template <typename D, bool kBackward, typename Gelu, typename GeluGrad>
__global__ void BiasGeluScalarKernel(int64_t count, int64_t channels, int64_t inner, const D* x,
                                     const D* bias, const D* dy, D* out) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count;
       i += int64_t{gridDim.x} * blockDim.x) {
    const D b = bias[(i / inner) % channels];
    if constexpr (kBackward) {
      out[i] = BiasGeluElement<D, true, Gelu, GeluGrad>(x[i], b, dy[i]);
    } else {
      out[i] = BiasGeluElement<D, false, Gelu, GeluGrad>(x[i], b, x[i]);
    }
  }
}

/// 16-byte packs. Contract (checked by the launcher): x, dy and out are
/// 16-byte aligned and count is a multiple of the pack size; when
/// kLastAxis, inner == 1, channels is a multiple of the pack and bias is
/// 16-byte aligned, so pack p (elements p * kSize ...) adds the aligned
/// bias pack starting at channel (p * kSize) % channels; otherwise inner is
/// a multiple of the pack, so all elements of a pack add one bias value.
template <typename D, bool kBackward, bool kLastAxis, typename Gelu, typename GeluGrad>
__global__ void BiasGeluPackKernel(int64_t packs, int64_t channels, int64_t inner, const D* x, const D* bias,
                                   const D* dy, D* out) {
  using P = Pack16<D>;
  const P* x_packs = reinterpret_cast<const P*>(x);
  [[maybe_unused]] const P* dy_packs = reinterpret_cast<const P*>(dy);
  P* out_packs = reinterpret_cast<P*>(out);
  for (int64_t p = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; p < packs;
       p += int64_t{gridDim.x} * blockDim.x) {
    const int64_t first = p * P::kSize;
    const P xs = x_packs[p];
    [[maybe_unused]] P dys;
    if constexpr (kBackward) dys = dy_packs[p];
    P biases;
    if constexpr (kLastAxis) {
      biases = *reinterpret_cast<const P*>(bias + first % channels);
    } else {
      const D b = bias[(first / inner) % channels];
#pragma unroll
      for (int k = 0; k < P::kSize; ++k) biases.value[k] = b;
    }
    P result;
#pragma unroll
    for (int k = 0; k < P::kSize; ++k) {
      if constexpr (kBackward) {
        result.value[k] =
            BiasGeluElement<D, true, Gelu, GeluGrad>(xs.value[k], biases.value[k], dys.value[k]);
      } else {
        result.value[k] =
            BiasGeluElement<D, false, Gelu, GeluGrad>(xs.value[k], biases.value[k], xs.value[k]);
      }
    }
    out_packs[p] = result;
  }
}

bool Aligned16(const void* pointer) { return reinterpret_cast<uintptr_t>(pointer) % 16 == 0; }

template <typename D, bool kBackward, typename Gelu, typename GeluGrad>
void LaunchBiasGelu(cudaStream_t stream, int64_t count, int64_t channels, int64_t inner, const D* x,
                    const D* bias, const D* dy, D* out) {
  constexpr int kPack = Pack16<D>::kSize;
  const bool pointers_aligned = Aligned16(x) && Aligned16(out) && (!kBackward || Aligned16(dy));
  const bool last_axis_packs = inner == 1 && channels % kPack == 0 && Aligned16(bias);
  const bool inner_packs = inner % kPack == 0;
  if (pointers_aligned && (last_axis_packs || inner_packs)) {
    // Both layouts make count a multiple of kPack (count = outer * channels * inner).
    const int64_t packs = count / kPack;
    if (last_axis_packs) {
      BiasGeluPackKernel<D, kBackward, true, Gelu, GeluGrad>
          <<<CudaGridFor(packs), kCudaBlock, 0, stream>>>(packs, channels, inner, x, bias, dy, out);
    } else {
      BiasGeluPackKernel<D, kBackward, false, Gelu, GeluGrad>
          <<<CudaGridFor(packs), kCudaBlock, 0, stream>>>(packs, channels, inner, x, bias, dy, out);
    }
    return;
  }
  BiasGeluScalarKernel<D, kBackward, Gelu, GeluGrad>
      <<<CudaGridFor(count), kCudaBlock, 0, stream>>>(count, channels, inner, x, bias, dy, out);
}

// Inputs: forward (x, bias), backward (dy, x, bias); one output.
template <bool kBackward>
Status BiasAddGeluCuda(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(const BiasLayout layout, BiasGeluLayoutOf(ctx, kBackward, "cuda"));
  const Blob& x = ctx.in(kBackward ? 1 : 0);
  const Blob& bias = ctx.in(kBackward ? 2 : 1);
  const int64_t count = layout.count;
  const int64_t channels = layout.channels;
  const int64_t inner = layout.inner;
  const bool tanh_form = ctx.attr().GetString("approximate") == "tanh";
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  if (count == 0) return Status::Ok();
  OFL_RETURN_IF_ERROR(CudaDispatchOr(ctx, FloatTypes{}, x.dtype(), [&](auto tag) {
    using D = CudaStorage<decltype(tag)>;
    const D* dy = kBackward ? ctx.in(0).As<D>() : nullptr;
    if (tanh_form) {
      LaunchBiasGelu<D, kBackward, functors::GeluTanh, functors::GeluTanhGrad>(
          stream->native(), count, channels, inner, x.As<D>(), bias.As<D>(), dy, ctx.out(0).As<D>());
    } else {
      LaunchBiasGelu<D, kBackward, functors::GeluErf, functors::GeluErfGrad>(
          stream->native(), count, channels, inner, x.As<D>(), bias.As<D>(), dy, ctx.out(0).As<D>());
    }
  }));
  return CudaLaunchStatus(ctx);
}

// ---- adam_update_scaled ----------------------------------------------------

using UpdateTypes = TypeList<float, double>;

// Input positions (adam_update_scaled_op.cc).
constexpr int kParam = 0, kGrad = 1, kM = 2, kV = 3, kLearningRate = 4, kStep = 5, kGradScale = 6;

/// grad * grad_scale rounded to T; never contracted into an FMA.
__device__ __forceinline__ float RoundedProduct(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double RoundedProduct(double a, double b) { return __dmul_rn(a, b); }

/// The CPU loop of adam_update_scaled_op.cc: the product rounded to T, then
/// the shared Adam math of ops/optimizer/adam_math.h. The [] inputs
/// (learning_rate, step, grad_scale) are device memory and are read here.
/// The CPU kernel rejects step < 1 with an error, which the GPU cannot
/// report cheaply: this kernel then skips the update (writes nothing), so a
/// bad step leaves param, m and v unchanged.
template <typename T>
__global__ void AdamUpdateScaledKernel(int64_t count, T* param, const T* grad, T* m, T* v,
                                       const T* learning_rate_in, const int64_t* step_in,
                                       const T* grad_scale_in, AdamHyperparameters hyper) {
  const int64_t step = *step_in;
  if (step < 1) return;
  // Per thread, as the CPU computes them once per call (device pow may
  // differ from the host's in the last ulp).
  const AdamStepCoefficients coefficients =
      AdamCoefficientsFor(hyper, static_cast<double>(*learning_rate_in), step);
  const T grad_scale = *grad_scale_in;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count;
       i += int64_t{gridDim.x} * blockDim.x) {
    const T scaled = RoundedProduct(grad[i], grad_scale);
    const AdamElement updated =
        AdamUpdateElement(hyper, coefficients, static_cast<double>(param[i]), static_cast<double>(scaled),
                          static_cast<double>(m[i]), static_cast<double>(v[i]));
    m[i] = static_cast<T>(updated.m);
    v[i] = static_cast<T>(updated.v);
    param[i] = static_cast<T>(updated.param);
  }
}

Status AdamUpdateScaledCuda(KernelContext& ctx) {
  OFL_CHECK_OR_RETURN(ctx.inputs.size() == 7)
      << "[" << ctx.op_name << "] cuda kernel: expected 7 inputs, got " << ctx.inputs.size();
  const int64_t count = ctx.in(kParam).NumElements();
  for (int i : {kGrad, kM, kV}) {
    OFL_CHECK_OR_RETURN(ctx.in(i).NumElements() == count)
        << "[" << ctx.op_name << "] cuda kernel: expected input " << i << " piece of " << count
        << " elements (the param piece), got " << ctx.in(i).NumElements();
  }
  for (int i : {kLearningRate, kStep, kGradScale}) {
    OFL_CHECK_OR_RETURN(ctx.in(i).NumElements() == 1)
        << "[" << ctx.op_name << "] cuda kernel: expected input " << i << " to hold one element, got "
        << ctx.in(i).NumElements();
  }
  OFL_CHECK_OR_RETURN(ctx.in(kStep).dtype() == DType::kI64)
      << "[" << ctx.op_name << "] cuda kernel: expected step of dtype i64, got "
      << DTypeName(ctx.in(kStep).dtype());
  const AdamHyperparameters hyper = AdamHyperparametersOf(ctx.attr());
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  if (count == 0) return Status::Ok();
  OFL_RETURN_IF_ERROR(CudaDispatchOr(ctx, UpdateTypes{}, ctx.in(kParam).dtype(), [&](auto tag) {
    using T = decltype(tag);
    AdamUpdateScaledKernel<T><<<CudaGridFor(count), kCudaBlock, 0, stream->native()>>>(
        count, ctx.in(kParam).As<T>(), ctx.in(kGrad).As<T>(), ctx.in(kM).As<T>(), ctx.in(kV).As<T>(),
        ctx.in(kLearningRate).As<T>(), ctx.in(kStep).As<int64_t>(), ctx.in(kGradScale).As<T>(), hyper);
  }));
  return CudaLaunchStatus(ctx);
}

}  // namespace

Status RegisterFusedCudaKernels(KernelRegistry& kernels) {
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "bias_add_gelu", FloatTypes{}, BiasAddGeluCuda<false>));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "bias_add_gelu_grad", FloatTypes{}, BiasAddGeluCuda<true>));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "adam_update_scaled", UpdateTypes{}, AdamUpdateScaledCuda));
  return RegisterAddLayerNormCudaKernel(kernels);
}

}  // namespace ofl

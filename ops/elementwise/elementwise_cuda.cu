// CUDA kernels of the element-wise family: binary ops with numpy
// broadcasting and their pair gradients, unary math and activations with
// their backward ops, and the scalar ops. The math is the shared functors of
// ops/elementwise/functors.h, run in the same compute types as the CPU
// kernels (binary_ops.cc, unary_ops.cc, scalar_ops.cc) over the same dtypes.
#include <string>
#include <type_traits>

#include "ops/cuda_kernels.h"
#include "ops/elementwise/cuda_elementwise.cuh"
#include "ops/elementwise/functors.h"

namespace ofl {

namespace {

// Division in the compute type. Integer division by zero and min / -1 have
// no value; the CPU kernels report them as errors (div reads the divisor
// tensor, the scalar ops check the attribute), but the GPU cannot report an
// error found in tensor contents cheaply and its integer division does not
// trap. So, for integers only: a zero divisor gives 0, and x / -1 gives -x
// wrapped modulo 2^bits (min / -1 = min). Floats follow IEEE via functors::Div.
struct CudaDivide {
  template <typename C>
  __device__ __forceinline__ C operator()(C a, C b) const {
    if constexpr (std::is_integral_v<C>) {
      if (b == C(0)) return C(0);
      if (b == C(-1))
        return static_cast<C>(std::make_unsigned_t<C>(0) - static_cast<std::make_unsigned_t<C>>(a));
    }
    return functors::Div{}(a, b);
  }
};

// ---- binary ops ------------------------------------------------------------

template <typename Types, typename F>
Status RunBinary(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  return CudaDispatchStatus(ctx, Types{}, ctx.in(0).dtype(), [&](auto tag) {
    using D = CudaStorage<decltype(tag)>;
    return CudaBinaryMap(ctx, stream->native(), ctx.out(0).shape(), F{}, ctx.out(0).As<D>(),
                         ctx.in(0).As<D>(), ctx.in(0).shape(), ctx.in(1).As<D>(), ctx.in(1).shape());
  });
}

// (a, b, [y,] dy) -> (da, db) at dy's shape through the pair-gradient rule
// of functors.h (the CPU's): a and b are read through the broadcast plan, y
// and dy (nullptr y: absent) element for element.
template <typename I, typename Rule, typename D>
__global__ void PairGradKernel(CudaBroadcastIndexing<2> plan, const D* a, const D* b, const D* y, const D* dy,
                               D* da, D* db) {
  using C = CudaCompute<D>;
  const I count = static_cast<I>(plan.count);
  for (I i = blockIdx.x * blockDim.x + threadIdx.x; i < count; i += gridDim.x * blockDim.x) {
    I offsets[2];
    plan.Offsets(i, offsets);
    C da_value, db_value;
    Rule{}(ToCudaCompute<C>(a[offsets[0]]), ToCudaCompute<C>(b[offsets[1]]),
           y != nullptr ? ToCudaCompute<C>(y[i]) : C(0), ToCudaCompute<C>(dy[i]), da_value, db_value);
    da[i] = FromCudaCompute<D>(da_value);
    db[i] = FromCudaCompute<D>(db_value);
  }
}

template <typename Types, typename Rule>
Status RunPairGrad(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  const int dy_index = static_cast<int>(ctx.inputs.size()) - 1;
  const Shape& out = ctx.in(dy_index).shape();
  for (int i = 0; i < 2; ++i) {
    OFL_CHECK_OR_RETURN(ctx.out(i).shape() == out)
        << "[" << ctx.op_name << "] cuda kernel: expected output " << i << " of shape " << out.ToString()
        << " (dy's), got " << ctx.out(i).shape().ToString();
  }
  if (dy_index == 3) {
    OFL_CHECK_OR_RETURN(ctx.in(2).shape() == out)
        << "[" << ctx.op_name << "] cuda kernel: expected y of shape " << out.ToString() << " (dy's), got "
        << ctx.in(2).shape().ToString();
  }
  const Shape* const inputs[2] = {&ctx.in(0).shape(), &ctx.in(1).shape()};
  OFL_ASSIGN_OR_RETURN(CudaBroadcastIndexing<2> plan, CudaBroadcastPlan<2>(ctx, out, inputs));
  if (plan.count == 0) return Status::Ok();
  return CudaDispatchStatus(ctx, Types{}, ctx.in(0).dtype(), [&](auto tag) {
    using D = CudaStorage<decltype(tag)>;
    const D* y = dy_index == 3 ? ctx.in(2).As<D>() : nullptr;
    const unsigned int grid = CudaGridFor(plan.count);
    if (plan.FitsUint32()) {
      PairGradKernel<uint32_t, Rule><<<grid, kCudaBlock, 0, stream->native()>>>(
          plan, ctx.in(0).As<D>(), ctx.in(1).As<D>(), y, ctx.in(dy_index).As<D>(), ctx.out(0).As<D>(),
          ctx.out(1).As<D>());
    } else {
      PairGradKernel<int64_t, Rule><<<grid, kCudaBlock, 0, stream->native()>>>(
          plan, ctx.in(0).As<D>(), ctx.in(1).As<D>(), y, ctx.in(dy_index).As<D>(), ctx.out(0).As<D>(),
          ctx.out(1).As<D>());
    }
    return CudaLaunchStatus(ctx);
  });
}

// ---- unary ops ---------------------------------------------------------------

Status CheckSameCount(const KernelContext& ctx) {
  OFL_CHECK_OR_RETURN(ctx.in(0).NumElements() == ctx.out(0).NumElements())
      << "[" << ctx.op_name << "] cuda kernel: expected an output piece of " << ctx.in(0).NumElements()
      << " elements, got " << ctx.out(0).desc.ToString();
  return Status::Ok();
}

template <typename Types, typename F>
Status RunUnaryWith(KernelContext& ctx, F f) {
  OFL_RETURN_IF_ERROR(CheckSameCount(ctx));
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  return CudaDispatchStatus(ctx, Types{}, ctx.in(0).dtype(), [&](auto tag) {
    using D = CudaStorage<decltype(tag)>;
    return CudaMap(ctx, stream->native(), ctx.in(0).NumElements(), f, ctx.out(0).As<D>(), ctx.in(0).As<D>());
  });
}

template <typename Types, typename F>
Status RunUnary(KernelContext& ctx) {
  return RunUnaryWith<Types>(ctx, F{});
}

bool GeluUsesTanh(const KernelContext& ctx) { return ctx.attr().GetString("approximate") == "tanh"; }

Status RunGelu(KernelContext& ctx) {
  return GeluUsesTanh(ctx) ? RunUnary<FloatTypes, functors::GeluTanh>(ctx)
                           : RunUnary<FloatTypes, functors::GeluErf>(ctx);
}

Status RunGeluGrad(KernelContext& ctx) {
  return GeluUsesTanh(ctx) ? RunBinary<FloatTypes, functors::GeluTanhGrad>(ctx)
                           : RunBinary<FloatTypes, functors::GeluErfGrad>(ctx);
}

// ---- scalar ops --------------------------------------------------------------

// x -> f(x, scalar) with the scalar already in the compute type C (as the
// CPU's ScalarKernel converts it: static_cast from double).
template <typename F, typename C>
struct WithScalar {
  C scalar;
  __device__ __forceinline__ C operator()(C x) const { return F{}(x, scalar); }
};

template <typename Types, typename F>
Status RunScalar(KernelContext& ctx) {
  OFL_RETURN_IF_ERROR(CheckSameCount(ctx));
  const double scalar = ctx.attr().GetFloat("scalar");
  const DType dtype = ctx.in(0).dtype();
  if (std::is_same_v<F, CudaDivide> && IsInteger(dtype)) {
    // Inference rejects this already; checked again because a GPU integer
    // division by zero gives garbage instead of trapping.
    OFL_CHECK_OR_RETURN(scalar != 0)
        << "[" << ctx.op_name << "] attribute scalar: expected a nonzero divisor for integer division, got 0";
  }
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  return CudaDispatchStatus(ctx, Types{}, dtype, [&](auto tag) {
    using D = CudaStorage<decltype(tag)>;
    using C = CudaCompute<D>;
    return CudaMap(ctx, stream->native(), ctx.in(0).NumElements(), WithScalar<F, C>{static_cast<C>(scalar)},
                   ctx.out(0).As<D>(), ctx.in(0).As<D>());
  });
}

}  // namespace

Status RegisterElementwiseCudaKernels(KernelRegistry& kernels) {
  // Binary ops (binary_ops.cc: NumericTypes, pow FloatTypes).
  OFL_RETURN_IF_ERROR(
      RegisterCudaKernel(kernels, "add", NumericTypes{}, RunBinary<NumericTypes, functors::Add>));
  OFL_RETURN_IF_ERROR(
      RegisterCudaKernel(kernels, "sub", NumericTypes{}, RunBinary<NumericTypes, functors::Sub>));
  OFL_RETURN_IF_ERROR(
      RegisterCudaKernel(kernels, "mul", NumericTypes{}, RunBinary<NumericTypes, functors::Mul>));
  OFL_RETURN_IF_ERROR(
      RegisterCudaKernel(kernels, "div", NumericTypes{}, RunBinary<NumericTypes, CudaDivide>));
  OFL_RETURN_IF_ERROR(
      RegisterCudaKernel(kernels, "maximum", NumericTypes{}, RunBinary<NumericTypes, functors::Maximum>));
  OFL_RETURN_IF_ERROR(
      RegisterCudaKernel(kernels, "minimum", NumericTypes{}, RunBinary<NumericTypes, functors::Minimum>));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "pow", FloatTypes{}, RunBinary<FloatTypes, functors::Pow>));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "maximum_grad", NumericTypes{},
                                         RunPairGrad<NumericTypes, functors::SelectGrad<true>>));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "minimum_grad", NumericTypes{},
                                         RunPairGrad<NumericTypes, functors::SelectGrad<false>>));
  OFL_RETURN_IF_ERROR(
      RegisterCudaKernel(kernels, "pow_grad", FloatTypes{}, RunPairGrad<FloatTypes, functors::PowGrad>));

  // Unary ops (unary_ops.cc: neg, abs, sign NumericTypes; the rest FloatTypes).
  OFL_RETURN_IF_ERROR(
      RegisterCudaKernel(kernels, "neg", NumericTypes{}, RunUnary<NumericTypes, functors::Neg>));
  OFL_RETURN_IF_ERROR(
      RegisterCudaKernel(kernels, "abs", NumericTypes{}, RunUnary<NumericTypes, functors::Abs>));
  OFL_RETURN_IF_ERROR(
      RegisterCudaKernel(kernels, "sign", NumericTypes{}, RunUnary<NumericTypes, functors::Sign>));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "exp", FloatTypes{}, RunUnary<FloatTypes, functors::Exp>));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "log", FloatTypes{}, RunUnary<FloatTypes, functors::Log>));
  OFL_RETURN_IF_ERROR(
      RegisterCudaKernel(kernels, "sqrt", FloatTypes{}, RunUnary<FloatTypes, functors::Sqrt>));
  OFL_RETURN_IF_ERROR(
      RegisterCudaKernel(kernels, "rsqrt", FloatTypes{}, RunUnary<FloatTypes, functors::Rsqrt>));
  OFL_RETURN_IF_ERROR(
      RegisterCudaKernel(kernels, "tanh", FloatTypes{}, RunUnary<FloatTypes, functors::Tanh>));
  OFL_RETURN_IF_ERROR(
      RegisterCudaKernel(kernels, "sigmoid", FloatTypes{}, RunUnary<FloatTypes, functors::Sigmoid>));
  OFL_RETURN_IF_ERROR(
      RegisterCudaKernel(kernels, "relu", FloatTypes{}, RunUnary<FloatTypes, functors::Relu>));
  OFL_RETURN_IF_ERROR(
      RegisterCudaKernel(kernels, "silu", FloatTypes{}, RunUnary<FloatTypes, functors::Silu>));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "gelu", FloatTypes{}, RunGelu));
  // Backward ops: (saved, dy) of one shape (the CPU runs its broadcast loop; so do we).
  OFL_RETURN_IF_ERROR(
      RegisterCudaKernel(kernels, "relu_grad", FloatTypes{}, RunBinary<FloatTypes, functors::ReluGrad>));
  OFL_RETURN_IF_ERROR(
      RegisterCudaKernel(kernels, "tanh_grad", FloatTypes{}, RunBinary<FloatTypes, functors::TanhGrad>));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "sigmoid_grad", FloatTypes{},
                                         RunBinary<FloatTypes, functors::SigmoidGrad>));
  OFL_RETURN_IF_ERROR(
      RegisterCudaKernel(kernels, "silu_grad", FloatTypes{}, RunBinary<FloatTypes, functors::SiluGrad>));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "gelu_grad", FloatTypes{}, RunGeluGrad));

  // Scalar ops (scalar_ops.cc: NumericTypes, scalar_pow FloatTypes).
  OFL_RETURN_IF_ERROR(
      RegisterCudaKernel(kernels, "scalar_add", NumericTypes{}, RunScalar<NumericTypes, functors::Add>));
  OFL_RETURN_IF_ERROR(
      RegisterCudaKernel(kernels, "scalar_sub", NumericTypes{}, RunScalar<NumericTypes, functors::Sub>));
  OFL_RETURN_IF_ERROR(
      RegisterCudaKernel(kernels, "scalar_mul", NumericTypes{}, RunScalar<NumericTypes, functors::Mul>));
  OFL_RETURN_IF_ERROR(
      RegisterCudaKernel(kernels, "scalar_div", NumericTypes{}, RunScalar<NumericTypes, CudaDivide>));
  OFL_RETURN_IF_ERROR(
      RegisterCudaKernel(kernels, "scalar_pow", FloatTypes{}, RunScalar<FloatTypes, functors::Pow>));
  return Status::Ok();
}

}  // namespace ofl

// CUDA kernels of matmul, batch_matmul (cuBLASLt, ops/matmul/cuda_matmul.h)
// and bias_add (one element-wise kernel).
#include <memory>

#include "ops/common/cuda_helpers.cuh"
#include "ops/cuda_kernels.h"
#include "ops/matmul/cuda_matmul.h"
#include "ops/matmul/matmul_kernel.h"

namespace ofl {

namespace {

// The product the physical pieces define (the CPU kernel's checks, shared
// through MatmulExtentsOf), of one dtype.
StatusOr<CudaMatmulShape> MatmulShapeOf(const KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(const MatmulExtents extents, MatmulExtentsOf(ctx, "cuda"));
  CudaMatmulShape shape;
  shape.dtype = ctx.in(0).dtype();
  OFL_CHECK_OR_RETURN(ctx.in(1).dtype() == shape.dtype && ctx.out(0).dtype() == shape.dtype)
      << "[" << ctx.op_name << "] cuda kernel: expected a, b and y of one dtype, got "
      << DTypeName(shape.dtype) << ", " << DTypeName(ctx.in(1).dtype()) << " and "
      << DTypeName(ctx.out(0).dtype());
  shape.transpose_a = extents.transpose_a;
  shape.transpose_b = extents.transpose_b;
  shape.batch = extents.batch;
  shape.m = extents.m;
  shape.n = extents.n;
  shape.k = extents.k;
  return shape;
}

// matmul and batch_matmul: one kernel object per actor keeps the cuBLASLt
// plans (descriptors + heuristic algorithm) of the shapes it has seen.
class CudaMatmulKernel final : public Kernel {
 public:
  Status Compute(KernelContext& ctx) override {
    OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
    OFL_ASSIGN_OR_RETURN(CudaMatmulShape shape, MatmulShapeOf(ctx));
    // alpha: f64 keeps the double attribute; the others round it to float
    // inside Run, as the CPU kernels do (oneDNN output scale, float Acc).
    return CudaBatchedMatmul("[" + ctx.op_name + "]", *stream, plans_, shape, ctx.attr().GetFloat("alpha"),
                             ctx.in(0).data, ctx.in(1).data, ctx.out(0).data);
  }

 private:
  CudaMatmulPlanCache plans_;
};

// y[i] = x[i] + bias[(i / inner) % channels], in the compute type (float for
// 16-bit types, as the CPU's Acc), one rounding at the store.
template <typename D>
__global__ void BiasAddKernel(const D* x, const D* bias, D* y, int64_t count, int64_t channels,
                              int64_t inner) {
  using C = CudaCompute<D>;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t channel = (i / inner) % channels;
    y[i] = FromCudaCompute<D>(ToCudaCompute<C>(x[i]) + ToCudaCompute<C>(bias[channel]));
  }
}

template <typename T>
void LaunchBiasAdd(const KernelContext& ctx, cudaStream_t stream, int64_t count, int64_t channels,
                   int64_t inner) {
  using D = CudaStorage<T>;
  BiasAddKernel<D><<<CudaGridFor(count), kCudaBlock, 0, stream>>>(
      static_cast<const D*>(ctx.in(0).data), static_cast<const D*>(ctx.in(1).data),
      static_cast<D*>(ctx.out(0).data), count, channels, inner);
}

// Works on physical pieces like the CPU kernel (bias_add_op.cc): the bias
// piece spans the x piece's extent along `axis`.
Status BiasAddCompute(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  const Shape& x = ctx.in(0).shape();
  OFL_ASSIGN_OR_RETURN(int axis,
                       NormalizeAxis("[bias_add] attribute axis", ctx.attr().GetInt("axis"), x.rank()));
  OFL_CHECK_OR_RETURN(ctx.in(1).NumElements() == x[axis])
      << "[bias_add] cuda kernel: expected a bias piece of " << x[axis] << " elements (x piece "
      << x.ToString() << ", axis " << axis << "), got " << ctx.in(1).shape().ToString();
  int64_t inner = 1;
  for (int k = axis + 1; k < x.rank(); ++k) inner *= x[k];
  const int64_t count = ctx.in(0).NumElements();
  if (count == 0) return Status::Ok();  // then channels or inner may be 0: no division happens
  OFL_RETURN_IF_ERROR(CudaDispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
    LaunchBiasAdd<decltype(tag)>(ctx, stream->native(), count, x[axis], inner);
  }));
  return CudaLaunchStatus(ctx);
}

}  // namespace

Status RegisterMatmulCudaKernels(KernelRegistry& kernels) {
  // The CPU registers matmul and batch_matmul for f32, f64, f16, bf16.
  const KernelFactory matmul = []() -> std::unique_ptr<Kernel> {
    return std::make_unique<CudaMatmulKernel>();
  };
  for (const char* op : {"matmul", "batch_matmul"}) {
    OFL_RETURN_IF_ERROR(kernels.RegisterForDTypes(op, DeviceType::kCUDA, DTypesOf(FloatTypes{}), matmul));
  }
  return RegisterCudaKernel(kernels, "bias_add", FloatTypes{}, BiasAddCompute);
}

}  // namespace ofl

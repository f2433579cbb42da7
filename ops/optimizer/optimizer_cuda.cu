// CUDA kernels of sgd_update, adam_update, multi_tensor_adam_update and
// clip_scale, mirroring the CPU kernels of update_ops.cc, clip_scale_op.cc
// and multi_tensor_adam_op.cc: f32 and f64, math in double.
//
// learning_rate and step are device tensors read inside the kernels, never
// copied to the host, so a schedule may change them between launches. The
// CPU kernels reject step < 1 with an error; the GPU cannot report a value
// error cheaply, so the Adam kernels then skip the update: param, m and v
// stay unchanged (as in adam_update_scaled's CUDA kernel).
//
// Adam, one or many tensors: one launch covers up to kMaxTensorsPerLaunch
// tensors, whose pointers and sizes travel in the kernel parameters (up to
// 32 KB since CUDA 12.1 on Volta and newer; this build needs CUDA 12.1+
// anyway). Each tensor is cut into chunks of kChunkElements; block b updates
// chunk b of the launch, found through a prefix-sum table of the first chunk
// of each tensor. Chunks whose four arrays are 16-byte aligned move 16 bytes
// per load and store. adam_update is the same kernel with one tensor.
#include <cstdint>
#include <limits>
#include <vector>

#include "ops/common/cuda_helpers.cuh"
#include "ops/cuda_kernels.h"
#include "ops/optimizer/adam_attrs.h"
#include "ops/optimizer/multi_tensor_adam.h"

namespace ofl {

namespace {

using UpdateTypes = TypeList<float, double>;

constexpr int kMaxTensorsPerLaunch = 512;
constexpr int kAdamThreads = 256;
/// Elements per block: 16 per thread, small enough that a single 1M-element
/// tensor still spreads over 256 blocks.
constexpr int64_t kChunkElements = 4096;

// Piece sizes agree within each tensor and the scalar inputs hold one
// element (the CPU kernels' CheckPieces); `op` names the op in errors.
Status CheckSameCount(const KernelContext& ctx, int reference, const std::vector<int>& others) {
  for (int i : others) {
    OFL_CHECK_OR_RETURN(ctx.in(i).NumElements() == ctx.in(reference).NumElements())
        << "[" << ctx.op_name << "] cuda kernel: expected input " << i << " piece of "
        << ctx.in(reference).NumElements() << " elements (the input " << reference << " piece), got "
        << ctx.in(i).NumElements();
  }
  return Status::Ok();
}

Status CheckScalars(const KernelContext& ctx, const std::vector<int>& scalars) {
  for (int i : scalars) {
    OFL_CHECK_OR_RETURN(ctx.in(i).NumElements() == 1)
        << "[" << ctx.op_name << "] cuda kernel: expected input " << i << " to hold one element, got "
        << ctx.in(i).NumElements();
  }
  return Status::Ok();
}

// ---------------------------------------------------------------- sgd_update

template <typename T>
__global__ void SgdKernel(int64_t n, T* param, const T* grad, T* buffer, const T* learning_rate_in,
                          double momentum, double weight_decay) {
  const double learning_rate = static_cast<double>(*learning_rate_in);
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    const double p = param[i];
    const double g = RoundedAdd(static_cast<double>(grad[i]), RoundedMul(weight_decay, p));
    const double b = RoundedAdd(RoundedMul(momentum, static_cast<double>(buffer[i])), g);
    buffer[i] = static_cast<T>(b);
    param[i] = static_cast<T>(RoundedSub(p, RoundedMul(learning_rate, b)));
  }
}

Status SgdCuda(KernelContext& ctx) {
  OFL_CHECK_OR_RETURN(ctx.inputs.size() == 4)
      << "[" << ctx.op_name << "] cuda kernel: expected 4 inputs, got " << ctx.inputs.size();
  OFL_RETURN_IF_ERROR(CheckSameCount(ctx, 0, {1, 2}));
  OFL_RETURN_IF_ERROR(CheckScalars(ctx, {3}));
  const double momentum = ctx.attr().GetFloat("momentum");
  const double weight_decay = ctx.attr().GetFloat("weight_decay");
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  const int64_t n = ctx.in(0).NumElements();
  if (n == 0) return Status::Ok();
  OFL_RETURN_IF_ERROR(CudaDispatchOr(ctx, UpdateTypes{}, ctx.in(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    SgdKernel<T><<<CudaGridFor(n), kCudaBlock, 0, stream->native()>>>(n, ctx.in(0).As<T>(), ctx.in(1).As<T>(),
                                                                      ctx.in(2).As<T>(), ctx.in(3).As<T>(),
                                                                      momentum, weight_decay);
  }));
  return CudaLaunchStatus(ctx);
}

// ------------------------------------------------- adam_update, multi-tensor

// One tensor of an Adam update: param, grad, m, v of `count` elements each.
template <typename T>
struct AdamTensor {
  T* param;
  const T* grad;
  T* m;
  T* v;
  int64_t count;
};

// The kernel parameters of one launch over up to K tensors.
template <typename T, int K>
struct MultiTensorAdamArgs {
  T* param[K];
  const T* grad[K];
  T* m[K];
  T* v[K];
  int64_t count[K];
  /// chunk_start[t] = the launch's first chunk of tensor t; chunk_start[num_tensors] = all chunks.
  int64_t chunk_start[K + 1];
  const T* learning_rate;
  const int64_t* step;
  AdamHyperparameters hyper;
  int num_tensors;
};
// The kernel parameter limit of CUDA 12.1+ on sm_70 and newer.
static_assert(sizeof(MultiTensorAdamArgs<double, kMaxTensorsPerLaunch>) <= 32764);

// 16 bytes of T, so that a chunk moves with 128-bit loads and stores.
template <typename T>
struct alignas(16) AdamPack {
  static constexpr int kLanes = 16 / sizeof(T);
  T lane[kLanes];
};

template <typename T>
__device__ __forceinline__ void AdamUpdateOne(const AdamHyperparameters& hyper,
                                              const AdamStepCoefficients& coefficients, T& param, T grad,
                                              T& m, T& v) {
  const AdamElement updated =
      AdamUpdateElement(hyper, coefficients, static_cast<double>(param), static_cast<double>(grad),
                        static_cast<double>(m), static_cast<double>(v));
  m = static_cast<T>(updated.m);
  v = static_cast<T>(updated.v);
  param = static_cast<T>(updated.param);
}

// Block b updates chunk b of the launch (see the file comment). Launched
// with kAdamThreads threads and exactly chunk_start[num_tensors] blocks.
template <typename T, int K>
__global__ void __launch_bounds__(kAdamThreads)
    MultiTensorAdamKernel(const __grid_constant__ MultiTensorAdamArgs<T, K> args) {
  __shared__ AdamStepCoefficients shared_coefficients;
  __shared__ bool skip;
  if (threadIdx.x == 0) {
    const int64_t step = *args.step;
    // step < 1: the CPU kernel's error; here no element is written.
    skip = step < 1;
    if (!skip) {
      shared_coefficients = AdamCoefficientsFor(args.hyper, static_cast<double>(*args.learning_rate), step);
    }
  }
  __syncthreads();
  if (skip) return;
  const AdamStepCoefficients coefficients = shared_coefficients;
  const AdamHyperparameters hyper = args.hyper;

  // The tensor of this block: the last t with chunk_start[t] <= block. Then
  // chunk_start[t + 1] > block, so tensor t has this chunk (empty tensors
  // own no chunk and are never chosen).
  const int64_t block = blockIdx.x;
  int low = 0;
  int high = args.num_tensors - 1;
  while (low < high) {
    const int middle = (low + high + 1) / 2;
    if (args.chunk_start[middle] <= block) {
      low = middle;
    } else {
      high = middle - 1;
    }
  }
  const int t = low;
  const int64_t begin = (block - args.chunk_start[t]) * kChunkElements;
  const int64_t end = min(begin + kChunkElements, args.count[t]);
  T* param = args.param[t];
  const T* grad = args.grad[t];
  T* m = args.m[t];
  T* v = args.v[t];

  int64_t scalar_begin = begin;
  const uintptr_t addresses = reinterpret_cast<uintptr_t>(param) | reinterpret_cast<uintptr_t>(grad) |
                              reinterpret_cast<uintptr_t>(m) | reinterpret_cast<uintptr_t>(v);
  if (addresses % alignof(AdamPack<T>) == 0) {
    // begin is a multiple of kChunkElements, hence of kLanes: every pack is aligned.
    using Pack = AdamPack<T>;
    constexpr int kLanes = Pack::kLanes;
    const int64_t vector_end = begin + (end - begin) / kLanes * kLanes;
    for (int64_t i = begin + int64_t{threadIdx.x} * kLanes; i < vector_end;
         i += int64_t{kAdamThreads} * kLanes) {
      Pack p = *reinterpret_cast<const Pack*>(param + i);
      const Pack g = *reinterpret_cast<const Pack*>(grad + i);
      Pack first = *reinterpret_cast<const Pack*>(m + i);
      Pack second = *reinterpret_cast<const Pack*>(v + i);
#pragma unroll
      for (int lane = 0; lane < kLanes; ++lane) {
        AdamUpdateOne(hyper, coefficients, p.lane[lane], g.lane[lane], first.lane[lane], second.lane[lane]);
      }
      *reinterpret_cast<Pack*>(m + i) = first;
      *reinterpret_cast<Pack*>(v + i) = second;
      *reinterpret_cast<Pack*>(param + i) = p;
    }
    scalar_begin = vector_end;
  }
  for (int64_t i = scalar_begin + threadIdx.x; i < end; i += kAdamThreads) {
    AdamUpdateOne(hyper, coefficients, param[i], grad[i], m[i], v[i]);
  }
}

// Enqueues the update of `tensors`, K tensors a launch.
template <typename T, int K>
Status LaunchAdam(const KernelContext& ctx, cudaStream_t stream, const std::vector<AdamTensor<T>>& tensors,
                  const T* learning_rate, const int64_t* step, const AdamHyperparameters& hyper) {
  for (size_t first = 0; first < tensors.size(); first += K) {
    MultiTensorAdamArgs<T, K> args{};
    args.learning_rate = learning_rate;
    args.step = step;
    args.hyper = hyper;
    args.num_tensors = static_cast<int>(std::min<size_t>(K, tensors.size() - first));
    int64_t chunks = 0;
    for (int t = 0; t < args.num_tensors; ++t) {
      const AdamTensor<T>& tensor = tensors[first + t];
      args.param[t] = tensor.param;
      args.grad[t] = tensor.grad;
      args.m[t] = tensor.m;
      args.v[t] = tensor.v;
      args.count[t] = tensor.count;
      args.chunk_start[t] = chunks;
      chunks += (tensor.count + kChunkElements - 1) / kChunkElements;
    }
    args.chunk_start[args.num_tensors] = chunks;
    if (chunks == 0) continue;
    OFL_CHECK_OR_RETURN(chunks <= std::numeric_limits<int32_t>::max())
        << "[" << ctx.op_name << "] cuda kernel: expected at most " << std::numeric_limits<int32_t>::max()
        << " chunks of " << kChunkElements << " elements in one launch, got " << chunks;
    MultiTensorAdamKernel<T, K><<<static_cast<unsigned int>(chunks), kAdamThreads, 0, stream>>>(args);
    OFL_RETURN_IF_ERROR(CudaLaunchStatus(ctx));
  }
  return Status::Ok();
}

Status CheckStepDType(const KernelContext& ctx, int step_input) {
  OFL_CHECK_OR_RETURN(ctx.in(step_input).dtype() == DType::kI64)
      << "[" << ctx.op_name << "] cuda kernel: expected step of dtype i64, got "
      << DTypeName(ctx.in(step_input).dtype());
  return Status::Ok();
}

// adam_update: param, grad, m, v, learning_rate, step.
template <typename T>
Status AdamTyped(const KernelContext& ctx, cudaStream_t stream, const AdamHyperparameters& hyper) {
  const std::vector<AdamTensor<T>> tensors = {
      {ctx.in(0).As<T>(), ctx.in(1).As<T>(), ctx.in(2).As<T>(), ctx.in(3).As<T>(), ctx.in(0).NumElements()}};
  return LaunchAdam<T, 1>(ctx, stream, tensors, ctx.in(4).As<T>(), ctx.in(5).As<int64_t>(), hyper);
}

Status AdamCuda(KernelContext& ctx) {
  OFL_CHECK_OR_RETURN(ctx.inputs.size() == 6)
      << "[" << ctx.op_name << "] cuda kernel: expected 6 inputs, got " << ctx.inputs.size();
  OFL_RETURN_IF_ERROR(CheckSameCount(ctx, 0, {1, 2, 3}));
  OFL_RETURN_IF_ERROR(CheckScalars(ctx, {4, 5}));
  OFL_RETURN_IF_ERROR(CheckStepDType(ctx, 5));
  const AdamHyperparameters hyper = AdamHyperparametersOf(ctx.attr());
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  switch (ctx.in(0).dtype()) {
    case DType::kF32:
      return AdamTyped<float>(ctx, stream->native(), hyper);
    case DType::kF64:
      return AdamTyped<double>(ctx, stream->native(), hyper);
    default:
      return UnsupportedCudaDType(ctx, ctx.in(0).dtype());
  }
}

// multi_tensor_adam_update: learning_rate, step, N params, N grads, N ms, N vs.
template <typename T>
Status MultiTensorAdamTyped(const KernelContext& ctx, cudaStream_t stream,
                            const MultiTensorAdamLayout& layout, const AdamHyperparameters& hyper) {
  std::vector<AdamTensor<T>> tensors;
  tensors.reserve(layout.num_tensors);
  for (int i = 0; i < layout.num_tensors; ++i) {
    tensors.push_back({ctx.in(layout.Param(i)).As<T>(), ctx.in(layout.Grad(i)).As<T>(),
                       ctx.in(layout.M(i)).As<T>(), ctx.in(layout.V(i)).As<T>(),
                       ctx.in(layout.Param(i)).NumElements()});
  }
  return LaunchAdam<T, kMaxTensorsPerLaunch>(ctx, stream, tensors,
                                             ctx.in(MultiTensorAdamLayout::kLearningRate).As<T>(),
                                             ctx.in(MultiTensorAdamLayout::kStep).As<int64_t>(), hyper);
}

Status MultiTensorAdamCuda(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(const MultiTensorAdamLayout layout,
                       MultiTensorAdamLayout::For(ctx.op_name, static_cast<int>(ctx.inputs.size())));
  for (int i = 0; i < layout.num_tensors; ++i) {
    OFL_RETURN_IF_ERROR(CheckSameCount(ctx, layout.Param(i), {layout.Grad(i), layout.M(i), layout.V(i)}));
  }
  OFL_RETURN_IF_ERROR(
      CheckScalars(ctx, {MultiTensorAdamLayout::kLearningRate, MultiTensorAdamLayout::kStep}));
  OFL_RETURN_IF_ERROR(CheckStepDType(ctx, MultiTensorAdamLayout::kStep));
  // The kernel key's dtype is learning_rate's; inference ties every tensor to it.
  const DType dtype = ctx.in(MultiTensorAdamLayout::kLearningRate).dtype();
  for (int input = MultiTensorAdamLayout::kFirstTensor; input < static_cast<int>(ctx.inputs.size());
       ++input) {
    OFL_CHECK_OR_RETURN(ctx.in(input).dtype() == dtype)
        << "[" << ctx.op_name << "] cuda kernel: expected input " << input << " of dtype " << DTypeName(dtype)
        << " (learning_rate's), got " << DTypeName(ctx.in(input).dtype());
  }
  const AdamHyperparameters hyper = AdamHyperparametersOf(ctx.attr());
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  switch (dtype) {
    case DType::kF32:
      return MultiTensorAdamTyped<float>(ctx, stream->native(), layout, hyper);
    case DType::kF64:
      return MultiTensorAdamTyped<double>(ctx, stream->native(), layout, hyper);
    default:
      return UnsupportedCudaDType(ctx, dtype);
  }
}

// ---------------------------------------------------------------- clip_scale

// Keeps the factor finite when all gradients are zero (clip_scale_op.cc).
constexpr double kNormEpsilon = 1e-6;

template <typename T>
__global__ void ClipScaleKernel(const T* sum_of_squares, T* scale, double max_norm) {
  const double factor = max_norm / RoundedAdd(sqrt(static_cast<double>(*sum_of_squares)), kNormEpsilon);
  // std::min(1.0, factor) of the CPU: 1 unless factor < 1 (so a NaN factor gives 1).
  *scale = static_cast<T>(factor < 1.0 ? factor : 1.0);
}

Status ClipScaleCuda(KernelContext& ctx) {
  const double max_norm = ctx.attr().GetFloat("max_norm");
  OFL_CHECK_OR_RETURN(ctx.in(0).NumElements() == 1 && ctx.out(0).NumElements() == 1)
      << "[" << ctx.op_name << "] cuda kernel: expected one-element pieces, got " << ctx.in(0).NumElements()
      << " in and " << ctx.out(0).NumElements() << " out";
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  OFL_RETURN_IF_ERROR(CudaDispatchOr(ctx, UpdateTypes{}, ctx.in(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    ClipScaleKernel<T><<<1, 1, 0, stream->native()>>>(ctx.in(0).As<T>(), ctx.out(0).As<T>(), max_norm);
  }));
  return CudaLaunchStatus(ctx);
}

}  // namespace

Status RegisterOptimizerCudaKernels(KernelRegistry& kernels) {
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "sgd_update", UpdateTypes{}, SgdCuda));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "adam_update", UpdateTypes{}, AdamCuda));
  OFL_RETURN_IF_ERROR(
      RegisterCudaKernel(kernels, "multi_tensor_adam_update", UpdateTypes{}, MultiTensorAdamCuda));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "clip_scale", UpdateTypes{}, ClipScaleCuda));
  return Status::Ok();
}

}  // namespace ofl

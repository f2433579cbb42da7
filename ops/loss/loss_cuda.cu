// CUDA kernels of mse_loss, sparse_softmax_cross_entropy and its backward
// op, mirroring mse_loss.cc and cross_entropy.cc. The scalar losses are
// reduced in two stages without atomics: per-block (mse) or per-row (cross
// entropy) partial sums in the compute type go to the stream workspace, and
// one block adds them and divides by the LOGICAL count (pieces of a split
// batch then sum to the logical loss).
//
// Labels are not validated on the GPU (the CPU reports labels outside
// [0, classes) as errors): a row with such a label never reads logits at it;
// its loss term is NaN, so the loss shows the fault, and its gradient row is
// prob * factor with no one-hot term.
#include <cmath>
#include <utility>

#include "ops/common/cuda_helpers.cuh"
#include "ops/common/cuda_reduce.cuh"
#include "ops/common/cuda_rows.cuh"
#include "ops/cuda_kernels.h"

namespace ofl {

namespace {

// ---- mse_loss ----------------------------------------------------------------------

// partial[block] = sum over this block's grid-stride elements of (pred - target)^2.
template <typename D>
__global__ void __launch_bounds__(kCudaBlock)
    SquaredErrorPartialsKernel(const D* pred, const D* target, int64_t count, CudaCompute<D>* partial) {
  using C = CudaCompute<D>;
  C sum = 0;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count;
       i += int64_t{gridDim.x} * blockDim.x) {
    const C diff = ToCudaCompute<C>(pred[i]) - ToCudaCompute<C>(target[i]);
    sum += diff * diff;
  }
  sum = BlockReduce(sum, CudaSumOp{}, C(0));
  if (threadIdx.x == 0) partial[blockIdx.x] = sum;
}

Status RunMseLoss(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  const int64_t count = ctx.in(0).NumElements();
  const int64_t logical_count = ctx.inputs[0].logical_shape.NumElements();
  OFL_RETURN_IF_ERROR(CudaDispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
    using D = CudaStorage<decltype(tag)>;
    using C = CudaCompute<D>;
    const unsigned int blocks = count > 0 ? CudaGridFor(count) : 0;
    // A few thousand partials at most: far below any workspace.
    C* partial = static_cast<C*>(stream->workspace());
    if (blocks > 0) {
      SquaredErrorPartialsKernel<D>
          <<<blocks, kCudaBlock, 0, stream->native()>>>(ctx.in(0).As<D>(), ctx.in(1).As<D>(), count, partial);
    }
    // Launched even for an empty piece: its share of the loss is 0 / N.
    SumPartialsKernel<D, C><<<1, kRowBlockThreads, 0, stream->native()>>>(
        partial, blocks, static_cast<C>(logical_count), false, ctx.out(0).As<D>());
  }));
  return CudaLaunchStatus(ctx);
}

// ---- sparse_softmax_cross_entropy ------------------------------------------------------

// Per row: prob = softmax(logits) (SoftmaxRow: NaN-skipping max, as
// std::max on the CPU), row_loss[r] = log(sum exp(x - max)) + max - x[label].
template <typename D, typename L, int kVec, int kChunks, bool kWarp>
__global__ void __launch_bounds__(kWarp ? kRowWarpBlockThreads : kRowBlockThreads)
    CrossEntropyRowsKernel(const D* logits, const L* labels, D* prob, CudaCompute<D>* row_loss, int64_t rows,
                           int64_t classes) {
  using C = CudaCompute<D>;
  const RowGroup group = RowGroupOf<kWarp>();
  for (int64_t r = group.first; r < rows; r += group.step) {
    const D* xr = logits + r * classes;
    RowCache<D, C, kVec, kChunks> xs{xr};
    xs.Load(group, classes);
    const SoftmaxStats<C> stats =
        SoftmaxRow<false, kWarp>(group, xs, classes, classes, C(1), prob + r * classes);
    if (group.tid == 0) {
      const int64_t label = static_cast<int64_t>(labels[r]);
      // Out-of-range label: skipped (never read), the row's loss is NaN.
      row_loss[r] = label >= 0 && label < classes ? log(stats.sum) + stats.max - ToCudaCompute<C>(xr[label])
                                                  : static_cast<C>(NAN);
    }
  }
}

// The class axis must be whole on each device: the softmax needs every class.
Status ExpectWholeClasses(const KernelContext& ctx, int input) {
  const TensorArg& arg = ctx.inputs[input];
  OFL_CHECK_OR_RETURN(arg.blob.shape().rank() == 2 && arg.logical_shape.rank() == 2)
      << "[" << ctx.op_name << "] expected [N, C] operands, got " << arg.blob.shape().ToString();
  OFL_CHECK_OR_RETURN(arg.blob.shape()[1] == arg.logical_shape[1])
      << "[" << ctx.op_name << "] " << (input == 0 ? "logits" : "prob") << ": expected all "
      << arg.logical_shape[1] << " classes on each device, got a piece with " << arg.blob.shape()[1];
  return Status::Ok();
}

// The [rows, classes] view shared by the forward and backward kernels:
// logits / prob (input 0) with every class on each device, labels (input 1)
// i32 or i64, and the LOGICAL batch the loss is averaged over.
struct CrossEntropyView {
  int64_t rows = 0;
  int64_t classes = 0;
  int64_t logical_rows = 0;
  bool wide_labels = false;
};

StatusOr<CrossEntropyView> CrossEntropyViewOf(const KernelContext& ctx) {
  OFL_RETURN_IF_ERROR(ExpectWholeClasses(ctx, 0));
  const DType label_dtype = ctx.in(1).dtype();
  OFL_CHECK_OR_RETURN(label_dtype == DType::kI32 || label_dtype == DType::kI64)
      << "[" << ctx.op_name << "] labels: expected dtype i32 or i64, got " << DTypeName(label_dtype);
  CrossEntropyView view;
  view.rows = ctx.in(0).shape()[0];
  view.classes = ctx.in(0).shape()[1];
  view.logical_rows = ctx.inputs[0].logical_shape[0];
  view.wide_labels = label_dtype == DType::kI64;
  OFL_CHECK_OR_RETURN(ctx.in(1).NumElements() == view.rows)
      << "[" << ctx.op_name << "] labels: expected " << view.rows << " labels (one per row), got "
      << ctx.in(1).shape().ToString();
  return view;
}

template <typename D, typename L>
void LaunchCrossEntropy(const KernelContext& ctx, const CudaStream& stream, int64_t rows, int64_t classes,
                        int64_t logical_rows, CudaCompute<D>* row_loss) {
  using C = CudaCompute<D>;
  const D* logits = ctx.in(0).As<D>();
  const L* labels = ctx.in(1).As<L>();
  D* prob = ctx.out(1).As<D>();
  if (rows > 0) {
    const bool aligned = AllAlignedTo16({logits, prob});
    DispatchRowShape<D>(
        ChooseRowShape<D>(classes, aligned), rows,
        [&](auto vec, auto chunks, auto warp, dim3 grid, dim3 block) {
          CrossEntropyRowsKernel<D, L, decltype(vec)::value, decltype(chunks)::value, decltype(warp)::value>
              <<<grid, block, 0, stream.native()>>>(logits, labels, prob, row_loss, rows, classes);
        });
  }
  // Launched even for an empty piece: its loss is 0.
  SumPartialsKernel<D, C><<<1, kRowBlockThreads, 0, stream.native()>>>(
      row_loss, rows, static_cast<C>(logical_rows), logical_rows <= 0, ctx.out(0).As<D>());
}

Status RunCrossEntropy(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  OFL_ASSIGN_OR_RETURN(const CrossEntropyView view, CrossEntropyViewOf(ctx));
  const int64_t rows = view.rows, classes = view.classes, logical_rows = view.logical_rows;
  const bool wide_labels = view.wide_labels;
  // One partial per row in the compute type (8 bytes for f64, else float).
  const size_t needed = static_cast<size_t>(rows) * (ctx.in(0).dtype() == DType::kF64 ? 8 : 4);
  OFL_CHECK_OR_RETURN(needed <= stream->workspace_bytes())
      << "[" << ctx.op_name << "] cuda kernel: needs " << needed
      << " bytes of stream workspace for per-row losses, the stream has " << stream->workspace_bytes();
  OFL_RETURN_IF_ERROR(CudaDispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
    using D = CudaStorage<decltype(tag)>;
    using C = CudaCompute<D>;
    C* row_loss = static_cast<C*>(stream->workspace());
    if (wide_labels) {
      LaunchCrossEntropy<D, int64_t>(ctx, *stream, rows, classes, logical_rows, row_loss);
    } else {
      LaunchCrossEntropy<D, int32_t>(ctx, *stream, rows, classes, logical_rows, row_loss);
    }
  }));
  return CudaLaunchStatus(ctx);
}

// dlogits = dloss / max(1, N) * (prob - onehot(label)), N the logical batch.
// dloss is read on the device (a scalar in device memory).
template <typename D, typename L>
Status LaunchCrossEntropyGrad(const KernelContext& ctx, cudaStream_t native, int64_t rows, int64_t classes,
                              int64_t logical_rows) {
  using C = CudaCompute<D>;
  const D* prob = ctx.in(0).As<D>();
  const L* labels = ctx.in(1).As<L>();
  const D* dloss = ctx.in(2).As<D>();
  D* dlogits = ctx.out(0).As<D>();
  const C divisor = static_cast<C>(logical_rows > 1 ? logical_rows : 1);
  return CudaForEach(ctx, native, rows * classes, [=] __device__(int64_t i) {
    const int64_t r = i / classes;
    const int64_t j = i % classes;
    const C factor = ToCudaCompute<C>(dloss[0]) / divisor;
    // An out-of-range label matches no class j: the one-hot term is skipped.
    const C hit = j == static_cast<int64_t>(labels[r]) ? C(1) : C(0);
    dlogits[i] = FromCudaCompute<D>(factor * (ToCudaCompute<C>(prob[i]) - hit));
  });
}

// Puts `value` in `slot` (a plain assignment statement of the [[nodiscard]]
// Status draws an nvcc warning).
void StoreStatus(Status& slot, Status value) { std::swap(slot, value); }

Status RunCrossEntropyGrad(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  OFL_ASSIGN_OR_RETURN(const CrossEntropyView view, CrossEntropyViewOf(ctx));
  const int64_t rows = view.rows, classes = view.classes, logical_rows = view.logical_rows;
  const bool wide_labels = view.wide_labels;
  Status status = Status::Ok();
  OFL_RETURN_IF_ERROR(CudaDispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
    using D = CudaStorage<decltype(tag)>;
    StoreStatus(status,
                wide_labels
                    ? LaunchCrossEntropyGrad<D, int64_t>(ctx, stream->native(), rows, classes, logical_rows)
                    : LaunchCrossEntropyGrad<D, int32_t>(ctx, stream->native(), rows, classes, logical_rows));
  }));
  return status;
}

}  // namespace

Status RegisterLossCudaKernels(KernelRegistry& kernels) {
  // The CPU registers the four float dtypes for each (keyed by pred / logits / prob).
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "mse_loss", FloatTypes{}, RunMseLoss));
  OFL_RETURN_IF_ERROR(
      RegisterCudaKernel(kernels, "sparse_softmax_cross_entropy", FloatTypes{}, RunCrossEntropy));
  return RegisterCudaKernel(kernels, "sparse_softmax_cross_entropy_grad", FloatTypes{}, RunCrossEntropyGrad);
}

}  // namespace ofl

// CUDA kernels of embedding (row gather) and embedding_grad (scatter-add),
// mirroring embedding_ops.cc, vocab parallelism included: a device holding
// rows [offset, offset + rows) of the table (its piece's LOGICAL offset)
// serves only indices in that range and gives zeros for the rest.
//
// Indices are not validated on the GPU (the CPU reports values outside
// [0, V) as errors). Such an index can never fall in a piece's row range,
// so it is skipped: embedding writes zeros for it and embedding_grad adds
// nothing; no access goes out of bounds.
//
// embedding_grad adds with atomics: f32 and f64 straight into dweight; f16
// and bf16 into f32 accumulators in the stream workspace, rounded once at
// the end like the CPU's float buffer. A table larger than the workspace is
// done in passes over slices of its rows, each pass scanning every index and
// adding only the rows of its slice. Atomic float sums are not
// bit-reproducible from run to run.
#include <algorithm>
#include <type_traits>
#include <utility>

#include "ops/common/cuda_helpers.cuh"
#include "ops/cuda_kernels.h"

namespace ofl {

namespace {

void StoreStatus(Status& slot, Status value) { std::swap(slot, value); }

StatusOr<bool> IsWideIndex(const KernelContext& ctx, int input) {
  const DType dtype = ctx.in(input).dtype();
  OFL_CHECK_OR_RETURN(dtype == DType::kI32 || dtype == DType::kI64)
      << "[" << ctx.op_name << "] indices: expected dtype i32 or i64, got " << DTypeName(dtype);
  return dtype == DType::kI64;
}

// y[n, d] = weight[indices[n] - offset, d] when that row is in this piece, else 0.
template <typename D, typename L>
Status LaunchEmbedding(const KernelContext& ctx, cudaStream_t native, const D* weight, const L* indices, D* y,
                       int64_t count, int64_t local_rows, int64_t width, int64_t row_offset) {
  return CudaForEach(ctx, native, count * width, [=] __device__(int64_t i) {
    const int64_t n = i / width;
    const int64_t d = i % width;
    const int64_t row = static_cast<int64_t>(indices[n]) - row_offset;
    y[i] = row >= 0 && row < local_rows ? weight[row * width + d] : FromCudaCompute<D>(0.0f);
  });
}

Status RunEmbedding(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  const TensorArg& weight_arg = ctx.inputs[0];
  OFL_CHECK_OR_RETURN(weight_arg.blob.shape().rank() == 2)
      << "[" << ctx.op_name << "] weight: expected a [V, D] table, got "
      << weight_arg.blob.shape().ToString();
  const int64_t local_rows = weight_arg.blob.shape()[0];
  const int64_t width = weight_arg.blob.shape()[1];
  const int64_t row_offset = weight_arg.offset.empty() ? 0 : weight_arg.offset[0];
  const int64_t count = ctx.in(1).NumElements();
  OFL_ASSIGN_OR_RETURN(const bool wide, IsWideIndex(ctx, 1));
  Status status = Status::Ok();
  OFL_RETURN_IF_ERROR(CudaDispatchOr(ctx, FloatTypes{}, weight_arg.blob.dtype(), [&](auto tag) {
    using D = CudaStorage<decltype(tag)>;
    const D* weight = weight_arg.blob.As<D>();
    D* y = ctx.out(0).As<D>();
    StoreStatus(status,
                wide ? LaunchEmbedding<D, int64_t>(ctx, stream->native(), weight, ctx.in(1).As<int64_t>(), y,
                                                   count, local_rows, width, row_offset)
                     : LaunchEmbedding<D, int32_t>(ctx, stream->native(), weight, ctx.in(1).As<int32_t>(), y,
                                                   count, local_rows, width, row_offset));
  }));
  return status;
}

// dweight[v, :] += dy[n, :] for each n with indices[n] - offset == v in this piece.
// f16 / bf16: the table is summed in float, slice by slice of rows
// [first, first + slice) where slice * width floats fit the workspace.
template <typename D, typename L>
Status LaunchEmbeddingGrad(const KernelContext& ctx, const CudaStream& stream, const L* indices, const D* dy,
                           D* dweight, int64_t count, int64_t local_rows, int64_t width, int64_t row_offset) {
  cudaStream_t native = stream.native();
  constexpr bool kHalf = std::is_same_v<D, __half> || std::is_same_v<D, __nv_bfloat16>;
  if constexpr (kHalf) {
    const int64_t slice =
        std::min<int64_t>(local_rows, static_cast<int64_t>(stream.workspace_bytes() / sizeof(float)) / width);
    OFL_CHECK_OR_RETURN(slice > 0)
        << "[" << ctx.op_name << "] cuda kernel: needs " << width * sizeof(float)
        << " bytes of stream workspace for one float row of dweight, the stream has "
        << stream.workspace_bytes();
    float* accumulator = static_cast<float*>(stream.workspace());
    for (int64_t first = 0; first < local_rows; first += slice) {
      const int64_t rows = std::min(slice, local_rows - first);
      const int64_t begin = row_offset + first;  // logical rows [begin, begin + rows) this pass
      OFL_RETURN_IF_ERROR(CudaStatus(
          cudaMemsetAsync(accumulator, 0, static_cast<size_t>(rows * width) * sizeof(float), native),
          "[" + ctx.op_name + "] memset"));
      OFL_RETURN_IF_ERROR(CudaForEach(ctx, native, count * width, [=] __device__(int64_t i) {
        const int64_t row = static_cast<int64_t>(indices[i / width]) - begin;
        if (row < 0 || row >= rows) return;
        atomicAdd(accumulator + row * width + i % width, ToCudaCompute<float>(dy[i]));
      }));
      D* out = dweight + first * width;
      OFL_RETURN_IF_ERROR(CudaForEach(ctx, native, rows * width, [=] __device__(int64_t i) {
        out[i] = FromCudaCompute<D>(accumulator[i]);
      }));
    }
    return Status::Ok();
  } else {
    OFL_RETURN_IF_ERROR(
        CudaStatus(cudaMemsetAsync(dweight, 0, static_cast<size_t>(local_rows * width) * sizeof(D), native),
                   "[" + ctx.op_name + "] memset"));
    return CudaForEach(ctx, native, count * width, [=] __device__(int64_t i) {
      const int64_t row = static_cast<int64_t>(indices[i / width]) - row_offset;
      if (row < 0 || row >= local_rows) return;
      atomicAdd(dweight + row * width + i % width, dy[i]);
    });
  }
}

Status RunEmbeddingGrad(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  const TensorArg& out_arg = ctx.outputs[0];
  OFL_CHECK_OR_RETURN(out_arg.blob.shape().rank() == 2)
      << "[" << ctx.op_name << "] dweight: expected a [V, D] table, got " << out_arg.blob.shape().ToString();
  const int64_t local_rows = out_arg.blob.shape()[0];
  const int64_t width = out_arg.blob.shape()[1];
  const int64_t row_offset = out_arg.offset.empty() ? 0 : out_arg.offset[0];
  const int64_t count = ctx.in(0).NumElements();
  OFL_CHECK_OR_RETURN(ctx.in(1).NumElements() == count * width)
      << "[" << ctx.op_name << "] dy: expected " << count * width << " elements (indices x " << width
      << "), got " << ctx.in(1).shape().ToString();
  if (local_rows * width == 0) return Status::Ok();
  OFL_ASSIGN_OR_RETURN(const bool wide, IsWideIndex(ctx, 0));
  Status status = Status::Ok();
  // Keyed by the index dtype; dispatched on dy's dtype, as on the CPU.
  OFL_RETURN_IF_ERROR(CudaDispatchOr(ctx, FloatTypes{}, ctx.in(1).dtype(), [&](auto tag) {
    using D = CudaStorage<decltype(tag)>;
    const D* dy = ctx.in(1).As<D>();
    D* dweight = out_arg.blob.As<D>();
    StoreStatus(status, wide
                            ? LaunchEmbeddingGrad<D, int64_t>(ctx, *stream, ctx.in(0).As<int64_t>(), dy,
                                                              dweight, count, local_rows, width, row_offset)
                            : LaunchEmbeddingGrad<D, int32_t>(ctx, *stream, ctx.in(0).As<int32_t>(), dy,
                                                              dweight, count, local_rows, width, row_offset));
  }));
  return status;
}

}  // namespace

Status RegisterEmbeddingCudaKernels(KernelRegistry& kernels) {
  // As on the CPU: embedding keyed by the table's float dtype, embedding_grad by the index dtype.
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "embedding", FloatTypes{}, RunEmbedding));
  return RegisterCudaKernel(kernels, "embedding_grad", IndexTypes{}, RunEmbeddingGrad);
}

}  // namespace ofl

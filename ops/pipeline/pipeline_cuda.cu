// CUDA kernels of unpack, pack, repeat, acc and delay (contract in
// pipeline.h; CPU kernels in micro_batch_ops.cc, mirrored here: the same
// micro-batch and piece checks, made on the host before anything is enqueued).
#include <cstdint>
#include <string>

#include "ops/cuda_kernels.h"
#include "ops/elementwise/cuda_elementwise.cuh"
#include "ops/elementwise/functors.h"

namespace ofl {

namespace {

constexpr const char* kMicroBatches = "micro_batches";

// The micro-batch index of this act, checked against the op's M.
StatusOr<int64_t> MicroBatchOf(const KernelContext& ctx) {
  const int64_t micro_batches = ctx.attr().GetInt(kMicroBatches);
  OFL_CHECK_OR_RETURN(ctx.micro_batch >= 0 && ctx.micro_batch < micro_batches)
      << "[" << ctx.op_name << "] cuda kernel: expected a micro-batch index in [0, " << micro_batches
      << "), got " << ctx.micro_batch;
  return ctx.micro_batch;
}

// Bytes of one row (one index of axis 0) of a piece.
int64_t RowBytes(const Blob& blob) {
  const int64_t rows = blob.shape()[0];
  return rows == 0 ? 0 : static_cast<int64_t>(blob.ByteSize()) / rows;
}

Status CopyAsync(const KernelContext& ctx, cudaStream_t stream) {
  const Blob& x = ctx.in(0);
  const Blob& y = ctx.out(0);
  OFL_CHECK_OR_RETURN(x.ByteSize() == y.ByteSize())
      << "[" << ctx.op_name << "] cuda kernel: expected an output piece of " << x.ByteSize() << " bytes, got "
      << y.desc.ToString();
  if (x.ByteSize() == 0 || x.data == y.data) return Status::Ok();
  return CudaStatus(cudaMemcpyAsync(y.data, x.data, x.ByteSize(), cudaMemcpyDeviceToDevice, stream),
                    "[" + ctx.op_name + "] cudaMemcpyAsync");
}

// Logical row r of the micro-batch side is logical row r * M + micro of the
// mini-batch side. Both are strided row copies: one row of the micro-batch
// piece every row, one of the mini-batch piece every M rows. The row range
// is checked at both ends on the host (the map is increasing in r), which
// covers every row the CPU kernel checks one by one.
Status UnpackKernel(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(const int64_t micro, MicroBatchOf(ctx));
  const int64_t micro_batches = ctx.attr().GetInt(kMicroBatches);
  const TensorArg& x = ctx.inputs[0];
  const TensorArg& y = ctx.outputs[0];
  const int64_t rows = y.blob.shape()[0];
  const int64_t x_rows = x.blob.shape()[0];
  const int64_t first_source = y.offset[0] * micro_batches + micro - x.offset[0];
  for (const int64_t row : {int64_t{0}, rows - 1}) {
    if (rows == 0) break;
    const int64_t source = first_source + row * micro_batches;
    OFL_CHECK_OR_RETURN(source >= 0 && source < x_rows)
        << "[" << ctx.op_name << "] cuda kernel: output row " << y.offset[0] + row << " of micro-batch "
        << micro << " reads input row " << source + x.offset[0] << ", outside the input piece ["
        << x.offset[0] << ", " << x.offset[0] + x_rows
        << ") (pieces of the batch axis must hold whole groups of " << micro_batches << " rows)";
  }
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  const int64_t row_bytes = RowBytes(y.blob);
  if (rows == 0 || row_bytes == 0) return Status::Ok();
  return CudaCopyRows(ctx, stream->native(), y.blob.data, row_bytes,
                      static_cast<const char*>(x.blob.data) + first_source * row_bytes,
                      micro_batches * row_bytes, rows, row_bytes);
}

// Micro-batch 0 first zeroes the output (rows of other micro-batches stay 0
// in a lone act), then every act writes its rows.
Status PackKernel(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(const int64_t micro, MicroBatchOf(ctx));
  const int64_t micro_batches = ctx.attr().GetInt(kMicroBatches);
  const TensorArg& x = ctx.inputs[0];
  const TensorArg& y = ctx.outputs[0];
  const int64_t rows = x.blob.shape()[0];
  const int64_t y_rows = y.blob.shape()[0];
  const int64_t first_target = x.offset[0] * micro_batches + micro - y.offset[0];
  for (const int64_t row : {int64_t{0}, rows - 1}) {
    if (rows == 0) break;
    const int64_t target = first_target + row * micro_batches;
    OFL_CHECK_OR_RETURN(target >= 0 && target < y_rows)
        << "[" << ctx.op_name << "] cuda kernel: input row " << x.offset[0] + row << " of micro-batch "
        << micro << " goes to output row " << target + y.offset[0] << ", outside the output piece ["
        << y.offset[0] << ", " << y.offset[0] + y_rows
        << ") (pieces of the batch axis must hold whole groups of " << micro_batches << " rows)";
  }
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  if (micro == 0 && y.blob.ByteSize() > 0) {
    OFL_RETURN_IF_ERROR(CudaStatus(cudaMemsetAsync(y.blob.data, 0, y.blob.ByteSize(), stream->native()),
                                   "[" + ctx.op_name + "] cudaMemsetAsync"));
  }
  const int64_t row_bytes = RowBytes(x.blob);
  if (rows == 0 || row_bytes == 0) return Status::Ok();
  return CudaCopyRows(ctx, stream->native(), static_cast<char*>(y.blob.data) + first_target * row_bytes,
                      micro_batches * row_bytes, x.blob.data, row_bytes, rows, row_bytes);
}

Status AccKernel(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(const int64_t micro, MicroBatchOf(ctx));
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  if (micro == 0) return CopyAsync(ctx, stream->native());
  const Blob& x = ctx.in(0);
  const Blob& y = ctx.out(0);
  OFL_CHECK_OR_RETURN(x.desc == y.desc) << "[" << ctx.op_name << "] cuda kernel: expected an output piece "
                                        << x.desc.ToString() << ", got " << y.desc.ToString();
  return CudaDispatchStatus(ctx, NumericTypes{}, x.dtype(), [&](auto tag) {
    using D = CudaStorage<decltype(tag)>;
    // y = y + x in the compute type, in place (each thread reads its
    // element of y before writing it).
    return CudaMap(ctx, stream->native(), x.NumElements(), functors::Add{}, y.As<D>(), y.As<D>(), x.As<D>());
  });
}

Status RepeatKernel(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  return CopyAsync(ctx, stream->native());
}

// Holds the stream for `nanoseconds` of wall-clock time, read from the
// GPU's global timer (clock64 would count cycles, whose rate varies with
// the clock). One thread that mostly sleeps: it takes no bandwidth, and
// later work on the stream starts only after it.
__global__ void SpinKernel(uint64_t nanoseconds) {
  uint64_t start;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
  uint64_t now = start;
  while (now - start < nanoseconds) {
    __nanosleep(1000);
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
  }
}

// The CPU kernel sleeps and then copies; here the spin delays the stream
// (what a pipeline stage on a GPU waits on), then the copy runs.
Status DelayKernel(KernelContext& ctx) {
  const int64_t microseconds = ctx.attr().GetInt("microseconds");
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  if (microseconds > 0) {
    SpinKernel<<<1, 1, 0, stream->native()>>>(static_cast<uint64_t>(microseconds) * 1000);
    OFL_RETURN_IF_ERROR(CudaLaunchStatus(ctx));
  }
  return CopyAsync(ctx, stream->native());
}

}  // namespace

Status RegisterPipelineCudaKernels(KernelRegistry& kernels) {
  // micro_batch_ops.cc: AllTypes for all but acc (NumericTypes).
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "unpack", AllTypes{}, UnpackKernel));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "pack", AllTypes{}, PackKernel));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "repeat", AllTypes{}, RepeatKernel));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "acc", NumericTypes{}, AccKernel));
  OFL_RETURN_IF_ERROR(RegisterCudaKernel(kernels, "delay", AllTypes{}, DelayKernel));
  return Status::Ok();
}

}  // namespace ofl

// CUDA kernels of unpack, pack, repeat, acc and delay (contract in
// pipeline.h; CPU kernels in micro_batch_ops.cc, mirrored here: the same
// micro-batch and piece checks, made on the host before anything is enqueued).
#include <cstdint>
#include <string>

#include "ops/cuda_kernels.h"
#include "ops/elementwise/cuda_elementwise.cuh"
#include "ops/elementwise/functors.h"
#include "ops/pipeline/pipeline_internal.h"

namespace ofl {

namespace {

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

// Both are strided row copies (rows and their checks from
// MicroBatchRowsOf, shared with the CPU kernels, made before anything is
// enqueued): one row of the micro-batch piece every row, one of the
// mini-batch piece every M rows.
Status UnpackKernel(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(const MicroBatchRows rows, MicroBatchRowsOf(ctx, "cuda", /*unpack=*/true));
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  return CudaCopyRows(ctx, stream->native(), ctx.out(0).data, rows.row_bytes,
                      static_cast<const char*>(ctx.in(0).data) + rows.first * rows.row_bytes,
                      rows.micro_batches * rows.row_bytes, rows.rows, rows.row_bytes);
}

// Micro-batch 0 first zeroes the output (rows of other micro-batches stay 0
// in a lone act), then every act writes its rows.
Status PackKernel(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(const MicroBatchRows rows, MicroBatchRowsOf(ctx, "cuda", /*unpack=*/false));
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  const Blob& y = ctx.out(0);
  if (rows.micro == 0 && y.ByteSize() > 0) {
    OFL_RETURN_IF_ERROR(CudaStatus(cudaMemsetAsync(y.data, 0, y.ByteSize(), stream->native()),
                                   "[" + ctx.op_name + "] cudaMemsetAsync"));
  }
  return CudaCopyRows(ctx, stream->native(), static_cast<char*>(y.data) + rows.first * rows.row_bytes,
                      rows.micro_batches * rows.row_bytes, ctx.in(0).data, rows.row_bytes, rows.rows,
                      rows.row_bytes);
}

Status AccKernel(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(const int64_t micro, MicroBatchOf(ctx, "cuda"));
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

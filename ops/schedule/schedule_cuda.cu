// CUDA kernels of learning_rate_schedule and increment (contract in
// schedule.h, CPU kernels in schedule_ops.cc). The step counter lives on the
// device, so the schedule is evaluated there by one thread.
#include <cstdint>

#include "ops/cuda_kernels.h"
#include "ops/elementwise/cuda_elementwise.cuh"
#include "ops/schedule/schedule.h"

namespace ofl {

namespace {

struct ScheduleParameters {
  double learning_rate;
  int64_t warmup_steps;
  int64_t decay_steps;
  double min_learning_rate;
};

// The schedule of schedule.h. The CPU kernel reports a step < 1 as an
// error; the GPU cannot report a value it reads from device memory, so it
// writes NaN: an unmistakable learning rate rather than a plausible one.
template <typename R>
__global__ void LearningRateKernel(const int64_t* step_pointer, R* out, ScheduleParameters parameters) {
  const int64_t step = *step_pointer;
  const double rate = step < 1
                          ? __longlong_as_double(0x7ff8000000000000LL)  // quiet NaN
                          : ScheduledLearningRate(step, parameters.learning_rate, parameters.warmup_steps,
                                                  parameters.decay_steps, parameters.min_learning_rate);
  *out = static_cast<R>(rate);
}

Status ScheduleKernel(KernelContext& ctx) {
  OFL_CHECK_OR_RETURN(ctx.in(0).NumElements() == 1 && ctx.out(0).NumElements() == 1)
      << "[" << ctx.op_name << "] cuda kernel: expected one-element pieces, got " << ctx.in(0).NumElements()
      << " in and " << ctx.out(0).NumElements() << " out";
  OFL_CHECK_OR_RETURN(ctx.in(0).dtype() == DType::kI64)
      << "[" << ctx.op_name << "] cuda kernel: expected step of dtype i64, got "
      << DTypeName(ctx.in(0).dtype());
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  const ScheduleParameters parameters{ctx.attr().GetFloat("learning_rate"), ctx.attr().GetInt("warmup_steps"),
                                      ctx.attr().GetInt("decay_steps"),
                                      ctx.attr().GetFloat("min_learning_rate")};
  return CudaDispatchStatus(ctx, TypeList<float, double>{}, ctx.out(0).dtype(), [&](auto tag) {
    using R = decltype(tag);
    LearningRateKernel<R>
        <<<1, 1, 0, stream->native()>>>(ctx.in(0).As<int64_t>(), ctx.out(0).As<R>(), parameters);
    return CudaLaunchStatus(ctx);
  });
}

// counter + 1 in the counter's type, as the CPU kernel computes it.
struct AddOne {
  template <typename T>
  __device__ __forceinline__ T operator()(T counter) const {
    return static_cast<T>(counter + 1);
  }
};

Status IncrementKernel(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(CudaStream * stream, CudaStreamOf(ctx));
  return CudaDispatchStatus(ctx, TypeList<int32_t, int64_t>{}, ctx.in(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* counter = ctx.in(0).As<T>();
    return CudaMapRaw(ctx, stream->native(), ctx.in(0).NumElements(), AddOne{}, counter,
                      static_cast<const T*>(counter));
  });
}

}  // namespace

Status RegisterScheduleCudaKernels(KernelRegistry& kernels) {
  // schedule_ops.cc: learning_rate_schedule keyed by its i64 step; increment for i32 and i64.
  OFL_RETURN_IF_ERROR(
      RegisterCudaKernel(kernels, "learning_rate_schedule", TypeList<int64_t>{}, ScheduleKernel));
  OFL_RETURN_IF_ERROR(
      RegisterCudaKernel(kernels, "increment", TypeList<int32_t, int64_t>{}, IncrementKernel));
  return Status::Ok();
}

}  // namespace ofl

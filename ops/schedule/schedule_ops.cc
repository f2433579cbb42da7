// learning_rate_schedule and increment (see schedule.h for the contract).
#include <cmath>

#include "ops/common/infer_helpers.h"
#include "ops/common/kernel_helpers.h"
#include "ops/common/sbp_helpers.h"
#include "ops/schedule/schedule.h"

namespace ofl {

namespace {

Status CheckNonNegativeFloat(const OpView& op, const std::string& name) {
  const double value = op.attrs.GetFloat(name);
  OFL_CHECK_OR_RETURN(std::isfinite(value) && value >= 0)
      << op.Who() << " attribute " << name << ": expected a finite value >= 0, got " << value;
  return Status::Ok();
}

Status CheckNonNegativeInt(const OpView& op, const std::string& name) {
  const int64_t value = op.attrs.GetInt(name);
  OFL_CHECK_OR_RETURN(value >= 0) << op.Who() << " attribute " << name << ": expected a value >= 0, got "
                                  << value;
  return Status::Ok();
}

Status ScheduleKernel(KernelContext& ctx) {
  OFL_CHECK_OR_RETURN(ctx.in(0).NumElements() == 1 && ctx.out(0).NumElements() == 1)
      << "[" << ctx.op_name << "] cpu kernel: expected one-element pieces, got " << ctx.in(0).NumElements()
      << " in and " << ctx.out(0).NumElements() << " out";
  OFL_CHECK_OR_RETURN(ctx.in(0).dtype() == DType::kI64)
      << "[" << ctx.op_name << "] cpu kernel: expected step of dtype i64, got "
      << DTypeName(ctx.in(0).dtype());
  const int64_t step = ctx.in(0).As<int64_t>()[0];
  OFL_CHECK_OR_RETURN(step >= 1) << "[" << ctx.op_name << "] step: expected a 1-based step >= 1, got "
                                 << step;
  const double rate =
      ScheduledLearningRate(step, ctx.attr().GetFloat("learning_rate"), ctx.attr().GetInt("warmup_steps"),
                            ctx.attr().GetInt("decay_steps"), ctx.attr().GetFloat("min_learning_rate"));
  return DispatchOr(ctx, TypeList<float, double>{}, ctx.out(0).dtype(),
                    [&](auto tag) { ctx.out(0).As<decltype(tag)>()[0] = static_cast<decltype(tag)>(rate); });
}

OpSchema ScheduleSchema() {
  OpSchema schema;
  schema.name = "learning_rate_schedule";
  schema.doc =
      "learning rate of 1-based step t: learning_rate t / warmup_steps while t <= warmup_steps, then cosine "
      "from learning_rate to min_learning_rate over decay_steps (min_learning_rate after; learning_rate "
      "when decay_steps = 0)";
  schema.inputs = {{"step", "[] i64, the 1-based number of this update (>= 1)"}};
  schema.outputs = {{"learning_rate", "[] learning rate of this step, of attribute dtype"}};
  schema.attrs = {
      {"learning_rate", 0.0, true, "peak learning rate, reached at the end of warm-up (>= 0)"},
      {"warmup_steps", int64_t{0}, false, "steps of linear warm-up from 0 (>= 0; 0 = none)"},
      {"decay_steps", int64_t{0}, false, "steps of cosine decay after warm-up (>= 0; 0 = constant)"},
      {"min_learning_rate", 0.0, false, "learning rate at the end of the decay (0 <= it <= learning_rate)"},
      {"dtype", DType::kF32, false, "dtype of the output: f32 or f64 (that of the parameters it updates)"}};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_RETURN_IF_ERROR(ExpectRank(op, 0, 0));
    OFL_RETURN_IF_ERROR(ExpectDType(op, 0, DType::kI64));
    OFL_RETURN_IF_ERROR(CheckNonNegativeFloat(op, "learning_rate"));
    OFL_RETURN_IF_ERROR(CheckNonNegativeFloat(op, "min_learning_rate"));
    OFL_RETURN_IF_ERROR(CheckNonNegativeInt(op, "warmup_steps"));
    OFL_RETURN_IF_ERROR(CheckNonNegativeInt(op, "decay_steps"));
    const double peak = op.attrs.GetFloat("learning_rate");
    const double floor = op.attrs.GetFloat("min_learning_rate");
    OFL_CHECK_OR_RETURN(floor <= peak)
        << op.Who() << " attribute min_learning_rate: expected a value <= learning_rate (" << peak
        << "), got " << floor;
    const DType dtype = op.attrs.GetDType("dtype");
    OFL_CHECK_OR_RETURN(dtype == DType::kF32 || dtype == DType::kF64)
        << op.Who() << " attribute dtype: expected f32 or f64, got " << DTypeName(dtype);
    return std::vector<TensorDesc>{TensorDesc{Shape{}, dtype}};
  };
  // Only B: a [] tensor cannot be split and the schedule is nonlinear.
  schema.sbp = [](const OpView&) { return BroadcastOnlySignatures(1, 1); };
  schema.example = {
      {TensorDesc{Shape{}, DType::kI64}},
      {{"learning_rate", 1e-3}, {"warmup_steps", int64_t{100}}, {"decay_steps", int64_t{1000}}}};
  return schema;
}

using CounterTypes = TypeList<int32_t, int64_t>;

Status IncrementKernel(KernelContext& ctx) {
  return DispatchOr(ctx, CounterTypes{}, ctx.in(0).dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* counter = ctx.in(0).As<T>();
    for (int64_t i = 0; i < ctx.in(0).NumElements(); ++i) counter[i] = static_cast<T>(counter[i] + 1);
  });
}

OpSchema IncrementSchema() {
  OpSchema schema;
  schema.name = "increment";
  schema.doc =
      "counter += 1 in place (element-wise); advances the optimizer step once per training step, after "
      "every reader of the counter in that step";
  schema.inputs = {{"counter", "i32 or i64 tensor, updated in place"}};
  schema.mutated_inputs = {0};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    const DType dtype = op.in(0).dtype;
    OFL_CHECK_OR_RETURN(dtype == DType::kI32 || dtype == DType::kI64)
        << op.Who(0) << ": expected dtype i32 or i64, got " << DTypeName(dtype);
    return std::vector<TensorDesc>{};
  };
  // Element-wise: B, and S(k) on every axis.
  schema.sbp = [](const OpView& op) {
    std::vector<SbpSignature> list;
    list.push_back(
        SignatureBuilder(1, 0)
            .Note("B: cpu:0 and cpu:1 each hold the whole counter and increment their copies alike")
            .Build());
    for (int axis = 0; axis < op.in(0).shape.rank(); ++axis) {
      const std::string k = std::to_string(axis);
      list.push_back(SignatureBuilder(1, 0)
                         .Input(0, Sbp::Split(axis))
                         .Note("S(" + k + "): cpu:0 increments the first half of axis " + k +
                               ", cpu:1 the second; element-wise, so the halves are the whole result")
                         .Build());
    }
    return list;
  };
  schema.example = {{TensorDesc{Shape{}, DType::kI64}}, {}};
  return schema;
}

}  // namespace

Status RegisterScheduleOps(OpRegistry& ops, KernelRegistry& kernels) {
  OFL_RETURN_IF_ERROR(ops.Register(ScheduleSchema()));
  OFL_RETURN_IF_ERROR(kernels.RegisterForDTypes("learning_rate_schedule", DeviceType::kCPU, {DType::kI64},
                                                MakeFunctionKernel(ScheduleKernel)));
  OFL_RETURN_IF_ERROR(ops.Register(IncrementSchema()));
  return kernels.RegisterForDTypes("increment", DeviceType::kCPU, {DType::kI32, DType::kI64},
                                   MakeFunctionKernel(IncrementKernel));
}

}  // namespace ofl

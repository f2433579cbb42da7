// add_n: y = xs[0] + xs[1] + ... (same shapes); gradient accumulation and
// global-norm clipping sum many tensors with it.
#include <algorithm>

#include "oneflow_like/parallel.h"
#include "ops/common/infer_helpers.h"
#include "ops/layout/layout_internal.h"

namespace ofl {

namespace {

using AddNTypes = TypeList<float, double, Float16, BFloat16, int32_t, int64_t>;

// Sums block by block in a small accumulator (float for 16-bit floats), so
// each input is streamed once with a vectorisable loop.
template <typename T>
void AddN(const std::vector<const T*>& inputs, T* out, int64_t count) {
  using Acc = std::conditional_t<std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>, float, T>;
  constexpr int64_t kBlock = 1024;
  ParallelFor(count, int64_t{1} << 15, [&](int64_t begin, int64_t end) {
    Acc acc[kBlock];
    for (int64_t start = begin; start < end; start += kBlock) {
      const int64_t width = std::min(kBlock, end - start);
      for (int64_t i = 0; i < width; ++i) acc[i] = static_cast<Acc>(inputs[0][start + i]);
      for (size_t k = 1; k < inputs.size(); ++k) {
        const T* in = inputs[k] + start;
        for (int64_t i = 0; i < width; ++i) acc[i] += static_cast<Acc>(in[i]);
      }
      for (int64_t i = 0; i < width; ++i) out[start + i] = FromCompute<T>(acc[i]);
    }
  });
}

Status RunAddN(KernelContext& ctx) {
  const Blob& y = ctx.out(0);
  for (const TensorArg& input : ctx.inputs) {
    OFL_CHECK_OR_RETURN(input.blob.desc == y.desc)
        << "[" << ctx.op_name << "] cpu kernel: expected input pieces " << y.desc.ToString() << ", got "
        << input.blob.desc.ToString();
  }
  return DispatchOr(ctx, AddNTypes{}, y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    std::vector<const T*> inputs;
    for (const TensorArg& input : ctx.inputs) inputs.push_back(input.blob.As<T>());
    AddN(inputs, y.As<T>(), y.NumElements());
  });
}

OpSchema AddNSchema() {
  OpSchema schema;
  schema.name = "add_n";
  schema.doc = "y = xs[0] + xs[1] + ... (one or more tensors of one shape and dtype)";
  schema.inputs = {{"xs", "tensors to add, same shape and dtype"}};
  schema.outputs = {{"y", "their sum"}};
  schema.variadic_inputs = true;
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    const DType dtype = op.in(0).dtype;
    OFL_CHECK_OR_RETURN(IsFloatingPoint(dtype) || dtype == DType::kI32 || dtype == DType::kI64)
        << op.Who(0) << ": expected a numeric dtype (f32, f64, f16, bf16, i32, i64), got "
        << DTypeName(dtype);
    OFL_RETURN_IF_ERROR(ExpectAllSameDType(op));
    for (int i = 1; i < op.num_inputs(); ++i) OFL_RETURN_IF_ERROR(ExpectSameShape(op, 0, i));
    return std::vector<TensorDesc>{op.in(0)};
  };
  schema.sbp = [](const OpView& op) {
    std::vector<SbpSignature> list = SameAxesSignatures(op.num_inputs(), 1, op.in(0).shape.rank());
    AddPartialSignatures(list, op.num_inputs(), 1, op.in(0).dtype, /*with_max=*/false);
    return list;
  };
  schema.grad = [](GradContext& ctx) -> Status {
    for (size_t i = 0; i < ctx.inputs.size(); ++i) {
      if (ctx.needs_input_grad[i]) ctx.input_grads[i] = ctx.output_grads[0];
    }
    return Status::Ok();
  };
  schema.example = {{{Shape{4, 3}, DType::kF32}, {Shape{4, 3}, DType::kF32}, {Shape{4, 3}, DType::kF32}}, {}};
  return schema;
}

}  // namespace

Status RegisterAddNOp(OpRegistry& ops, KernelRegistry& kernels) {
  OFL_RETURN_IF_ERROR(ops.Register(AddNSchema()));
  return kernels.RegisterForDTypes("add_n", DeviceType::kCPU, DTypesOf(AddNTypes{}),
                                   MakeFunctionKernel(RunAddN));
}

}  // namespace ofl

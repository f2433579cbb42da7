// softmax and log_softmax over any axis, and their backward ops: schemas
// and registration. Kernels: softmax_loops.h, and dnnl_softmax.h for f32
// softmax_grad.
#include "ops/common/infer_helpers.h"
#include "ops/softmax/dnnl_softmax.h"
#include "ops/softmax/softmax.h"
#include "ops/softmax/softmax_loops.h"

namespace ofl {

namespace {

// ---- Schemas ---------------------------------------------------------------

StatusOr<int> SoftmaxAxis(const OpView& op) {
  return NormalizeAxis(op.Who() + " attribute axis", op.attrs.GetInt("axis"), op.in(0).shape.rank());
}

// Splitting any axis but the softmax axis keeps every line on one device.
std::vector<SbpSignature> LineSignatures(const OpView& op, bool linear_in_dy) {
  const int rank = op.in(0).shape.rank();
  const int axis = SoftmaxAxis(op).ValueOrThrow();
  const int num_inputs = op.num_inputs();
  std::vector<SbpSignature> list;
  AddUnique(list, SignatureBuilder(num_inputs, 1)
                      .Note("B: cpu:0 and cpu:1 both hold the operands whole and compute the whole result")
                      .Build());
  for (int k = 0; k < rank; ++k) {
    if (k == axis) continue;
    const std::string split = "S(" + std::to_string(k) + ")";
    AddUnique(list,
              SignatureBuilder(num_inputs, 1)
                  .AllInputs(Sbp::Split(k))
                  .AllOutputs(Sbp::Split(k))
                  .Note(split + ": cpu:0 holds the first half of axis " + std::to_string(k) +
                        " of every operand, cpu:1 the second; the lines along axis " + std::to_string(axis) +
                        " never cross the split, so each device normalises its own "
                        "lines and the halves of the result stay split the same way")
                  .Build());
  }
  if (linear_in_dy) {
    AddUnique(list,
              SignatureBuilder(num_inputs, 1)
                  .Input(1, Sbp::PartialSum())
                  .AllOutputs(Sbp::PartialSum())
                  .Note("P: dy = dy0 + dy1 with dy0 on cpu:0 and dy1 on cpu:1, y whole on both; dx is linear "
                        "in dy for a fixed y, so dx(dy0) + dx(dy1) == dx(dy) and dx is P")
                  .Build());
  }
  return list;
}

OpSchema ForwardSchema(const std::string& name, const std::string& doc, const std::string& grad_op) {
  OpSchema schema;
  schema.name = name;
  schema.doc = doc;
  schema.inputs = {{"x", "input, any rank >= 1"}};
  schema.outputs = {{"y", "result, shaped like x"}};
  schema.attrs = {{"axis", int64_t{-1}, false, "the axis normalised over (negative counts from the end)"}};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_RETURN_IF_ERROR(ExpectFloating(op, 0));
    OFL_RETURN_IF_ERROR(ExpectMinRank(op, 0, 1));
    OFL_RETURN_IF_ERROR(SoftmaxAxis(op).status());
    return std::vector<TensorDesc>{op.in(0)};
  };
  schema.sbp = [](const OpView& op) { return LineSignatures(op, false); };
  schema.grad = [grad_op](GradContext& ctx) -> Status {
    if (!ctx.needs_input_grad[0]) return Status::Ok();
    OFL_ASSIGN_OR_RETURN(ctx.input_grads[0], ctx.Emit1(grad_op, {ctx.outputs[0], ctx.output_grads[0]},
                                                       {{"axis", ctx.attr().GetInt("axis")}}));
    return Status::Ok();
  };
  schema.example = {{{Shape{4, 6}, DType::kF32}}, {{"axis", int64_t{-1}}}};
  return schema;
}

OpSchema GradSchema(const std::string& name, const std::string& doc) {
  OpSchema schema;
  schema.name = name;
  schema.doc = doc;
  schema.inputs = {{"y", "output of the forward op"}, {"dy", "gradient of y"}};
  schema.outputs = {{"dx", "gradient of the forward input, shaped like y"}};
  schema.attrs = {{"axis", int64_t{-1}, false, "the axis of the forward op"}};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_RETURN_IF_ERROR(ExpectFloating(op, 0));
    OFL_RETURN_IF_ERROR(ExpectMinRank(op, 0, 1));
    OFL_RETURN_IF_ERROR(ExpectSameDType(op, 0, 1));
    OFL_RETURN_IF_ERROR(ExpectSameShape(op, 0, 1));
    OFL_RETURN_IF_ERROR(SoftmaxAxis(op).status());
    return std::vector<TensorDesc>{op.in(0)};
  };
  schema.sbp = [](const OpView& op) { return LineSignatures(op, true); };
  schema.example = {{{Shape{4, 6}, DType::kF32}, {Shape{4, 6}, DType::kF32}}, {{"axis", int64_t{-1}}}};
  return schema;
}

// The loops for every dtype, except f32 softmax_grad on oneDNN (see
// dnnl_softmax.h for the measurements behind the split).
Status RegisterKernels(KernelRegistry& kernels, const std::string& op, bool log, bool backward) {
  std::vector<DType> loop_dtypes = DTypesOf(FloatTypes{});
  if (backward && !log) {
    OFL_RETURN_IF_ERROR(kernels.Register(KernelKey{op, DeviceType::kCPU, DType::kF32}, DnnlSoftmaxGradKernel()));
    loop_dtypes = {DType::kF64, DType::kF16, DType::kBF16};
  }
  return kernels.RegisterForDTypes(op, DeviceType::kCPU, loop_dtypes,
                                   MakeFunctionKernel([log, backward](KernelContext& ctx) {
                                     return backward ? LoopSoftmaxGrad(ctx, log) : LoopSoftmax(ctx, log);
                                   }));
}

}  // namespace

Status RegisterSoftmaxOps(OpRegistry& ops, KernelRegistry& kernels) {
  OFL_RETURN_IF_ERROR(ops.Register(ForwardSchema(
      "softmax", "y = exp(x - max) / sum(exp(x - max)) along `axis` (numerically stable)", "softmax_grad")));
  OFL_RETURN_IF_ERROR(RegisterKernels(kernels, "softmax", false, false));
  OFL_RETURN_IF_ERROR(ops.Register(
      ForwardSchema("log_softmax", "y = x - max - log(sum(exp(x - max))) along `axis`", "log_softmax_grad")));
  OFL_RETURN_IF_ERROR(RegisterKernels(kernels, "log_softmax", true, false));
  OFL_RETURN_IF_ERROR(ops.Register(GradSchema("softmax_grad", "dx = y * (dy - sum(dy * y)) along `axis`")));
  OFL_RETURN_IF_ERROR(RegisterKernels(kernels, "softmax_grad", false, true));
  OFL_RETURN_IF_ERROR(
      ops.Register(GradSchema("log_softmax_grad", "dx = dy - exp(y) * sum(dy) along `axis`")));
  OFL_RETURN_IF_ERROR(RegisterKernels(kernels, "log_softmax_grad", true, true));
  return RegisterCausalSoftmaxOps(ops, kernels);
}

}  // namespace ofl

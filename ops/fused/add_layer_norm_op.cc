// add_layer_norm: sum = x + residual, y = layer_norm(sum), in one op. The
// residual stream of a transformer block: the sum is both what the next
// block adds to and what this block normalises, so it is an output too.
//
// Mirrors ops/norm/layer_norm.cc: the same attrs (begin_norm_axis,
// epsilon), the same saved statistics (mean and inv_std, shaped
// x.shape[:begin_norm_axis], dtype of x), the same SBP signatures with
// residual split like x. The CPU kernel is add's element-wise loop (the
// sum rounded to the storage dtype, as add stores it) followed by
// layer_norm's own CPU kernel run on the stored sum (oneDNN for f32, the
// loops of ops/norm/layer_norm_loops.h otherwise), so its outputs equal
// add then layer_norm bit for bit.
#include <memory>
#include <string>

#include "oneflow_like/parallel.h"
#include "ops/common/kernel_helpers.h"
#include "ops/elementwise/functors.h"
#include "ops/fused/fused.h"
#include "ops/norm/dnnl_layer_norm.h"
#include "ops/norm/layer_norm_loops.h"
#include "ops/norm/norm_common.h"

namespace ofl {

namespace {

// Input and output positions.
constexpr int kX = 0, kResidual = 1, kWeight = 2, kBias = 3;
constexpr int kY = 0, kSum = 1, kMean = 2, kInvStd = 3;

StatusOr<int> BeginNormAxis(const OpView& op) {
  return NormalizeAxis(op.Who() + " attribute begin_norm_axis", op.attrs.GetInt("begin_norm_axis"),
                       op.in(kX).shape.rank());
}

StatusOr<std::vector<TensorDesc>> InferAddLayerNorm(const OpView& op) {
  OFL_RETURN_IF_ERROR(ExpectFloating(op, kX));
  OFL_RETURN_IF_ERROR(ExpectMinRank(op, kX, 1));
  for (int i : {kResidual, kWeight, kBias}) OFL_RETURN_IF_ERROR(ExpectSameDType(op, kX, i));
  OFL_RETURN_IF_ERROR(ExpectSameShape(op, kX, kResidual));
  OFL_ASSIGN_OR_RETURN(const int begin, BeginNormAxis(op));
  const Shape& shape = op.in(kX).shape;
  const Shape trailing = SubShape(shape, begin, shape.rank());
  OFL_RETURN_IF_ERROR(ExpectShape(op, kWeight, trailing, SliceText("x", begin, true)));
  OFL_RETURN_IF_ERROR(ExpectShape(op, kBias, trailing, SliceText("x", begin, true)));
  OFL_CHECK_OR_RETURN(op.attrs.GetFloat("epsilon") >= 0)
      << op.Who() << " attribute epsilon: expected a value >= 0, got " << op.attrs.GetFloat("epsilon");
  const TensorDesc statistics{SubShape(shape, 0, begin), op.in(kX).dtype};
  return std::vector<TensorDesc>{op.in(kX), op.in(kX), statistics, statistics};
}

// layer_norm's signatures: B, and S(k) for each leading (not normalised)
// axis k with x and residual split alike and weight and bias B. No Partial:
// layer_norm is not linear in its input.
std::vector<SbpSignature> AddLayerNormSignatures(const OpView& op) {
  const int begin = BeginNormAxis(op).ValueOrThrow();
  std::vector<SbpSignature> list;
  AddUnique(list, SignatureBuilder(4, 4)
                      .Note("B: cpu:0 and cpu:1 both hold every operand whole and compute the whole result")
                      .Build());
  for (int k = 0; k < begin; ++k) {
    const std::string s = std::to_string(k);
    AddUnique(list, SignatureBuilder(4, 4)
                        .Input(kX, Sbp::Split(k))
                        .Input(kResidual, Sbp::Split(k))
                        .AllOutputs(Sbp::Split(k))
                        .Note("S(" + s +
                              "): x and residual [4, 6] normalised over axis 1, split on axis 0: cpu:0 "
                              "holds rows 0-1 of x, residual, y, sum, mean and inv_std, cpu:1 rows 2-3 "
                              "(for axis " +
                              s +
                              " likewise); each row is summed and normalised whole on one device; "
                              "weight and bias are B")
                        .Build());
  }
  return list;
}

// With s = x + residual: ds = layer_norm_grad(dy, s, mean, inv_std, weight)
// + dsum (the sum output's own gradient), and dx = dresidual = ds;
// dweight, dbias = layer_norm_param_grad(dy, s, mean, inv_std). The saved
// sum output stands in for layer_norm's input, so nothing is recomputed.
Status AddLayerNormGrad(GradContext& ctx) {
  const AttrMap axis{{"begin_norm_axis", ctx.attr().GetInt("begin_norm_axis")}};
  const ValueRef dy = ctx.output_grads[kY];
  const ValueRef sum = ctx.outputs[kSum];
  const ValueRef mean = ctx.outputs[kMean];
  const ValueRef inv_std = ctx.outputs[kInvStd];
  if (ctx.needs_input_grad[kX] || ctx.needs_input_grad[kResidual]) {
    OFL_ASSIGN_OR_RETURN(ValueRef dnorm,
                         ctx.Emit1("layer_norm_grad", {dy, sum, mean, inv_std, ctx.inputs[kWeight]}, axis));
    OFL_ASSIGN_OR_RETURN(ValueRef dsum, ctx.Emit1("add", {dnorm, ctx.output_grads[kSum]}));
    if (ctx.needs_input_grad[kX]) ctx.input_grads[kX] = dsum;
    if (ctx.needs_input_grad[kResidual]) ctx.input_grads[kResidual] = dsum;
  }
  if (ctx.needs_input_grad[kWeight] || ctx.needs_input_grad[kBias]) {
    OFL_ASSIGN_OR_RETURN(std::vector<ValueRef> grads,
                         ctx.emitter->Emit("layer_norm_param_grad", {dy, sum, mean, inv_std}, axis));
    if (ctx.needs_input_grad[kWeight]) ctx.input_grads[kWeight] = grads[0];
    if (ctx.needs_input_grad[kBias]) ctx.input_grads[kBias] = grads[1];
  }
  return Status::Ok();
}

// add's loop, then layer_norm's CPU kernel on the stored sum. Holds its own
// oneDNN layer_norm kernel object, which caches the primitive per piece
// size as a layer_norm actor's kernel would.
class AddLayerNormKernel final : public Kernel {
 public:
  Status Compute(KernelContext& ctx) override {
    OFL_CHECK_OR_RETURN(ctx.inputs.size() == 4 && ctx.outputs.size() == 4)
        << "[" << ctx.op_name << "] cpu kernel: expected 4 inputs and 4 outputs, got " << ctx.inputs.size()
        << " and " << ctx.outputs.size();
    const int64_t count = ctx.in(kX).NumElements();
    OFL_CHECK_OR_RETURN(ctx.in(kResidual).NumElements() == count && ctx.out(kSum).NumElements() == count)
        << "[" << ctx.op_name << "] cpu kernel: expected residual and sum pieces of " << count
        << " elements (the x piece " << ctx.in(kX).shape().ToString() << "), got "
        << ctx.in(kResidual).shape().ToString() << " and " << ctx.out(kSum).shape().ToString();
    const DType dtype = ctx.in(kX).dtype();
    OFL_RETURN_IF_ERROR(DispatchOr(ctx, FloatTypes{}, dtype, [&](auto tag) {
      using T = decltype(tag);
      using C = ComputeType<T>;
      const T* x = ctx.in(kX).As<T>();
      const T* residual = ctx.in(kResidual).As<T>();
      T* sum = ctx.out(kSum).As<T>();
      // Exactly add's same-shape loop (ops/elementwise/broadcast_loop.h).
      ParallelFor(count, int64_t{1} << 14, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          sum[i] = FromCompute<T>(functors::Add{}(ToCompute<C>(x[i]), ToCompute<C>(residual[i])));
        }
      });
    }));
    // layer_norm(sum, weight, bias) -> (y, mean, inv_std), on the same attrs
    // (layer_norm reads begin_norm_axis and epsilon only).
    KernelContext norm;
    norm.op_name = ctx.op_name;
    norm.attrs = ctx.attrs;
    norm.stream = ctx.stream;
    norm.micro_batch = ctx.micro_batch;
    norm.micro_batches = ctx.micro_batches;
    norm.inputs = {ctx.outputs[kSum], ctx.inputs[kWeight], ctx.inputs[kBias]};
    norm.outputs = {ctx.outputs[kY], ctx.outputs[kMean], ctx.outputs[kInvStd]};
    if (dtype != DType::kF32) return LoopLayerNorm(norm);
    if (layer_norm_ == nullptr) layer_norm_ = DnnlLayerNormKernel()();
    return layer_norm_->Compute(norm);
  }

 private:
  std::unique_ptr<Kernel> layer_norm_;
};

}  // namespace

Status RegisterAddLayerNormOp(OpRegistry& ops, KernelRegistry& kernels) {
  OpSchema schema;
  schema.name = "add_layer_norm";
  schema.doc =
      "sum = x + residual, y = layer_norm(sum, weight, bias) over axes [begin_norm_axis, rank), in one pass "
      "over memory; equals add then layer_norm (y, mean, inv_std as layer_norm gives them), the sum being "
      "the "
      "residual stream a transformer block passes on";
  schema.inputs = {{"x", "input, rank >= 1"},
                   {"residual", "added to x, shaped and typed like x"},
                   {"weight", "scale (layer_norm's gamma), shaped x.shape[begin_norm_axis:]"},
                   {"bias", "shift (layer_norm's beta), shaped like weight"}};
  schema.outputs = {
      {"y", "layer_norm(x + residual), shaped like x"},
      {"sum", "x + residual rounded to x's dtype, shaped like x (saved for backward; has a gradient)"},
      {"mean", "per-row mean of sum, shaped x.shape[:begin_norm_axis] (saved for backward; no gradient)"},
      {"inv_std", "per-row 1 / sqrt(variance + epsilon) of sum, shaped like mean (saved; no gradient)"}};
  schema.attrs = {
      {"begin_norm_axis", int64_t{-1}, false, "first normalised axis (negative counts from the end)"},
      {"epsilon", 1e-5, false, "added to the variance before the square root"}};
  schema.infer = InferAddLayerNorm;
  schema.sbp = AddLayerNormSignatures;
  schema.grad = AddLayerNormGrad;
  const TensorDesc x{Shape{4, 6}, DType::kF32};
  const TensorDesc param{Shape{6}, DType::kF32};
  schema.example = {{x, x, param, param}, {}};
  OFL_RETURN_IF_ERROR(ops.Register(std::move(schema)));
  return kernels.RegisterForDTypes(
      "add_layer_norm", DeviceType::kCPU, DTypesOf(FloatTypes{}),
      []() -> std::unique_ptr<Kernel> { return std::make_unique<AddLayerNormKernel>(); });
}

}  // namespace ofl

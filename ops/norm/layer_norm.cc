// layer_norm over axes [begin_norm_axis, rank), and its two backward ops:
// layer_norm_grad (dx) and layer_norm_param_grad (dgamma, dbeta). Schemas
// and registration; kernels: dnnl_layer_norm.h (f32 forward) and
// layer_norm_loops.h (the rest).
#include "ops/norm/dnnl_layer_norm.h"
#include "ops/norm/layer_norm_loops.h"
#include "ops/norm/norm.h"
#include "ops/norm/norm_common.h"

namespace ofl {

namespace {

StatusOr<int> BeginNormAxis(const OpView& op, int x_index) {
  return NormalizeAxis(op.Who() + " attribute begin_norm_axis", op.attrs.GetInt("begin_norm_axis"),
                       op.in(x_index).shape.rank());
}

// x (input x_index) is floating, rank >= 1; every input shares its dtype.
// Returns begin_norm_axis resolved against x.
StatusOr<int> CheckX(const OpView& op, int x_index) {
  OFL_RETURN_IF_ERROR(ExpectFloating(op, x_index));
  OFL_RETURN_IF_ERROR(ExpectMinRank(op, x_index, 1));
  for (int i = 0; i < op.num_inputs(); ++i) {
    if (i != x_index) OFL_RETURN_IF_ERROR(ExpectSameDType(op, x_index, i));
  }
  return BeginNormAxis(op, x_index);
}

// mean and inv_std (inputs first, first + 1) have x.shape[:begin], x being input x_index.
Status CheckStatistics(const OpView& op, int x_index, int first, int begin) {
  const Shape leading = SubShape(op.in(x_index).shape, 0, begin);
  for (int i = first; i < first + 2; ++i) {
    OFL_RETURN_IF_ERROR(ExpectShape(op, i, leading, SliceText("x", begin, false)));
  }
  return Status::Ok();
}

const char* kBroadcastNote = "B: cpu:0 and cpu:1 both hold every operand whole and compute the whole result";

std::string LeadingSplitNote(int k, const std::string& tail) {
  return "S(" + std::to_string(k) +
         "): x [4, 6] normalised over axis 1, split on axis 0: cpu:0 holds rows 0-1 "
         "of every row-shaped operand, cpu:1 rows 2-3 (for axis " +
         std::to_string(k) + " likewise); each row is normalised whole on one device" + tail;
}

std::vector<SbpSignature> LayerNormSignatures(const OpView& op) {
  const int begin = BeginNormAxis(op, 0).ValueOrThrow();
  std::vector<SbpSignature> list;
  AddUnique(list, SignatureBuilder(3, 3).Note(kBroadcastNote).Build());
  for (int k = 0; k < begin; ++k) {
    AddUnique(list, SignatureBuilder(3, 3)
                        .Input(0, Sbp::Split(k))
                        .AllOutputs(Sbp::Split(k))
                        .Note(LeadingSplitNote(k,
                                               "; gamma and beta are B; y, mean and inv_std come out split "
                                               "the same way"))
                        .Build());
  }
  return list;
}

std::vector<SbpSignature> LayerNormGradSignatures(const OpView& op) {
  const int begin = BeginNormAxis(op, 1).ValueOrThrow();
  std::vector<SbpSignature> list;
  AddUnique(list, SignatureBuilder(5, 1).Note(kBroadcastNote).Build());
  for (int k = 0; k < begin; ++k) {
    AddUnique(list, SignatureBuilder(5, 1)
                        .Input(0, Sbp::Split(k))
                        .Input(1, Sbp::Split(k))
                        .Input(2, Sbp::Split(k))
                        .Input(3, Sbp::Split(k))
                        .Output(0, Sbp::Split(k))
                        .Note(LeadingSplitNote(k, " (dy, x, mean, inv_std; gamma B), so dx is split too"))
                        .Build());
  }
  const std::string linear =
      " whole on both; dx is linear in g = dy * gamma, so the results of the two "
      "devices sum to dx";
  AddUnique(list, SignatureBuilder(5, 1)
                      .Input(0, Sbp::PartialSum())
                      .Output(0, Sbp::PartialSum())
                      .Note("P: dy = dy0 + dy1 on cpu:0 and cpu:1, the other operands" + linear)
                      .Build());
  AddUnique(list, SignatureBuilder(5, 1)
                      .Input(4, Sbp::PartialSum())
                      .Output(0, Sbp::PartialSum())
                      .Note("P: gamma = gamma0 + gamma1 on cpu:0 and cpu:1, the other operands" + linear)
                      .Build());
  return list;
}

std::vector<SbpSignature> LayerNormParamGradSignatures(const OpView& op) {
  const int begin = BeginNormAxis(op, 1).ValueOrThrow();
  const int rank = op.in(1).shape.rank();
  std::vector<SbpSignature> list;
  AddUnique(list, SignatureBuilder(4, 2).Note(kBroadcastNote).Build());
  for (int k = 0; k < begin; ++k) {
    AddUnique(list,
              SignatureBuilder(4, 2)
                  .AllInputs(Sbp::Split(k))
                  .AllOutputs(Sbp::PartialSum())
                  .Note(LeadingSplitNote(k,
                                         "; dgamma and dbeta sum over rows, so each device sums its own "
                                         "rows and the two partial sums add up: P"))
                  .Build());
  }
  for (int k = begin; k < rank; ++k) {
    AddUnique(list,
              SignatureBuilder(4, 2)
                  .Input(0, Sbp::Split(k))
                  .Input(1, Sbp::Split(k))
                  .AllOutputs(Sbp::Split(k - begin))
                  .Note("S(" + std::to_string(k) +
                        "): x [4, 6] normalised over axis 1, split on axis 1: "
                        "cpu:0 holds columns 0-2 of dy and x, cpu:1 columns 3-5, mean and inv_std B; each "
                        "column of dgamma and dbeta needs only its own column, so they come out S(" +
                        std::to_string(k - begin) + ")")
                  .Build());
  }
  AddUnique(list,
            SignatureBuilder(4, 2)
                .Input(0, Sbp::PartialSum())
                .AllOutputs(Sbp::PartialSum())
                .Note("P: dy = dy0 + dy1 on cpu:0 and cpu:1, x, mean and inv_std whole on both; dgamma and "
                      "dbeta are linear in dy, so the results of the two devices sum to them")
                .Build());
  return list;
}

OpSchema LayerNormSchema() {
  OpSchema schema;
  schema.name = "layer_norm";
  schema.doc = "y = (x - mean) * inv_std * gamma + beta, mean and variance over axes [begin_norm_axis, rank)";
  schema.inputs = {{"x", "input, rank >= 1"},
                   {"gamma", "scale, shaped x.shape[begin_norm_axis:]"},
                   {"beta", "shift, shaped x.shape[begin_norm_axis:]"}};
  schema.outputs = {
      {"y", "result, shaped like x"},
      {"mean", "per-row mean, shaped x.shape[:begin_norm_axis] (saved for backward; no gradient)"},
      {"inv_std", "per-row 1 / sqrt(variance + epsilon), shaped like mean (saved; no gradient)"}};
  schema.attrs = {
      {"begin_norm_axis", int64_t{-1}, false, "first normalised axis (negative counts from the end)"},
      {"epsilon", 1e-5, false, "added to the variance before the square root"}};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_ASSIGN_OR_RETURN(const int begin, CheckX(op, 0));
    const Shape& shape = op.in(0).shape;
    const Shape trailing = SubShape(shape, begin, shape.rank());
    OFL_RETURN_IF_ERROR(ExpectShape(op, 1, trailing, SliceText("x", begin, true)));
    OFL_RETURN_IF_ERROR(ExpectShape(op, 2, trailing, SliceText("x", begin, true)));
    OFL_CHECK_OR_RETURN(op.attrs.GetFloat("epsilon") >= 0)
        << op.Who() << " attribute epsilon: expected a value >= 0, got " << op.attrs.GetFloat("epsilon");
    const TensorDesc statistics{SubShape(shape, 0, begin), op.in(0).dtype};
    return std::vector<TensorDesc>{op.in(0), statistics, statistics};
  };
  schema.sbp = LayerNormSignatures;
  schema.grad = [](GradContext& ctx) -> Status {
    const AttrMap axis{{"begin_norm_axis", ctx.attr().GetInt("begin_norm_axis")}};
    const ValueRef dy = ctx.output_grads[0];
    const ValueRef x = ctx.inputs[0];
    const ValueRef mean = ctx.outputs[1];
    const ValueRef inv_std = ctx.outputs[2];
    if (ctx.needs_input_grad[0]) {
      OFL_ASSIGN_OR_RETURN(ctx.input_grads[0],
                           ctx.Emit1("layer_norm_grad", {dy, x, mean, inv_std, ctx.inputs[1]}, axis));
    }
    if (ctx.needs_input_grad[1] || ctx.needs_input_grad[2]) {
      OFL_ASSIGN_OR_RETURN(std::vector<ValueRef> grads,
                           ctx.emitter->Emit("layer_norm_param_grad", {dy, x, mean, inv_std}, axis));
      if (ctx.needs_input_grad[1]) ctx.input_grads[1] = grads[0];
      if (ctx.needs_input_grad[2]) ctx.input_grads[2] = grads[1];
    }
    return Status::Ok();
  };
  schema.example = {{{Shape{4, 6}, DType::kF32}, {Shape{6}, DType::kF32}, {Shape{6}, DType::kF32}}, {}};
  return schema;
}

OpSchema LayerNormGradSchema() {
  OpSchema schema;
  schema.name = "layer_norm_grad";
  schema.doc =
      "dx of layer_norm: inv_std * (g - mean(g) - xhat * mean(g * xhat)), g = dy * gamma, "
      "xhat = (x - mean) * inv_std, means over the normalised axes";
  schema.inputs = {{"dy", "gradient of y"},
                   {"x", "forward input"},
                   {"mean", "forward mean output"},
                   {"inv_std", "forward inv_std output"},
                   {"gamma", "forward scale"}};
  schema.outputs = {{"dx", "gradient of x"}};
  schema.attrs = {{"begin_norm_axis", int64_t{-1}, false, "begin_norm_axis of the forward op"}};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_ASSIGN_OR_RETURN(const int begin, CheckX(op, 1));
    const Shape& shape = op.in(1).shape;
    OFL_RETURN_IF_ERROR(ExpectSameShape(op, 1, 0));
    OFL_RETURN_IF_ERROR(CheckStatistics(op, 1, 2, begin));
    OFL_RETURN_IF_ERROR(
        ExpectShape(op, 4, SubShape(shape, begin, shape.rank()), SliceText("x", begin, true)));
    return std::vector<TensorDesc>{op.in(1)};
  };
  schema.sbp = LayerNormGradSignatures;
  schema.example = {{{Shape{4, 6}, DType::kF32},
                     {Shape{4, 6}, DType::kF32},
                     {Shape{4}, DType::kF32},
                     {Shape{4}, DType::kF32},
                     {Shape{6}, DType::kF32}},
                    {}};
  return schema;
}

OpSchema LayerNormParamGradSchema() {
  OpSchema schema;
  schema.name = "layer_norm_param_grad";
  schema.doc = "dgamma = sum over rows of dy * (x - mean) * inv_std, dbeta = sum over rows of dy";
  schema.inputs = {{"dy", "gradient of y"},
                   {"x", "forward input"},
                   {"mean", "forward mean output"},
                   {"inv_std", "forward inv_std output"}};
  schema.outputs = {{"dgamma", "gradient of gamma, shaped x.shape[begin_norm_axis:]"},
                    {"dbeta", "gradient of beta, shaped like dgamma"}};
  schema.attrs = {{"begin_norm_axis", int64_t{-1}, false, "begin_norm_axis of the forward op"}};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_ASSIGN_OR_RETURN(const int begin, CheckX(op, 1));
    OFL_RETURN_IF_ERROR(ExpectSameShape(op, 1, 0));
    OFL_RETURN_IF_ERROR(CheckStatistics(op, 1, 2, begin));
    const TensorDesc param{SubShape(op.in(1).shape, begin, op.in(1).shape.rank()), op.in(1).dtype};
    return std::vector<TensorDesc>{param, param};
  };
  schema.sbp = LayerNormParamGradSignatures;
  schema.example = {{{Shape{4, 6}, DType::kF32},
                     {Shape{4, 6}, DType::kF32},
                     {Shape{4}, DType::kF32},
                     {Shape{4}, DType::kF32}},
                    {}};
  return schema;
}

}  // namespace

Status RegisterLayerNormOps(OpRegistry& ops, KernelRegistry& kernels) {
  const std::vector<DType> loop_dtypes = {DType::kF64, DType::kF16, DType::kBF16};
  OFL_RETURN_IF_ERROR(ops.Register(LayerNormSchema()));
  OFL_RETURN_IF_ERROR(kernels.Register(KernelKey{"layer_norm", DeviceType::kCPU, DType::kF32}, DnnlLayerNormKernel()));
  OFL_RETURN_IF_ERROR(
      kernels.RegisterForDTypes("layer_norm", DeviceType::kCPU, loop_dtypes, MakeFunctionKernel(LoopLayerNorm)));
  const std::vector<DType> floats = DTypesOf(FloatTypes{});
  OFL_RETURN_IF_ERROR(ops.Register(LayerNormGradSchema()));
  OFL_RETURN_IF_ERROR(
      kernels.RegisterForDTypes("layer_norm_grad", DeviceType::kCPU, floats, MakeFunctionKernel(LoopLayerNormGrad)));
  OFL_RETURN_IF_ERROR(ops.Register(LayerNormParamGradSchema()));
  OFL_RETURN_IF_ERROR(kernels.RegisterForDTypes("layer_norm_param_grad", DeviceType::kCPU, floats,
                                                MakeFunctionKernel(LoopLayerNormParamGrad)));
  return Status::Ok();
}

}  // namespace ofl

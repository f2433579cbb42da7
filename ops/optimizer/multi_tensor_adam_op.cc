// multi_tensor_adam_update: schema, SBP signatures and CPU kernel (the layout
// and the mutated-inputs constraint are described in multi_tensor_adam.h).
//
// The CPU kernel runs adam_update's own CPU kernel on each tensor in turn:
// every element is updated by the very code of adam_update, so the results
// are bit-for-bit those of N adam_update ops. On a CPU there is no launch
// overhead to save by fusing, so nothing is lost.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "ops/common/infer_helpers.h"
#include "ops/optimizer/adam_attrs.h"
#include "ops/optimizer/multi_tensor_adam.h"

namespace ofl {

namespace {

constexpr const char* kOp = "multi_tensor_adam_update";
const char* const kGroupNames[MultiTensorAdamLayout::kGroups] = {"params", "grads", "ms", "vs"};

StatusOr<std::vector<TensorDesc>> InferMultiTensorAdam(const OpView& op) {
  OFL_ASSIGN_OR_RETURN(const MultiTensorAdamLayout layout,
                       MultiTensorAdamLayout::For(op.op, op.num_inputs()));
  const DType dtype = op.in(layout.Param(0)).dtype;
  OFL_CHECK_OR_RETURN(dtype == DType::kF32 || dtype == DType::kF64)
      << op.Who() << " params[0].dtype=" << DTypeName(dtype) << " must be f32 or f64";
  for (int i = 0; i < layout.num_tensors; ++i) {
    const TensorDesc& param = op.in(layout.Param(i));
    const int group_inputs[MultiTensorAdamLayout::kGroups] = {layout.Param(i), layout.Grad(i), layout.M(i),
                                                              layout.V(i)};
    for (int group = 0; group < MultiTensorAdamLayout::kGroups; ++group) {
      const TensorDesc& tensor = op.in(group_inputs[group]);
      const std::string name = std::string(kGroupNames[group]) + "[" + std::to_string(i) + "]";
      OFL_CHECK_OR_RETURN(tensor.dtype == dtype)
          << op.Who() << " " << name << ".dtype=" << DTypeName(tensor.dtype)
          << " must equal params[0].dtype=" << DTypeName(dtype);
      OFL_CHECK_OR_RETURN(tensor.shape == param.shape)
          << op.Who() << " " << name << ".shape=" << tensor.shape.ToString() << " must equal params[" << i
          << "].shape=" << param.shape.ToString();
    }
  }
  const TensorDesc& learning_rate = op.in(MultiTensorAdamLayout::kLearningRate);
  OFL_RETURN_IF_ERROR(ExpectRank(op, MultiTensorAdamLayout::kLearningRate, 0));
  OFL_CHECK_OR_RETURN(learning_rate.dtype == dtype)
      << op.Who() << " learning_rate.dtype=" << DTypeName(learning_rate.dtype)
      << " must equal params[0].dtype=" << DTypeName(dtype);
  OFL_RETURN_IF_ERROR(ExpectRank(op, MultiTensorAdamLayout::kStep, 0));
  OFL_RETURN_IF_ERROR(ExpectDType(op, MultiTensorAdamLayout::kStep, DType::kI64));
  OFL_RETURN_IF_ERROR(CheckAdamAttrs(op));
  return std::vector<TensorDesc>{};
}

// B, and S(k) on every tensor for each axis k that every param has, with
// learning_rate and step B: the update is element-wise.
std::vector<SbpSignature> MultiTensorAdamSignatures(const OpView& op) {
  std::vector<SbpSignature> list;
  list.push_back(SignatureBuilder(op.num_inputs(), 0)
                     .Note("B: cpu:0 and cpu:1 each hold every param, grad and state whole (data parallel, "
                           "after the gradient all-reduce) and apply the same updates to their copies")
                     .Build());
  StatusOr<MultiTensorAdamLayout> layout = MultiTensorAdamLayout::For(op.op, op.num_inputs());
  if (!layout.ok()) return list;
  int min_rank = op.in(layout.value().Param(0)).shape.rank();
  for (int i = 1; i < layout.value().num_tensors; ++i) {
    min_rank = std::min(min_rank, op.in(layout.value().Param(i)).shape.rank());
  }
  for (int axis = 0; axis < min_rank; ++axis) {
    const std::string k = std::to_string(axis);
    SignatureBuilder builder(op.num_inputs(), 0);
    for (int input = MultiTensorAdamLayout::kFirstTensor; input < op.num_inputs(); ++input) {
      builder.Input(input, Sbp::Split(axis));
    }
    builder.Note("S(" + k + "): cpu:0 holds the first half of axis " + k +
                 " of every param, grad and state, cpu:1 the second (model-parallel variables or sharded "
                 "optimizer state); learning_rate and step are B; the update is element-wise, so each half "
                 "is updated on its own");
    list.push_back(builder.Build());
  }
  return list;
}

// Checks what adam_update's kernel would check per tensor, up front, so that
// a bad piece is reported under its own name and before any tensor is updated.
Status CheckCpuPieces(const KernelContext& ctx, const MultiTensorAdamLayout& layout) {
  for (int i = 0; i < layout.num_tensors; ++i) {
    const int64_t count = ctx.in(layout.Param(i)).NumElements();
    const int group_inputs[3] = {layout.Grad(i), layout.M(i), layout.V(i)};
    for (int group = 0; group < 3; ++group) {
      OFL_CHECK_OR_RETURN(ctx.in(group_inputs[group]).NumElements() == count)
          << "[" << ctx.op_name << "] cpu kernel: expected a " << kGroupNames[group + 1] << "[" << i
          << "] piece of " << count << " elements (the params[" << i << "] piece), got "
          << ctx.in(group_inputs[group]).NumElements();
    }
  }
  OFL_CHECK_OR_RETURN(ctx.in(MultiTensorAdamLayout::kLearningRate).NumElements() == 1 &&
                      ctx.in(MultiTensorAdamLayout::kStep).NumElements() == 1)
      << "[" << ctx.op_name << "] cpu kernel: expected one-element learning_rate and step pieces, got "
      << ctx.in(MultiTensorAdamLayout::kLearningRate).NumElements() << " and "
      << ctx.in(MultiTensorAdamLayout::kStep).NumElements();
  OFL_CHECK_OR_RETURN(ctx.in(MultiTensorAdamLayout::kStep).dtype() == DType::kI64)
      << "[" << ctx.op_name << "] cpu kernel: expected step of dtype i64, got "
      << DTypeName(ctx.in(MultiTensorAdamLayout::kStep).dtype());
  const int64_t step = ctx.in(MultiTensorAdamLayout::kStep).As<int64_t>()[0];
  OFL_CHECK_OR_RETURN(step >= 1) << "[" << ctx.op_name << "] step: expected a 1-based step >= 1, got "
                                 << step;
  return Status::Ok();
}

// Runs `adam_update` (adam_update's CPU kernel for this dtype) on each tensor.
Status MultiTensorAdamCpu(KernelContext& ctx, const KernelFactory& adam_update) {
  OFL_ASSIGN_OR_RETURN(const MultiTensorAdamLayout layout,
                       MultiTensorAdamLayout::For(ctx.op_name, static_cast<int>(ctx.inputs.size())));
  OFL_RETURN_IF_ERROR(CheckCpuPieces(ctx, layout));
  std::unique_ptr<Kernel> kernel = adam_update();
  for (int i = 0; i < layout.num_tensors; ++i) {
    KernelContext one;
    one.op_name = ctx.op_name;  // errors keep naming this op
    one.attrs = ctx.attrs;      // the same attribute names and meanings as adam_update's
    one.inputs = {ctx.inputs[layout.Param(i)],
                  ctx.inputs[layout.Grad(i)],
                  ctx.inputs[layout.M(i)],
                  ctx.inputs[layout.V(i)],
                  ctx.inputs[MultiTensorAdamLayout::kLearningRate],
                  ctx.inputs[MultiTensorAdamLayout::kStep]};
    one.stream = ctx.stream;
    one.micro_batch = ctx.micro_batch;
    one.micro_batches = ctx.micro_batches;
    OFL_RETURN_IF_ERROR(kernel->Compute(one));
  }
  return Status::Ok();
}

OpSchema MultiTensorAdamSchema() {
  OpSchema schema;
  schema.name = kOp;
  schema.doc =
      "adam_update (Adam/AdamW, same attributes and formula, bit-for-bit the same per element) applied in "
      "place to N params with their grads and moments, in one CUDA kernel launch; inputs: learning_rate, "
      "step, N params, N grads, N ms, N vs. Not yet emitted by the compiler: OpSchema::mutated_inputs "
      "cannot name inputs whose positions depend on N, so the in-place writes to params, ms and vs are "
      "not declared";
  schema.inputs = {{"learning_rate", "[] tensor of the params' dtype"},
                   {"step", "[] i64 tensor, the 1-based number of this update (bias correction)"},
                   {"tensors",
                    "N params (f32 or f64, one dtype, updated in place), then N grads, N ms and N vs "
                    "(updated in place), tensor i of each group shaped like params[i]"}};
  schema.variadic_inputs = true;
  // mutated_inputs stays empty: see the constraint in multi_tensor_adam.h.
  schema.attrs = {{"beta1", 0.9, false, "decay of the first moment, in [0, 1)"},
                  {"beta2", 0.999, false, "decay of the second moment, in [0, 1)"},
                  {"epsilon", 1e-8, false, "added to the denominator (>= 0)"},
                  {"weight_decay", 0.0, false, "weight decay (>= 0)"},
                  {"decoupled_weight_decay", false, false,
                   "false: L2 added to the gradient (Adam); true: param shrunk by lr wd first (AdamW)"}};
  schema.infer = InferMultiTensorAdam;
  schema.sbp = MultiTensorAdamSignatures;
  const TensorDesc matrix{Shape{4, 3}, DType::kF32};
  const TensorDesc vector{Shape{5}, DType::kF32};
  schema.example = {{TensorDesc{Shape{}, DType::kF32}, TensorDesc{Shape{}, DType::kI64}, matrix, vector,
                     matrix, vector, matrix, vector, matrix, vector},
                    {{"decoupled_weight_decay", true}, {"weight_decay", 0.01}}};
  return schema;
}

}  // namespace

StatusOr<MultiTensorAdamLayout> MultiTensorAdamLayout::For(const std::string& op, int num_inputs) {
  const int tensors = num_inputs - kFirstTensor;
  OFL_CHECK_OR_RETURN(tensors >= kGroups && tensors % kGroups == 0)
      << "[" << op << "] inputs: expected 2 + 4 N with N >= 1 (learning_rate, step, then N params, N grads, "
      << "N ms, N vs), got " << num_inputs;
  MultiTensorAdamLayout layout;
  layout.num_tensors = tensors / kGroups;
  return layout;
}

Status RegisterMultiTensorAdamOp(OpRegistry& ops, KernelRegistry& kernels) {
  OFL_RETURN_IF_ERROR(ops.Register(MultiTensorAdamSchema()));
  for (DType dtype : {DType::kF32, DType::kF64}) {
    OFL_ASSIGN_OR_RETURN(KernelFactory adam_update,
                         kernels.Find(KernelKey{"adam_update", DeviceType::kCPU, dtype}));
    OFL_RETURN_IF_ERROR(kernels.Register(KernelKey{kOp, DeviceType::kCPU, dtype},
                                         MakeFunctionKernel([adam_update](KernelContext& ctx) {
                                           return MultiTensorAdamCpu(ctx, adam_update);
                                         })));
  }
  return Status::Ok();
}

}  // namespace ofl

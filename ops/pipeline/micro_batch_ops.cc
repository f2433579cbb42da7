// unpack, pack, repeat, acc and delay (see pipeline.h for the contract).
#include <chrono>
#include <cstring>
#include <thread>

#include "ops/common/infer_helpers.h"
#include "ops/common/kernel_helpers.h"
#include "ops/layout/layout_internal.h"
#include "ops/pipeline/pipeline.h"
#include "ops/pipeline/pipeline_internal.h"
#include "sbp/signature.h"

namespace ofl {

namespace {
constexpr const char* kMicroBatches = "micro_batches";
}  // namespace

StatusOr<int64_t> MicroBatchOf(const KernelContext& ctx, const std::string& backend) {
  const int64_t micro_batches = ctx.attr().GetInt(kMicroBatches);
  OFL_CHECK_OR_RETURN(ctx.micro_batch >= 0 && ctx.micro_batch < micro_batches)
      << "[" << ctx.op_name << "] " << backend << " kernel: expected a micro-batch index in [0, "
      << micro_batches << "), got " << ctx.micro_batch;
  return ctx.micro_batch;
}

StatusOr<MicroBatchRows> MicroBatchRowsOf(const KernelContext& ctx, const std::string& backend, bool unpack) {
  MicroBatchRows result;
  OFL_ASSIGN_OR_RETURN(result.micro, MicroBatchOf(ctx, backend));
  result.micro_batches = ctx.attr().GetInt(kMicroBatches);
  const TensorArg& micro_side = unpack ? ctx.outputs[0] : ctx.inputs[0];
  const TensorArg& batch_side = unpack ? ctx.inputs[0] : ctx.outputs[0];
  result.rows = micro_side.blob.shape()[0];
  result.row_bytes = result.rows == 0 ? 0 : static_cast<int64_t>(micro_side.blob.ByteSize()) / result.rows;
  // Logical micro-batch row r is logical mini-batch row r * M + micro.
  result.first = micro_side.offset[0] * result.micro_batches + result.micro - batch_side.offset[0];
  // The map is increasing in r, so the first row outside [0, batch_rows)
  // is row 0 or the first one past the end.
  const int64_t batch_rows = batch_side.blob.shape()[0];
  int64_t outside = result.rows;
  if (result.first < 0 || result.first >= batch_rows) {
    outside = 0;
  } else {
    outside = (batch_rows - result.first + result.micro_batches - 1) / result.micro_batches;
  }
  if (outside < result.rows) {
    const int64_t row = micro_side.offset[0] + outside;
    const int64_t other = result.first + outside * result.micro_batches + batch_side.offset[0];
    const int64_t piece_begin = batch_side.offset[0], piece_end = batch_side.offset[0] + batch_rows;
    const std::string groups = ") (pieces of the batch axis must hold whole groups of " +
                               std::to_string(result.micro_batches) + " rows)";
    if (unpack) {
      return ErrorBuilder() << "[" << ctx.op_name << "] " << backend << " kernel: output row " << row
                            << " of micro-batch " << result.micro << " reads input row " << other
                            << ", outside the input piece [" << piece_begin << ", " << piece_end << groups;
    }
    return ErrorBuilder() << "[" << ctx.op_name << "] " << backend << " kernel: input row " << row
                          << " of micro-batch " << result.micro << " goes to output row " << other
                          << ", outside the output piece [" << piece_begin << ", " << piece_end << groups;
  }
  return result;
}

namespace {

AttrDef MicroBatchesAttr() {
  return {kMicroBatches, int64_t{1}, true, "number of micro-batches M per step (>= 1)"};
}

Status CheckMicroBatches(const OpView& op) {
  const int64_t micro_batches = op.attrs.GetInt(kMicroBatches);
  OFL_CHECK_OR_RETURN(micro_batches >= 1)
      << op.Who() << " attribute micro_batches: expected a value >= 1, got " << micro_batches;
  return Status::Ok();
}

// Identity-like signatures (B, S(k), P(sum), P(max)) of a one-in one-out op
// whose output has the input's axes.
std::vector<SbpSignature> PassThroughSignatures(const OpView& op) {
  std::vector<SbpSignature> list = SameAxesSignatures(1, 1, op.in(0).shape.rank());
  AddPartialSignatures(list, 1, 1, op.in(0).dtype, /*with_max=*/true);
  return list;
}

// unpack and pack: like PassThroughSignatures, but S(0) only when every piece
// of the batch axis holds whole groups of M rows (so each device keeps the
// rows of each micro-batch it already has); `batch_rows` is the extent of
// the longer (mini-batch) side.
std::vector<SbpSignature> StridedBatchSignatures(const OpView& op, int64_t batch_rows) {
  const int64_t micro_batches = op.attrs.GetInt(kMicroBatches);
  std::vector<SbpSignature> list;
  for (const SbpSignature& signature : PassThroughSignatures(op)) {
    const Sbp& in = signature.inputs[0];
    if (in.IsSplit() && in.axis == 0 &&
        (op.split_parts <= 0 || batch_rows % (op.split_parts * micro_batches) != 0)) {
      continue;
    }
    list.push_back(signature);
  }
  return list;
}

Status UnpackKernel(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(const MicroBatchRows rows, MicroBatchRowsOf(ctx, "cpu", /*unpack=*/true));
  auto* dst = static_cast<char*>(ctx.out(0).data);
  const auto* src = static_cast<const char*>(ctx.in(0).data);
  for (int64_t row = 0; row < rows.rows; ++row) {
    std::memcpy(dst + row * rows.row_bytes, src + (rows.first + row * rows.micro_batches) * rows.row_bytes,
                rows.row_bytes);
  }
  return Status::Ok();
}

Status PackKernel(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(const MicroBatchRows rows, MicroBatchRowsOf(ctx, "cpu", /*unpack=*/false));
  if (rows.micro == 0) std::memset(ctx.out(0).data, 0, ctx.out(0).ByteSize());
  auto* dst = static_cast<char*>(ctx.out(0).data);
  const auto* src = static_cast<const char*>(ctx.in(0).data);
  for (int64_t row = 0; row < rows.rows; ++row) {
    std::memcpy(dst + (rows.first + row * rows.micro_batches) * rows.row_bytes, src + row * rows.row_bytes,
                rows.row_bytes);
  }
  return Status::Ok();
}

Status AccKernel(KernelContext& ctx) {
  OFL_ASSIGN_OR_RETURN(const int64_t micro, MicroBatchOf(ctx, "cpu"));
  const Blob& x = ctx.in(0);
  const Blob& y = ctx.out(0);
  if (micro == 0) {
    std::memcpy(y.data, x.data, x.ByteSize());
    return Status::Ok();
  }
  return DispatchOr(ctx, NumericTypes{}, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    using C = std::conditional_t<std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>, float, T>;
    const T* in = x.As<T>();
    T* out = y.As<T>();
    for (int64_t i = 0; i < x.NumElements(); ++i) {
      out[i] = FromCompute<T>(ToCompute<C>(out[i]) + ToCompute<C>(in[i]));
    }
  });
}

Status CopyKernel(KernelContext& ctx) {
  std::memcpy(ctx.out(0).data, ctx.in(0).data, ctx.in(0).ByteSize());
  return Status::Ok();
}

Status DelayKernel(KernelContext& ctx) {
  const int64_t microseconds = ctx.attr().GetInt("microseconds");
  if (microseconds > 0) std::this_thread::sleep_for(std::chrono::microseconds(microseconds));
  return CopyKernel(ctx);
}

// A gradient rule emitting `op` on the output gradient with attrs `attrs`.
GradFn PassGradientThrough(std::string op) {
  return [op](GradContext& ctx) -> Status {
    if (!ctx.needs_input_grad[0]) return Status::Ok();
    OFL_ASSIGN_OR_RETURN(ctx.input_grads[0], ctx.Emit1(op, {ctx.output_grads[0]},
                                                       {{kMicroBatches, ctx.attr().GetInt(kMicroBatches)}}));
    return Status::Ok();
  };
}

OpSchema UnpackSchema() {
  OpSchema schema;
  schema.name = "unpack";
  schema.doc =
      "micro-batch i of x: rows i, i+M, i+2M, ... of axis 0 (inserted by the compiler after each input of a "
      "micro-batched job)";
  schema.inputs = {{"x", "[B, ...] the mini-batch, B divisible by M"}};
  schema.outputs = {{"y", "[B/M, ...] the rows of the current micro-batch"}};
  schema.attrs = {MicroBatchesAttr()};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_RETURN_IF_ERROR(CheckMicroBatches(op));
    OFL_RETURN_IF_ERROR(ExpectMinRank(op, 0, 1));
    const int64_t micro_batches = op.attrs.GetInt(kMicroBatches);
    Shape shape = op.in(0).shape;
    OFL_CHECK_OR_RETURN(shape[0] % micro_batches == 0)
        << op.Who(0) << ": expected a batch axis (axis 0) divisible by micro_batches=" << micro_batches
        << ", got " << op.in(0).ToString();
    shape[0] /= micro_batches;
    return std::vector<TensorDesc>{TensorDesc{shape, op.in(0).dtype}};
  };
  schema.sbp = [](const OpView& op) { return StridedBatchSignatures(op, op.in(0).shape[0]); };
  schema.signatures_depend_on_split_parts = true;
  schema.grad = PassGradientThrough("pack");
  schema.example = {{{Shape{8, 3}, DType::kF32}}, {{kMicroBatches, int64_t{2}}}};
  return schema;
}

OpSchema PackSchema() {
  OpSchema schema;
  schema.name = "pack";
  schema.doc =
      "the mini-batch from its micro-batches: x of micro-batch i goes to rows i, i+M, ... of axis 0 (inverse "
      "of unpack)";
  schema.inputs = {{"x", "[b, ...] one micro-batch"}};
  schema.outputs = {{"y", "[M b, ...] the mini-batch, complete after the last micro-batch"}};
  schema.attrs = {MicroBatchesAttr()};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_RETURN_IF_ERROR(CheckMicroBatches(op));
    OFL_RETURN_IF_ERROR(ExpectMinRank(op, 0, 1));
    Shape shape = op.in(0).shape;
    shape[0] *= op.attrs.GetInt(kMicroBatches);
    return std::vector<TensorDesc>{TensorDesc{shape, op.in(0).dtype}};
  };
  schema.sbp = [](const OpView& op) {
    return StridedBatchSignatures(op, op.in(0).shape[0] * op.attrs.GetInt(kMicroBatches));
  };
  schema.signatures_depend_on_split_parts = true;
  schema.grad = PassGradientThrough("unpack");
  schema.example = {{{Shape{4, 3}, DType::kF32}}, {{kMicroBatches, int64_t{2}}}};
  return schema;
}

OpSchema RepeatSchema() {
  OpSchema schema;
  schema.name = "repeat";
  schema.doc = "x, read by every micro-batch of the step (lowered to no actor: consumers read x itself)";
  schema.inputs = {{"x", "a value computed once per step"}};
  schema.outputs = {{"y", "x"}};
  schema.attrs = {MicroBatchesAttr()};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_RETURN_IF_ERROR(CheckMicroBatches(op));
    return std::vector<TensorDesc>{op.in(0)};
  };
  schema.sbp = PassThroughSignatures;
  schema.grad = PassGradientThrough("acc");
  schema.example = {{{Shape{4, 3}, DType::kF32}}, {{kMicroBatches, int64_t{2}}}};
  return schema;
}

OpSchema AccSchema() {
  OpSchema schema;
  schema.name = "acc";
  schema.doc = "the sum of x over the micro-batches of the step (gradients of variables, per-step metrics)";
  schema.inputs = {{"x", "one micro-batch's value"}};
  schema.outputs = {{"y", "the sum over micro-batches, complete after the last"}};
  schema.attrs = {MicroBatchesAttr()};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_RETURN_IF_ERROR(CheckMicroBatches(op));
    const DType dtype = op.in(0).dtype;
    OFL_CHECK_OR_RETURN(dtype != DType::kBool && dtype != DType::kI8 && dtype != DType::kU8)
        << op.Who(0) << ": expected a floating-point, i32 or i64 tensor, got " << DTypeName(dtype);
    return std::vector<TensorDesc>{op.in(0)};
  };
  // A sum: S(k) and P(sum) pass through; P(max) does not (max of sums).
  schema.sbp = [](const OpView& op) {
    std::vector<SbpSignature> list = SameAxesSignatures(1, 1, op.in(0).shape.rank());
    AddPartialSignatures(list, 1, 1, op.in(0).dtype, /*with_max=*/false);
    return list;
  };
  schema.grad = PassGradientThrough("repeat");
  schema.example = {{{Shape{4, 3}, DType::kF32}}, {{kMicroBatches, int64_t{2}}}};
  return schema;
}

OpSchema DelaySchema() {
  OpSchema schema;
  schema.name = "delay";
  schema.doc =
      "y = x after sleeping `microseconds` (a test op: makes pipeline stages take time without using a core)";
  schema.inputs = {{"x", "input"}};
  schema.outputs = {{"y", "a copy of x"}};
  schema.attrs = {
      {"microseconds", int64_t{0}, true, "how long each act sleeps (>= 0)"},
      {"grad_microseconds", int64_t{-1}, false, "how long the gradient's delay sleeps (-1: microseconds)"}};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    const int64_t microseconds = op.attrs.GetInt("microseconds");
    OFL_CHECK_OR_RETURN(microseconds >= 0)
        << op.Who() << " attribute microseconds: expected a value >= 0, got " << microseconds;
    const int64_t grad_microseconds = op.attrs.GetInt("grad_microseconds");
    OFL_CHECK_OR_RETURN(grad_microseconds >= -1)
        << op.Who() << " attribute grad_microseconds: expected a value >= -1, got " << grad_microseconds;
    return std::vector<TensorDesc>{op.in(0)};
  };
  schema.sbp = PassThroughSignatures;
  schema.grad = [](GradContext& ctx) -> Status {
    if (!ctx.needs_input_grad[0]) return Status::Ok();
    const int64_t backward = ctx.attr().GetInt("grad_microseconds");
    OFL_ASSIGN_OR_RETURN(
        ctx.input_grads[0],
        ctx.Emit1("delay", {ctx.output_grads[0]},
                  {{"microseconds", backward >= 0 ? backward : ctx.attr().GetInt("microseconds")}}));
    return Status::Ok();
  };
  schema.example = {{{Shape{4, 3}, DType::kF32}}, {{"microseconds", int64_t{10}}}};
  return schema;
}

}  // namespace

Status RegisterPipelineOps(OpRegistry& ops, KernelRegistry& kernels) {
  const std::vector<DType> all = AllDTypes();
  OFL_RETURN_IF_ERROR(ops.Register(UnpackSchema()));
  OFL_RETURN_IF_ERROR(
      kernels.RegisterForDTypes("unpack", DeviceType::kCPU, all, MakeFunctionKernel(UnpackKernel)));
  OFL_RETURN_IF_ERROR(ops.Register(PackSchema()));
  OFL_RETURN_IF_ERROR(
      kernels.RegisterForDTypes("pack", DeviceType::kCPU, all, MakeFunctionKernel(PackKernel)));
  OFL_RETURN_IF_ERROR(ops.Register(RepeatSchema()));
  OFL_RETURN_IF_ERROR(
      kernels.RegisterForDTypes("repeat", DeviceType::kCPU, all, MakeFunctionKernel(CopyKernel)));
  OFL_RETURN_IF_ERROR(ops.Register(AccSchema()));
  OFL_RETURN_IF_ERROR(kernels.RegisterForDTypes("acc", DeviceType::kCPU, DTypesOf(NumericTypes{}),
                                                MakeFunctionKernel(AccKernel)));
  OFL_RETURN_IF_ERROR(ops.Register(DelaySchema()));
  return kernels.RegisterForDTypes("delay", DeviceType::kCPU, all, MakeFunctionKernel(DelayKernel));
}

}  // namespace ofl

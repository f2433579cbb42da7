// concat (xs... joined along `axis`) and split (x cut along `axis` into
// pieces of `sizes`): each other's gradient. Both see their tensors as
// [outer, extent along axis, inner] and move contiguous blocks.
#include <algorithm>
#include <cstring>

#include "oneflow_like/parallel.h"
#include "ops/common/infer_helpers.h"
#include "ops/layout/layout_internal.h"

namespace ofl {

StatusOr<int> JoinAxis(const KernelContext& ctx, const std::string& backend, const Blob& whole,
                       const std::vector<const Blob*>& parts) {
  OFL_ASSIGN_OR_RETURN(const int axis, NormalizeAxis("[" + ctx.op_name + "] attribute axis",
                                                     ctx.attr().GetInt("axis"), whole.shape().rank()));
  int64_t total = 0;
  bool valid = true;
  for (const Blob* part : parts) {
    valid &= part->shape().rank() == whole.shape().rank() && part->dtype() == whole.dtype();
    for (int k = 0; valid && k < whole.shape().rank(); ++k) {
      valid &= k == axis || part->shape()[k] == whole.shape()[k];
    }
    if (valid) total += part->shape()[axis];
  }
  OFL_CHECK_OR_RETURN(valid && total == whole.shape()[axis])
      << "[" << ctx.op_name << "] " << backend << " kernel: expected pieces that join along axis " << axis
      << " into " << whole.shape().ToString() << ", got other pieces";
  return axis;
}

namespace {

std::vector<SbpSignature> JoinSignatures(int num_inputs, int num_outputs, int rank, int axis, DType dtype,
                                         const std::string& what) {
  std::vector<SbpSignature> list;
  AddUnique(list, SignatureBuilder(num_inputs, num_outputs)
                      .Note("cpu:0 and cpu:1 both hold every input whole and both compute every output whole")
                      .Build());
  for (int k = 0; k < rank; ++k) {
    if (k == axis) continue;
    const std::string s = std::to_string(k);
    AddUnique(list, SignatureBuilder(num_inputs, num_outputs)
                        .AllInputs(Sbp::Split(k))
                        .AllOutputs(Sbp::Split(k))
                        .Note("axis " + s + " is not the " + what + " axis " + std::to_string(axis) +
                              "; cpu:0 holds the first half of every tensor along it and "
                              "does its part of the work, cpu:1 the second half")
                        .Build());
  }
  AddPartialSignatures(list, num_inputs, num_outputs, dtype, /*with_max=*/true);
  return list;
}

// Extents of `shape` before and after `axis`, multiplied.
std::pair<int64_t, int64_t> OuterInner(const Shape& shape, int axis) {
  int64_t outer = 1, inner = 1;
  for (int k = 0; k < axis; ++k) outer *= shape[k];
  for (int k = axis + 1; k < shape.rank(); ++k) inner *= shape[k];
  return {outer, inner};
}

// Copies between the whole tensor and its parts along `axis`: joins the
// parts into `whole` (concat) or cuts `whole` into them (split).
void JoinOrCut(void* whole, const Shape& whole_shape, const std::vector<const Blob*>& parts, int axis,
               size_t element_size, bool join) {
  const auto [outer, inner] = OuterInner(whole_shape, axis);
  const int64_t row_bytes = whole_shape[axis] * inner * static_cast<int64_t>(element_size);
  if (outer == 0 || row_bytes == 0) return;
  std::vector<int64_t> block_bytes;
  for (const Blob* part : parts) {
    block_bytes.push_back(part->shape()[axis] * inner * static_cast<int64_t>(element_size));
  }
  ParallelFor(outer, std::max<int64_t>(1, (int64_t{1} << 17) / row_bytes), [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      char* row = static_cast<char*>(whole) + o * row_bytes;
      for (size_t p = 0; p < parts.size(); ++p) {
        char* block = static_cast<char*>(parts[p]->data) + o * block_bytes[p];
        if (block_bytes[p] > 0) {
          join ? std::memcpy(row, block, block_bytes[p]) : std::memcpy(block, row, block_bytes[p]);
        }
        row += block_bytes[p];
      }
    }
  });
}

Status RunConcat(KernelContext& ctx) {
  const Blob& y = ctx.out(0);
  std::vector<const Blob*> parts;
  for (const TensorArg& input : ctx.inputs) parts.push_back(&input.blob);
  OFL_ASSIGN_OR_RETURN(const int axis, JoinAxis(ctx, "cpu", y, parts));
  JoinOrCut(y.data, y.shape(), parts, axis, SizeOf(y.dtype()), /*join=*/true);
  return Status::Ok();
}

Status RunSplit(KernelContext& ctx) {
  const Blob& x = ctx.in(0);
  std::vector<const Blob*> parts;
  for (const TensorArg& output : ctx.outputs) parts.push_back(&output.blob);
  OFL_ASSIGN_OR_RETURN(const int axis, JoinAxis(ctx, "cpu", x, parts));
  JoinOrCut(x.data, x.shape(), parts, axis, SizeOf(x.dtype()), /*join=*/false);
  return Status::Ok();
}

StatusOr<int> AxisOf(const OpView& op) {
  OFL_RETURN_IF_ERROR(ExpectMinRank(op, 0, 1));
  return NormalizeAxis(op.Who() + " attribute axis", op.attrs.GetInt("axis"), op.in(0).shape.rank());
}

OpSchema ConcatSchema() {
  OpSchema schema;
  schema.name = "concat";
  schema.doc = "y = xs joined along axis; all other extents equal";
  schema.inputs = {{"xs", "tensors to join (one or more), same dtype and rank"}};
  schema.outputs = {{"y", "the joined tensor"}};
  schema.variadic_inputs = true;
  schema.attrs = {{"axis", int64_t{0}, false, "the axis to join along (negative counts from the end)"}};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_ASSIGN_OR_RETURN(int axis, AxisOf(op));
    OFL_RETURN_IF_ERROR(ExpectAllSameDType(op));
    const Shape& first = op.in(0).shape;
    std::vector<int64_t> dims = first.dims();
    for (int i = 1; i < op.num_inputs(); ++i) {
      const Shape& shape = op.in(i).shape;
      bool same = shape.rank() == first.rank();
      for (int k = 0; same && k < first.rank(); ++k) same = k == axis || shape[k] == first[k];
      OFL_CHECK_OR_RETURN(same) << op.Who(i) << ": expected the extents of " << first.ToString()
                                << " on every axis but " << axis << ", got " << shape.ToString();
      dims[axis] += shape[axis];
    }
    return std::vector<TensorDesc>{{Shape(std::move(dims)), op.in(0).dtype}};
  };
  schema.sbp = [](const OpView& op) {
    const int axis = AxisOf(op).ValueOrThrow();
    return JoinSignatures(op.num_inputs(), 1, op.in(0).shape.rank(), axis, op.in(0).dtype, "concat");
  };
  schema.grad = [](GradContext& ctx) -> Status {
    const int64_t axis = ctx.attr().GetInt("axis");
    std::vector<int64_t> sizes;
    for (ValueRef input : ctx.inputs) {
      const Shape& shape = ctx.Desc(input).shape;
      sizes.push_back(shape.At(static_cast<int>(axis)));
    }
    OFL_ASSIGN_OR_RETURN(std::vector<ValueRef> grads, ctx.emitter->Emit("split", {ctx.output_grads[0]},
                                                                        {{"axis", axis}, {"sizes", sizes}}));
    for (size_t i = 0; i < ctx.inputs.size(); ++i) {
      if (ctx.needs_input_grad[i]) ctx.input_grads[i] = grads[i];
    }
    return Status::Ok();
  };
  schema.example = {{{Shape{4, 3}, DType::kF32}, {Shape{4, 2}, DType::kF32}}, {{"axis", int64_t{1}}}};
  return schema;
}

OpSchema SplitSchema() {
  OpSchema schema;
  schema.name = "split";
  schema.doc = "ys = x cut along axis into consecutive pieces of extents `sizes`";
  schema.inputs = {{"x", "tensor to cut"}};
  schema.outputs = {{"ys", "one output per entry of sizes"}};
  schema.variadic_outputs = true;
  schema.attrs = {
      {"axis", int64_t{0}, false, "the axis to cut along (negative counts from the end)"},
      {"sizes", std::vector<int64_t>{}, true, "extent of each output along axis; they add up to x's"}};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_ASSIGN_OR_RETURN(int axis, AxisOf(op));
    const std::vector<int64_t>& sizes = op.attrs.GetInts("sizes");
    const Shape& shape = op.in(0).shape;
    int64_t total = 0;
    for (int64_t size : sizes) {
      OFL_CHECK_OR_RETURN(size >= 0) << op.Who() << " attribute sizes: expected extents >= 0, got "
                                     << AttrValueToString(sizes);
      total += size;
    }
    OFL_CHECK_OR_RETURN(!sizes.empty() && total == shape[axis])
        << op.Who() << " attribute sizes: expected one or more extents adding up to " << shape[axis]
        << " (axis " << axis << " of x " << shape.ToString() << "), got " << AttrValueToString(sizes);
    std::vector<TensorDesc> outputs;
    for (int64_t size : sizes) {
      std::vector<int64_t> dims = shape.dims();
      dims[axis] = size;
      outputs.push_back(TensorDesc{Shape(std::move(dims)), op.in(0).dtype});
    }
    return outputs;
  };
  schema.sbp = [](const OpView& op) {
    const int axis = AxisOf(op).ValueOrThrow();
    const int num_outputs = static_cast<int>(op.attrs.GetInts("sizes").size());
    return JoinSignatures(1, num_outputs, op.in(0).shape.rank(), axis, op.in(0).dtype, "split");
  };
  schema.grad = [](GradContext& ctx) -> Status {
    if (!ctx.needs_input_grad[0]) return Status::Ok();
    OFL_ASSIGN_OR_RETURN(ctx.input_grads[0],
                         ctx.Emit1("concat", ctx.output_grads, {{"axis", ctx.attr().GetInt("axis")}}));
    return Status::Ok();
  };
  schema.example = {{{Shape{4, 5}, DType::kF32}},
                    {{"axis", int64_t{1}}, {"sizes", std::vector<int64_t>{3, 2}}}};
  return schema;
}

}  // namespace

Status RegisterConcatSplitOps(OpRegistry& ops, KernelRegistry& kernels) {
  OFL_RETURN_IF_ERROR(ops.Register(ConcatSchema()));
  OFL_RETURN_IF_ERROR(
      kernels.RegisterForDTypes("concat", DeviceType::kCPU, AllDTypes(), MakeFunctionKernel(RunConcat)));
  OFL_RETURN_IF_ERROR(ops.Register(SplitSchema()));
  return kernels.RegisterForDTypes("split", DeviceType::kCPU, AllDTypes(), MakeFunctionKernel(RunSplit));
}

}  // namespace ofl

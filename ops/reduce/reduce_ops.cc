// Schemas of the reduce family: reduce_sum, reduce_mean, reduce_max and the
// backward helper reduce_max_grad. Kernels are in reduce_kernels.cc.
#include <algorithm>

#include "ops/common/infer_helpers.h"
#include "ops/reduce/reduce.h"
#include "ops/reduce/reduce_kernels.h"

namespace ofl {

namespace {

std::vector<AttrDef> ReduceAttrs() {
  return {{"axes", std::vector<int64_t>{}, false, "axes to reduce; [] reduces every axis"},
          {"keepdims", false, false, "keep reduced axes with extent 1"}};
}

bool IsReduced(const std::vector<int>& axes, int axis) {
  return std::binary_search(axes.begin(), axes.end(), axis);
}

// The shape of x reduced over `axes`.
Shape ReducedShape(const Shape& shape, const std::vector<int>& axes, bool keepdims) {
  std::vector<int64_t> dims;
  for (int axis = 0; axis < shape.rank(); ++axis) {
    if (!IsReduced(axes, axis)) {
      dims.push_back(shape[axis]);
    } else if (keepdims) {
      dims.push_back(1);
    }
  }
  return Shape(std::move(dims));
}

// Position in y of kept axis `axis` of x.
int OutputAxis(const std::vector<int>& axes, int axis, bool keepdims) {
  if (keepdims) return axis;
  return axis - static_cast<int>(std::lower_bound(axes.begin(), axes.end(), axis) - axes.begin());
}

Status CheckReduceDType(const OpView& op, ReduceKind kind) {
  if (kind == ReduceKind::kMean) return ExpectFloating(op, 0);
  const DType dtype = op.in(0).dtype;
  OFL_CHECK_OR_RETURN(IsFloatingPoint(dtype) || dtype == DType::kI32 || dtype == DType::kI64)
      << op.Who(0) << ": expected a numeric dtype (f32, f64, f16, bf16, i32, i64), got " << DTypeName(dtype);
  return Status::Ok();
}

std::vector<SbpSignature> ReduceSignatures(const OpView& op, ReduceKind kind) {
  const Shape& shape = op.in(0).shape;
  const std::vector<int> axes = ReductionAxes(op, "axes", shape.rank()).ValueOrThrow();
  const bool keepdims = op.attrs.GetBool("keepdims");
  const Sbp partial = kind == ReduceKind::kMax ? Sbp::PartialMax() : Sbp::PartialSum();
  const std::string combine = kind == ReduceKind::kMax ? "max(y0, y1)" : "y0 + y1";
  std::vector<SbpSignature> list;
  AddUnique(
      list,
      SignatureBuilder(1, 1).Note("cpu:0 and cpu:1 both hold x whole and both compute the whole y").Build());
  for (int axis = 0; axis < shape.rank(); ++axis) {
    const std::string k = std::to_string(axis);
    if (IsReduced(axes, axis)) {
      std::string note =
          "axis " + k +
          " is reduced; cpu:0 reduces the first half of it to y0, cpu:1 the second half to y1, "
          "and y = " +
          combine;
      if (kind == ReduceKind::kMean) {
        note += " because each device divides its partial sum by the logical count of x";
      }
      AddUnique(list,
                SignatureBuilder(1, 1).Input(0, Sbp::Split(axis)).Output(0, partial).Note(note).Build());
    } else {
      const int out_axis = OutputAxis(axes, axis, keepdims);
      AddUnique(list,
                SignatureBuilder(1, 1)
                    .Input(0, Sbp::Split(axis))
                    .Output(0, Sbp::Split(out_axis))
                    .Note("axis " + k +
                          " is kept; cpu:0 reduces the first half of x along it into the first half of y "
                          "(its axis " +
                          std::to_string(out_axis) + "), cpu:1 the second half")
                    .Build());
    }
  }
  const std::string partial_note =
      kind == ReduceKind::kMax
          ? "x = max(x0, x1) element-wise with x0 on cpu:0 and x1 on cpu:1; maxima commute, "
            "so max over the axes of x equals max(y0, y1)"
          : "x = x0 + x1 with x0 on cpu:0 and x1 on cpu:1; the reduction is linear, so y0 + y1 is the "
            "reduction of x";
  AddUnique(list, SignatureBuilder(1, 1).Input(0, partial).Output(0, partial).Note(partial_note).Build());
  return list;
}

// dy, reshaped to x's rank with extent 1 on reduced axes, broadcast to x.
StatusOr<ValueRef> SpreadToInput(GradContext& ctx, ValueRef dy) {
  const Shape& x_shape = ctx.Desc(ctx.inputs[0]).shape;
  const std::vector<int64_t>& given = ctx.attr().GetInts("axes");
  std::vector<int64_t> keep_dims = x_shape.dims();
  if (given.empty()) std::fill(keep_dims.begin(), keep_dims.end(), 1);
  for (int64_t axis : given)
    keep_dims[axis < 0 ? axis + x_shape.rank() : axis] = 1;  // validated by inference
  const Shape keep_shape(keep_dims);
  ValueRef spread = dy;
  if (ctx.Desc(spread).shape != keep_shape) {
    OFL_ASSIGN_OR_RETURN(spread, ctx.Emit1("reshape", {spread}, {{"shape", keep_shape}}));
  }
  if (keep_shape == x_shape) return spread;
  return ctx.Emit1("broadcast_to", {spread}, {{"shape", x_shape}});
}

Status ReduceSumGrad(GradContext& ctx) {
  if (!ctx.needs_input_grad[0]) return Status::Ok();
  OFL_ASSIGN_OR_RETURN(ctx.input_grads[0], SpreadToInput(ctx, ctx.output_grads[0]));
  return Status::Ok();
}

// dx = broadcast(dy) / count; the scaling runs on the (smaller) dy.
Status ReduceMeanGrad(GradContext& ctx) {
  if (!ctx.needs_input_grad[0]) return Status::Ok();
  const int64_t x_count = ctx.Desc(ctx.inputs[0]).NumElements();
  const int64_t y_count = ctx.Desc(ctx.outputs[0]).NumElements();
  ValueRef dy = ctx.output_grads[0];
  if (x_count > 0 && x_count != y_count) {
    const double count = static_cast<double>(x_count) / static_cast<double>(y_count);
    OFL_ASSIGN_OR_RETURN(dy, ctx.Emit1("scalar_div", {dy}, {{"scalar", count}}));
  }
  OFL_ASSIGN_OR_RETURN(ctx.input_grads[0], SpreadToInput(ctx, dy));
  return Status::Ok();
}

Status ReduceMaxGrad(GradContext& ctx) {
  if (!ctx.needs_input_grad[0]) return Status::Ok();
  const AttrMap attrs{{"axes", ctx.attr().GetInts("axes")}, {"keepdims", ctx.attr().GetBool("keepdims")}};
  OFL_ASSIGN_OR_RETURN(
      ctx.input_grads[0],
      ctx.Emit1("reduce_max_grad", {ctx.inputs[0], ctx.outputs[0], ctx.output_grads[0]}, attrs));
  return Status::Ok();
}

OpSchema ReduceSchema(ReduceKind kind, const std::string& doc, GradFn grad) {
  OpSchema schema;
  schema.name = ReduceOpName(kind);
  schema.doc = doc;
  schema.inputs = {{"x", "tensor to reduce"}};
  schema.outputs = {{"y", "x reduced over axes (extent 1 there when keepdims)"}};
  schema.attrs = ReduceAttrs();
  schema.infer = [kind](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_RETURN_IF_ERROR(CheckReduceDType(op, kind));
    OFL_ASSIGN_OR_RETURN(std::vector<int> axes, ReductionAxes(op, "axes", op.in(0).shape.rank()));
    return std::vector<TensorDesc>{
        {ReducedShape(op.in(0).shape, axes, op.attrs.GetBool("keepdims")), op.in(0).dtype}};
  };
  schema.sbp = [kind](const OpView& op) { return ReduceSignatures(op, kind); };
  schema.grad = std::move(grad);
  schema.example = {{{Shape{4, 6}, DType::kF32}}, {{"axes", std::vector<int64_t>{1}}}};
  return schema;
}

OpSchema ReduceMaxGradSchema() {
  OpSchema schema;
  schema.name = "reduce_max_grad";
  schema.doc =
      "backward of reduce_max: dx = dy where x equals the maximum y, split evenly between ties, else 0";
  schema.inputs = {{"x", "forward input"}, {"y", "forward output, reduce_max(x)"}, {"dy", "gradient of y"}};
  schema.outputs = {{"dx", "gradient of x"}};
  schema.attrs = ReduceAttrs();
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_RETURN_IF_ERROR(CheckReduceDType(op, ReduceKind::kMax));
    OFL_RETURN_IF_ERROR(ExpectAllSameDType(op));
    OFL_ASSIGN_OR_RETURN(std::vector<int> axes, ReductionAxes(op, "axes", op.in(0).shape.rank()));
    const Shape reduced = ReducedShape(op.in(0).shape, axes, op.attrs.GetBool("keepdims"));
    OFL_CHECK_OR_RETURN(op.in(1).shape == reduced)
        << op.Who(1) << ": expected shape " << reduced.ToString() << " (x " << op.in(0).shape.ToString()
        << " reduced over the axes), got " << op.in(1).shape.ToString();
    OFL_RETURN_IF_ERROR(ExpectSameShape(op, 1, 2));
    return std::vector<TensorDesc>{op.in(0)};
  };
  schema.sbp = [](const OpView& op) {
    const Shape& shape = op.in(0).shape;
    const std::vector<int> axes = ReductionAxes(op, "axes", shape.rank()).ValueOrThrow();
    const bool keepdims = op.attrs.GetBool("keepdims");
    std::vector<SbpSignature> list;
    AddUnique(list, SignatureBuilder(3, 1)
                        .Note("cpu:0 and cpu:1 both hold x, y and dy whole and compute the whole dx")
                        .Build());
    for (int axis = 0; axis < shape.rank(); ++axis) {
      if (IsReduced(axes, axis)) continue;  // ties must be counted over the whole reduced extent
      const int out_axis = OutputAxis(axes, axis, keepdims);
      const std::string k = std::to_string(axis), j = std::to_string(out_axis);
      AddUnique(list, SignatureBuilder(3, 1)
                          .Input(0, Sbp::Split(axis))
                          .Input(1, Sbp::Split(out_axis))
                          .Input(2, Sbp::Split(out_axis))
                          .Output(0, Sbp::Split(axis))
                          .Note("axis " + k +
                                " is kept; cpu:0 holds the first half of x and dx along it and the matching "
                                "first half of y and dy, cpu:1 the second halves")
                          .Build());
    }
    AddUnique(list, SignatureBuilder(3, 1)
                        .Input(2, Sbp::PartialSum())
                        .Output(0, Sbp::PartialSum())
                        .Note("dy = dy0 + dy1 with dy0 on cpu:0 and dy1 on cpu:1; dx is linear in "
                              "dy with x and y fixed, so dx0 + dx1 = dx")
                        .Build());
    return list;
  };
  schema.example = {{{Shape{4, 6}, DType::kF32}, {Shape{4}, DType::kF32}, {Shape{4}, DType::kF32}},
                    {{"axes", std::vector<int64_t>{1}}}};
  return schema;
}

}  // namespace

Status RegisterReduceOps(OpRegistry& ops, KernelRegistry& kernels) {
  struct Entry {
    ReduceKind kind;
    const char* doc;
    GradFn grad;
  };
  const Entry entries[] = {
      {ReduceKind::kSum, "y = sum of x over axes", ReduceSumGrad},
      {ReduceKind::kMean, "y = mean of x over axes (divides by the logical count)", ReduceMeanGrad},
      {ReduceKind::kMax, "y = max of x over axes (gradient split evenly between ties)", ReduceMaxGrad},
  };
  for (const Entry& entry : entries) {
    OFL_RETURN_IF_ERROR(ops.Register(ReduceSchema(entry.kind, entry.doc, entry.grad)));
    OFL_RETURN_IF_ERROR(kernels.RegisterForDTypes(ReduceOpName(entry.kind), DeviceType::kCPU,
                                                  ReduceKernelDTypes(entry.kind), ReduceKernel(entry.kind)));
  }
  OFL_RETURN_IF_ERROR(ops.Register(ReduceMaxGradSchema()));
  OFL_RETURN_IF_ERROR(kernels.RegisterForDTypes("reduce_max_grad", DeviceType::kCPU,
                                                ReduceMaxGradKernelDTypes(), ReduceMaxGradKernel()));
  return Status::Ok();
}

}  // namespace ofl

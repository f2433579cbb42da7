// slice (y = x[start:stop:step] per axis) and its backward slice_grad (dy
// scattered into zeros). Indices follow Python: negative ones count from
// the end, and out-of-range ones are clamped.
#include <algorithm>
#include <cstring>

#include "oneflow_like/parallel.h"
#include "ops/common/infer_helpers.h"
#include "ops/layout/layout_internal.h"

namespace ofl {

StatusOr<std::vector<AxisSlice>> ResolveSlice(const std::string& who, const Shape& shape,
                                              const AttrMap& attrs) {
  const std::vector<int64_t>& start = attrs.GetInts("start");
  const std::vector<int64_t>& stop = attrs.GetInts("stop");
  const std::vector<int64_t>& step = attrs.GetInts("step");
  const size_t rank = static_cast<size_t>(shape.rank());
  for (const auto& [name, values] : {std::pair<const char*, const std::vector<int64_t>*>{"start", &start},
                                     {"stop", &stop},
                                     {"step", &step}}) {
    OFL_CHECK_OR_RETURN(values->size() == rank || (values == &step && values->empty()))
        << who << " attribute " << name << ": expected " << rank << " entries (one per axis of "
        << shape.ToString() << "), got " << values->size();
  }
  std::vector<AxisSlice> result(rank);
  for (size_t axis = 0; axis < rank; ++axis) {
    const int64_t dim = shape[static_cast<int>(axis)];
    const int64_t stride = step.empty() ? 1 : step[axis];
    OFL_CHECK_OR_RETURN(stride > 0) << who << " attribute step: expected steps > 0, got " << stride
                                    << " on axis " << axis;
    auto clamp = [dim](int64_t index) {
      return std::clamp<int64_t>(index < 0 ? index + dim : index, 0, dim);
    };
    const int64_t begin = clamp(start[axis]);
    const int64_t end = clamp(stop[axis]);
    AxisSlice& slice = result[axis];
    slice.first = begin;
    slice.step = stride;
    slice.count = end > begin ? (end - begin - 1) / stride + 1 : 0;  // no overflow for huge steps
    slice.whole = begin == 0 && end == dim && stride == 1;
  }
  return result;
}

namespace {

Shape SlicedShape(const std::vector<AxisSlice>& slices) {
  std::vector<int64_t> dims;
  for (const AxisSlice& slice : slices) dims.push_back(slice.count);
  return Shape(std::move(dims));
}

// Only untouched axes may be split: there x's and y's pieces coincide.
std::vector<SbpSignature> SliceSignatures(const std::vector<AxisSlice>& slices, DType dtype,
                                          const std::string& from, const std::string& to) {
  std::vector<SbpSignature> list;
  AddUnique(list, SignatureBuilder(1, 1)
                      .Note("cpu:0 and cpu:1 both hold " + from + " whole and both compute the whole " + to)
                      .Build());
  for (size_t axis = 0; axis < slices.size(); ++axis) {
    if (!slices[axis].whole) continue;
    const std::string k = std::to_string(axis);
    AddUnique(list, SignatureBuilder(1, 1)
                        .Input(0, Sbp::Split(static_cast<int>(axis)))
                        .Output(0, Sbp::Split(static_cast<int>(axis)))
                        .Note("axis " + k + " is not sliced, so " + from + " and " + to +
                              " have the same extent there; cpu:0 slices the first half of " + from +
                              " along it into the first half of " + to + ", cpu:1 the second half")
                        .Build());
  }
  AddPartialSignatures(list, 1, 1, dtype, /*with_max=*/true);
  return list;
}

// Copies between a piece of the full tensor (`full`, shaped `full_shape`)
// and a piece of the sliced one (`part`, shaped `part_shape`): element j of
// part along each axis is element first + step * j of full. Gathers when
// `to_part` (slice), scatters otherwise (slice_grad).
template <typename U>
void StridedCopy(U* full, const Shape& full_shape, U* part, const Shape& part_shape,
                 const std::vector<AxisSlice>& slices, bool to_part) {
  const int rank = part_shape.rank();
  const int64_t count = part_shape.NumElements();
  if (count == 0) return;
  if (rank == 0) {
    if (to_part) {
      part[0] = full[0];
    } else {
      full[0] = part[0];
    }
    return;
  }
  const std::vector<int64_t> full_strides = full_shape.Strides();
  int64_t base = 0;
  for (int axis = 0; axis < rank; ++axis) base += slices[axis].first * full_strides[axis];
  const int64_t row = part_shape[rank - 1];
  const int64_t step = slices[rank - 1].step;
  const int64_t rows = count / row;
  ParallelFor(rows, std::max<int64_t>(1, (int64_t{1} << 15) / row), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      int64_t offset = base, rest = r;
      for (int axis = rank - 2; axis >= 0; --axis) {
        offset += (rest % part_shape[axis]) * slices[axis].step * full_strides[axis];
        rest /= part_shape[axis];
      }
      U* f = full + offset;
      U* p = part + r * row;
      if (step == 1) {
        to_part ? std::memcpy(p, f, row * sizeof(U)) : std::memcpy(f, p, row * sizeof(U));
      } else if (to_part) {
        for (int64_t i = 0; i < row; ++i) p[i] = f[i * step];
      } else {
        for (int64_t i = 0; i < row; ++i) f[i * step] = p[i];
      }
    }
  });
}

}  // namespace

StatusOr<std::vector<AxisSlice>> PieceSlices(const KernelContext& ctx, const std::string& backend,
                                             const Shape& logical_full, const Shape& full_piece,
                                             const Shape& part_piece) {
  OFL_ASSIGN_OR_RETURN(std::vector<AxisSlice> slices,
                       ResolveSlice("[" + ctx.op_name + "]", logical_full, ctx.attr()));
  bool valid = full_piece.rank() == logical_full.rank() && part_piece.rank() == logical_full.rank();
  for (int axis = 0; valid && axis < logical_full.rank(); ++axis) {
    valid = slices[axis].whole
                ? full_piece[axis] == part_piece[axis]
                : (full_piece[axis] == logical_full[axis] && part_piece[axis] == slices[axis].count);
  }
  OFL_CHECK_OR_RETURN(valid) << "[" << ctx.op_name << "] " << backend
                             << " kernel: expected pieces split only along unsliced axes, "
                             << "got " << full_piece.ToString() << " and " << part_piece.ToString() << " of "
                             << logical_full.ToString();
  return slices;
}

namespace {

Status RunSlice(KernelContext& ctx) {
  const Blob& x = ctx.in(0);
  const Blob& y = ctx.out(0);
  OFL_ASSIGN_OR_RETURN(std::vector<AxisSlice> slices,
                       PieceSlices(ctx, "cpu", ctx.inputs[0].logical_shape, x.shape(), y.shape()));
  return DispatchByElementSize(ctx, x.dtype(), [&](auto tag) {
    using U = decltype(tag);
    StridedCopy(x.As<U>(), x.shape(), y.As<U>(), y.shape(), slices, /*to_part=*/true);
  });
}

Status RunSliceGrad(KernelContext& ctx) {
  const Blob& dy = ctx.in(0);
  const Blob& dx = ctx.out(0);
  OFL_ASSIGN_OR_RETURN(std::vector<AxisSlice> slices,
                       PieceSlices(ctx, "cpu", ctx.attr().GetShape("shape"), dx.shape(), dy.shape()));
  std::memset(dx.data, 0, dx.ByteSize());  // zero bits are zero in every dtype
  return DispatchByElementSize(ctx, dx.dtype(), [&](auto tag) {
    using U = decltype(tag);
    StridedCopy(dx.As<U>(), dx.shape(), dy.As<U>(), dy.shape(), slices, /*to_part=*/false);
  });
}

std::vector<AttrDef> SliceAttrs() {
  return {{"start", std::vector<int64_t>{}, true, "first index per axis (negative counts from the end)"},
          {"stop", std::vector<int64_t>{}, true, "end index per axis, exclusive (clamped to the extent)"},
          {"step", std::vector<int64_t>{}, false, "stride per axis, > 0; [] means 1 everywhere"}};
}

AttrMap SliceAttrsOf(const AttrMap& attrs) {
  return AttrMap{
      {"start", attrs.GetInts("start")}, {"stop", attrs.GetInts("stop")}, {"step", attrs.GetInts("step")}};
}

OpSchema SliceSchema() {
  OpSchema schema;
  schema.name = "slice";
  schema.doc = "y = x[start:stop:step] along every axis (Python rules: negative indices, clamping)";
  schema.inputs = {{"x", "input"}};
  schema.outputs = {{"y", "the selected elements"}};
  schema.attrs = SliceAttrs();
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_ASSIGN_OR_RETURN(std::vector<AxisSlice> slices, ResolveSlice(op.Who(), op.in(0).shape, op.attrs));
    return std::vector<TensorDesc>{{SlicedShape(slices), op.in(0).dtype}};
  };
  schema.sbp = [](const OpView& op) {
    return SliceSignatures(ResolveSlice(op.Who(), op.in(0).shape, op.attrs).ValueOrThrow(), op.in(0).dtype,
                           "x", "y");
  };
  schema.grad = [](GradContext& ctx) -> Status {
    if (!ctx.needs_input_grad[0]) return Status::Ok();
    AttrMap attrs = SliceAttrsOf(ctx.attr());
    attrs.Set("shape", ctx.Desc(ctx.inputs[0]).shape);
    OFL_ASSIGN_OR_RETURN(ctx.input_grads[0], ctx.Emit1("slice_grad", {ctx.output_grads[0]}, attrs));
    return Status::Ok();
  };
  schema.example = {{{Shape{4, 6}, DType::kF32}},
                    {{"start", std::vector<int64_t>{0, 1}},
                     {"stop", std::vector<int64_t>{4, 5}},
                     {"step", std::vector<int64_t>{1, 2}}}};
  return schema;
}

OpSchema SliceGradSchema() {
  OpSchema schema;
  schema.name = "slice_grad";
  schema.doc = "backward of slice: dx of `shape`, zero except dx[start:stop:step] = dy";
  schema.inputs = {{"dy", "gradient of the slice"}};
  schema.outputs = {{"dx", "gradient of the sliced tensor"}};
  schema.attrs = SliceAttrs();
  schema.attrs.insert(schema.attrs.begin(),
                      AttrDef{"shape", Shape{}, true, "the shape of the sliced tensor x"});
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    const Shape& shape = op.attrs.GetShape("shape");
    OFL_ASSIGN_OR_RETURN(std::vector<AxisSlice> slices, ResolveSlice(op.Who(), shape, op.attrs));
    const Shape expected = SlicedShape(slices);
    OFL_CHECK_OR_RETURN(op.in(0).shape == expected)
        << op.Who(0) << ": expected shape " << expected.ToString() << " (the slice of " << shape.ToString()
        << "), got " << op.in(0).shape.ToString();
    return std::vector<TensorDesc>{{shape, op.in(0).dtype}};
  };
  schema.sbp = [](const OpView& op) {
    const Shape& shape = op.attrs.GetShape("shape");
    return SliceSignatures(ResolveSlice(op.Who(), shape, op.attrs).ValueOrThrow(), op.in(0).dtype, "dy",
                           "dx");
  };
  schema.grad = [](GradContext& ctx) -> Status {
    if (!ctx.needs_input_grad[0]) return Status::Ok();
    OFL_ASSIGN_OR_RETURN(ctx.input_grads[0],
                         ctx.Emit1("slice", {ctx.output_grads[0]}, SliceAttrsOf(ctx.attr())));
    return Status::Ok();
  };
  schema.example = {{{Shape{4, 2}, DType::kF32}},
                    {{"shape", Shape{4, 6}},
                     {"start", std::vector<int64_t>{0, 1}},
                     {"stop", std::vector<int64_t>{4, 5}},
                     {"step", std::vector<int64_t>{1, 2}}}};
  return schema;
}

}  // namespace

Status RegisterSliceOps(OpRegistry& ops, KernelRegistry& kernels) {
  OFL_RETURN_IF_ERROR(ops.Register(SliceSchema()));
  OFL_RETURN_IF_ERROR(
      kernels.RegisterForDTypes("slice", DeviceType::kCPU, AllDTypes(), MakeFunctionKernel(RunSlice)));
  OFL_RETURN_IF_ERROR(ops.Register(SliceGradSchema()));
  return kernels.RegisterForDTypes("slice_grad", DeviceType::kCPU, AllDTypes(),
                                   MakeFunctionKernel(RunSliceGrad));
}

}  // namespace ofl

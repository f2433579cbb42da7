// reshape and identity: ops whose output holds x's elements in x's order,
// so every kernel is one copy of the piece.
#include <algorithm>
#include <string>

#include "ops/common/infer_helpers.h"
#include "ops/layout/layout_internal.h"

namespace ofl {

namespace {

// The target shape with its -1 resolved against x's element count.
StatusOr<Shape> ResolveReshape(const OpView& op) {
  const Shape& requested = op.attrs.GetShape("shape");
  const int64_t count = op.in(0).NumElements();
  int unknown = -1;
  int64_t known = 1;
  for (int axis = 0; axis < requested.rank(); ++axis) {
    const int64_t dim = requested[axis];
    if (dim == -1) {
      OFL_CHECK_OR_RETURN(unknown < 0)
          << op.Who() << " attribute shape: expected at most one -1, got " << requested.ToString();
      unknown = axis;
      continue;
    }
    OFL_CHECK_OR_RETURN(dim >= 0) << op.Who() << " attribute shape: expected extents >= 0 (or one -1), got "
                                  << requested.ToString();
    known *= dim;
  }
  std::vector<int64_t> dims = requested.dims();
  if (unknown >= 0) {
    OFL_CHECK_OR_RETURN(known > 0 && count % known == 0)
        << op.Who() << " attribute shape: expected extents whose product divides " << count
        << " (the size of x " << op.in(0).shape.ToString() << "), got " << requested.ToString();
    dims[unknown] = count / known;
  } else {
    OFL_CHECK_OR_RETURN(known == count)
        << op.Who() << " attribute shape: expected " << count << " elements (x is "
        << op.in(0).shape.ToString() << "), got " << requested.ToString() << " with " << known;
  }
  return Shape(std::move(dims));
}

int64_t ProductBefore(const Shape& shape, int axis) {
  int64_t product = 1;
  for (int k = 0; k < axis; ++k) product *= shape[k];
  return product;
}

// x axis k and y axis j cut the element order at the same places when the
// extents before them multiply to the same number and their own extents
// are equal: then the first half of x along k is the first half of y along j,
// whatever the number of pieces.
//
// With n = op.split_parts pieces known, a merge or split of axes keeps the
// Split too: when the products before k and j are equal, one extent is a
// multiple of the other and the smaller one divides into n, the balanced
// split of the smaller extent, scaled by the ratio, is the balanced split of
// the larger. Say x [4, 3, 2] -> y [12, 2] on 2 devices: S(0) of x gives
// cpu:0 rows 0-1 (elements 0-11) and S(0) of y gives cpu:0 rows 0-5, the
// same elements 0-11 in the same order, so the piece kernel stays one copy.
// With 3 devices x's 4 rows do not divide: pieces of 2, 1, 1 rows are 12,
// 6, 6 elements while y's 12 rows give 4, 4, 4 rows of 8 elements each, so
// the signature is not listed.
// Neither is it for n = 0 (unknown), which the N-D deduction and boxing
// treat as "valid for any count".
std::vector<SbpSignature> ReshapeSignatures(const OpView& op) {
  const Shape& in = op.in(0).shape;
  const Shape out = ResolveReshape(op).ValueOrThrow();
  std::vector<SbpSignature> list;
  AddUnique(
      list,
      SignatureBuilder(1, 1).Note("cpu:0 and cpu:1 both hold x whole and both produce the whole y").Build());
  for (int k = 0; k < in.rank(); ++k) {
    for (int j = 0; j < out.rank(); ++j) {
      if (in[k] != out[j] || ProductBefore(in, k) != ProductBefore(out, j)) continue;
      AddUnique(list,
                SignatureBuilder(1, 1)
                    .Input(0, Sbp::Split(k))
                    .Output(0, Sbp::Split(j))
                    .Note("e.g. [4, 6] -> "
                          "[4, 2, 3] keeps S(0); x axis " +
                          std::to_string(k) + " and y axis " + std::to_string(j) +
                          " have the same extent and the same element count before "
                          "them, so cpu:0's first half of x is, element for element, the first half of y "
                          "and cpu:1's second half the second")
                    .Build());
      break;
    }
  }
  const int64_t parts = op.split_parts;
  for (int k = 0; k < in.rank() && parts > 0; ++k) {
    for (int j = 0; j < out.rank(); ++j) {
      const int64_t smaller = std::min(in[k], out[j]);
      const int64_t larger = std::max(in[k], out[j]);
      if (smaller <= 0 || larger % smaller != 0 || smaller % parts != 0) continue;
      if (ProductBefore(in, k) != ProductBefore(out, j)) continue;
      AddUnique(list,
                SignatureBuilder(1, 1)
                    .Input(0, Sbp::Split(k))
                    .Output(0, Sbp::Split(j))
                    .Note("only for " + std::to_string(parts) +
                          " pieces: e.g. [4, 3, 2] -> [12, 2] keeps S(0) on 2 devices, cpu:0 holding x "
                          "rows 0-1 = y rows 0-5 = elements 0-11; here x axis " +
                          std::to_string(k) + " (extent " + std::to_string(in[k]) + ") and y axis " +
                          std::to_string(j) + " (extent " + std::to_string(out[j]) +
                          ") have the same element count before them, one extent is a multiple of the other "
                          "and the smaller divides by " +
                          std::to_string(parts) + ", so piece i of x is, element for element, piece i of y")
                    .Build());
    }
  }
  AddPartialSignatures(list, 1, 1, op.in(0).dtype, /*with_max=*/true);
  return list;
}

// Copies the input piece to the output piece: same elements, same order.
Status CopyPiece(KernelContext& ctx) {
  const Blob& x = ctx.in(0);
  const Blob& y = ctx.out(0);
  OFL_CHECK_OR_RETURN(x.ByteSize() == y.ByteSize() && x.dtype() == y.dtype())
      << "[" << ctx.op_name << "] cpu kernel: expected an output piece of " << x.NumElements() << " "
      << DTypeName(x.dtype()) << " elements, got " << y.desc.ToString();
  CopyBytes(y.data, x.data, x.ByteSize());
  return Status::Ok();
}

OpSchema ReshapeSchema() {
  OpSchema schema;
  schema.name = "reshape";
  schema.doc = "y = x with a new shape (same elements, row-major order); one extent may be -1";
  schema.inputs = {{"x", "input"}};
  schema.outputs = {{"y", "x's elements shaped as `shape`"}};
  schema.attrs = {{"shape", Shape{}, true, "the new shape; one -1 takes the remaining extent"}};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_ASSIGN_OR_RETURN(Shape shape, ResolveReshape(op));
    return std::vector<TensorDesc>{{shape, op.in(0).dtype}};
  };
  schema.sbp = ReshapeSignatures;
  schema.signatures_depend_on_split_parts = true;  // merged/split axes keep S only for some counts
  schema.grad = [](GradContext& ctx) -> Status {
    if (!ctx.needs_input_grad[0]) return Status::Ok();
    OFL_ASSIGN_OR_RETURN(ctx.input_grads[0], ctx.Emit1("reshape", {ctx.output_grads[0]},
                                                       {{"shape", ctx.Desc(ctx.inputs[0]).shape}}));
    return Status::Ok();
  };
  schema.example = {{{Shape{4, 6}, DType::kF32}}, {{"shape", Shape{4, 2, 3}}}};
  return schema;
}

OpSchema IdentitySchema() {
  OpSchema schema;
  schema.name = "identity";
  schema.doc = "y = x (a copy; a place to hang an SBP hint)";
  schema.inputs = {{"x", "input"}};
  schema.outputs = {{"y", "a copy of x"}};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    return std::vector<TensorDesc>{op.in(0)};
  };
  schema.sbp = [](const OpView& op) {
    std::vector<SbpSignature> list = SameAxesSignatures(1, 1, op.in(0).shape.rank());
    AddPartialSignatures(list, 1, 1, op.in(0).dtype, /*with_max=*/true);
    return list;
  };
  schema.grad = [](GradContext& ctx) -> Status {
    if (ctx.needs_input_grad[0]) ctx.input_grads[0] = ctx.output_grads[0];
    return Status::Ok();
  };
  schema.example = {{{Shape{4, 3}, DType::kF32}}, {}};
  return schema;
}

}  // namespace

Status RegisterReshapeOps(OpRegistry& ops, KernelRegistry& kernels) {
  OFL_RETURN_IF_ERROR(ops.Register(ReshapeSchema()));
  OFL_RETURN_IF_ERROR(
      kernels.RegisterForDTypes("reshape", DeviceType::kCPU, AllDTypes(), MakeFunctionKernel(CopyPiece)));
  OFL_RETURN_IF_ERROR(ops.Register(IdentitySchema()));
  OFL_RETURN_IF_ERROR(
      kernels.RegisterForDTypes("identity", DeviceType::kCPU, AllDTypes(), MakeFunctionKernel(CopyPiece)));
  return Status::Ok();
}

}  // namespace ofl

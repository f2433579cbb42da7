// broadcast_to: x repeated (numpy rules) to a larger shape. Its gradient
// sums back (SumToShape); it is how reductions' gradients spread dy.
#include <algorithm>
#include <cstring>

#include "oneflow_like/parallel.h"
#include "ops/common/grad_helpers.h"
#include "ops/layout/layout_internal.h"

namespace ofl {

namespace {

Status CheckBroadcastable(const OpView& op, const Shape& target) {
  const Shape& shape = op.in(0).shape;
  for (int axis = 0; axis < target.rank(); ++axis) {
    OFL_CHECK_OR_RETURN(target[axis] >= 0)
        << op.Who() << " attribute shape: expected extents >= 0, got " << target.ToString();
  }
  OFL_CHECK_OR_RETURN(shape.rank() <= target.rank())
      << op.Who(0) << ": expected rank <= " << target.rank() << " (the rank of shape " << target.ToString()
      << "), got rank " << shape.rank() << " (shape " << shape.ToString() << ")";
  const int lead = target.rank() - shape.rank();
  for (int axis = 0; axis < shape.rank(); ++axis) {
    OFL_CHECK_OR_RETURN(shape[axis] == 1 || shape[axis] == target[axis + lead])
        << op.Who(0) << ": expected a shape broadcastable to " << target.ToString() << ", got "
        << shape.ToString() << " (axis " << axis << ": " << shape[axis] << " vs " << target[axis + lead]
        << ")";
  }
  return Status::Ok();
}

std::vector<SbpSignature> BroadcastToSignatures(const OpView& op) {
  const Shape& shape = op.in(0).shape;
  const Shape& target = op.attrs.GetShape("shape");
  const int lead = target.rank() - shape.rank();
  std::vector<SbpSignature> list;
  AddUnique(
      list,
      SignatureBuilder(1, 1).Note("cpu:0 and cpu:1 both hold x whole and both produce the whole y").Build());
  for (int k = 0; k < target.rank(); ++k) {
    const int aligned = k - lead;
    const std::string out = std::to_string(k);
    if (aligned >= 0 && shape[aligned] == target[k]) {
      const std::string in = std::to_string(aligned);
      AddUnique(list, SignatureBuilder(1, 1)
                          .Input(0, Sbp::Split(aligned))
                          .Output(0, Sbp::Split(k))
                          .Note("x axis " + in + " spans y axis " + out +
                                "; cpu:0 repeats the first half of x into the first half of y, cpu:1 the "
                                "second half")
                          .Build());
    } else {
      AddUnique(list, SignatureBuilder(1, 1)
                          .Output(0, Sbp::Split(k))
                          .Note("x has extent 1 (or no axis) under y axis " + out +
                                ", e.g. x [1, 3] -> y [4, 3]; cpu:0 and cpu:1 hold x whole and each "
                                "materialises only its half of y (rows 0-1 and 2-3)")
                          .Build());
    }
  }
  AddPartialSignatures(list, 1, 1, op.in(0).dtype, /*with_max=*/true);
  return list;
}

// y piece = x piece repeated along the axes where x's piece has extent 1.
template <typename U>
void BroadcastCopy(const U* in, const Shape& in_shape, U* out, const Shape& out_shape) {
  const int rank = out_shape.rank();
  const int64_t count = out_shape.NumElements();
  if (count == 0) return;
  if (rank == 0) {
    out[0] = in[0];
    return;
  }
  const int lead = rank - in_shape.rank();
  const std::vector<int64_t> in_strides = in_shape.Strides();
  std::vector<int64_t> strides(rank, 0);  // per y axis: stride in x, 0 where x repeats
  for (int axis = lead; axis < rank; ++axis) {
    strides[axis] = in_shape[axis - lead] == 1 ? 0 : in_strides[axis - lead];
  }
  const int64_t row = out_shape[rank - 1];
  const int64_t step = strides[rank - 1];
  const int64_t rows = count / row;
  ParallelFor(rows, std::max<int64_t>(1, (int64_t{1} << 15) / row), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      int64_t offset = 0, rest = r;
      for (int axis = rank - 2; axis >= 0; --axis) {
        offset += (rest % out_shape[axis]) * strides[axis];
        rest /= out_shape[axis];
      }
      U* dst = out + r * row;
      if (step == 0) {
        std::fill(dst, dst + row, in[offset]);
      } else {
        std::memcpy(dst, in + offset, row * sizeof(U));
      }
    }
  });
}

Status RunBroadcastTo(KernelContext& ctx) {
  const Blob& x = ctx.in(0);
  const Blob& y = ctx.out(0);
  const int lead = y.shape().rank() - x.shape().rank();
  bool valid = lead >= 0 && x.dtype() == y.dtype();
  for (int axis = 0; valid && axis < x.shape().rank(); ++axis) {
    valid = x.shape()[axis] == 1 || x.shape()[axis] == y.shape()[axis + lead];
  }
  OFL_CHECK_OR_RETURN(valid) << "[" << ctx.op_name
                             << "] cpu kernel: expected an x piece broadcastable to the y "
                             << "piece " << y.desc.ToString() << ", got " << x.desc.ToString();
  return DispatchByElementSize(ctx, x.dtype(), [&](auto tag) {
    using U = decltype(tag);
    BroadcastCopy(x.As<U>(), x.shape(), y.As<U>(), y.shape());
  });
}

OpSchema BroadcastToSchema() {
  OpSchema schema;
  schema.name = "broadcast_to";
  schema.doc = "y = x repeated along its extent-1 axes and new leading axes (numpy rules) to `shape`";
  schema.inputs = {{"x", "input; each axis has extent 1 or the target's extent"}};
  schema.outputs = {{"y", "x broadcast to shape"}};
  schema.attrs = {{"shape", Shape{}, true, "the target shape"}};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    const Shape& target = op.attrs.GetShape("shape");
    OFL_RETURN_IF_ERROR(CheckBroadcastable(op, target));
    return std::vector<TensorDesc>{{target, op.in(0).dtype}};
  };
  schema.sbp = BroadcastToSignatures;
  schema.grad = [](GradContext& ctx) -> Status {
    if (!ctx.needs_input_grad[0]) return Status::Ok();
    OFL_ASSIGN_OR_RETURN(ctx.input_grads[0],
                         SumToShape(*ctx.emitter, ctx.output_grads[0], ctx.Desc(ctx.inputs[0]).shape));
    return Status::Ok();
  };
  schema.example = {{{Shape{1, 3}, DType::kF32}}, {{"shape", Shape{4, 3}}}};
  return schema;
}

}  // namespace

Status RegisterBroadcastToOp(OpRegistry& ops, KernelRegistry& kernels) {
  OFL_RETURN_IF_ERROR(ops.Register(BroadcastToSchema()));
  return kernels.RegisterForDTypes("broadcast_to", DeviceType::kCPU, AllDTypes(),
                                   MakeFunctionKernel(RunBroadcastTo));
}

}  // namespace ofl

// matmul and batch_matmul: schema, inference, SBP signatures, gradient.
#include "ops/common/infer_helpers.h"
#include "ops/matmul/matmul.h"
#include "ops/matmul/matmul_kernel.h"

namespace ofl {

namespace {

// Axes of one operand of y = alpha * op(a) op(b), counted in the operand as
// stored (a transposed operand has its two last axes swapped).
struct MatmulAxes {
  int a_rows;      ///< M axis of a
  int a_contract;  ///< K axis of a
  int b_contract;  ///< K axis of b
  int b_cols;      ///< N axis of b
};

MatmulAxes AxesOf(const OpView& op) {
  const int rank = op.in(0).shape.rank();
  const bool ta = op.attrs.GetBool("transpose_a");
  const bool tb = op.attrs.GetBool("transpose_b");
  return {ta ? rank - 1 : rank - 2, ta ? rank - 2 : rank - 1, tb ? rank - 1 : rank - 2,
          tb ? rank - 2 : rank - 1};
}

StatusOr<std::vector<TensorDesc>> InferMatmul(const OpView& op, bool batched) {
  if (batched) {
    OFL_RETURN_IF_ERROR(ExpectMinRank(op, 0, 2));
    const int rank = op.in(0).shape.rank();
    OFL_CHECK_OR_RETURN(op.in(1).shape.rank() == rank)
        << op.Who(1) << ": expected rank " << rank << " (the rank of a), got rank " << op.in(1).shape.rank()
        << " (shape " << op.in(1).shape.ToString() << ")";
  } else {
    OFL_RETURN_IF_ERROR(ExpectRank(op, 0, 2));
    OFL_RETURN_IF_ERROR(ExpectRank(op, 1, 2));
  }
  OFL_RETURN_IF_ERROR(ExpectFloating(op, 0));
  OFL_RETURN_IF_ERROR(ExpectSameDType(op, 0, 1));
  const Shape& a = op.in(0).shape;
  const Shape& b = op.in(1).shape;
  std::vector<int64_t> batch_dims(a.dims().begin(), a.dims().end() - 2);
  const std::vector<int64_t> b_batch_dims(b.dims().begin(), b.dims().end() - 2);
  OFL_CHECK_OR_RETURN(batch_dims == b_batch_dims)
      << op.Who(1) << ": expected batch dims " << Shape(batch_dims).ToString() << " (those of a), got "
      << Shape(b_batch_dims).ToString() << " (shape " << b.ToString() << ")";
  const MatmulAxes axes = AxesOf(op);
  OFL_CHECK_OR_RETURN(b[axes.b_contract] == a[axes.a_contract])
      << op.Who(1) << ": expected shape[" << axes.b_contract << "] = " << a[axes.a_contract]
      << " (the contracted extent of a, shape " << a.ToString()
      << (op.attrs.GetBool("transpose_a") ? ", transposed" : "") << "), got " << b[axes.b_contract]
      << " (shape " << b.ToString() << (op.attrs.GetBool("transpose_b") ? ", transposed" : "") << ")";
  std::vector<int64_t> y_dims = batch_dims;
  y_dims.push_back(a[axes.a_rows]);
  y_dims.push_back(b[axes.b_cols]);
  return std::vector<TensorDesc>{{Shape(std::move(y_dims)), op.in(0).dtype}};
}

std::vector<SbpSignature> MatmulSignatures(const OpView& op) {
  const int rank = op.in(0).shape.rank();
  const MatmulAxes axes = AxesOf(op);
  const int y_rows = rank - 2, y_cols = rank - 1;
  const auto S = [](int axis) { return Sbp::Split(axis); };
  std::vector<SbpSignature> list;
  AddUnique(list, SignatureBuilder(2, 1)
                      .Note("B: cpu:0 and cpu:1 both hold a and b whole and compute the whole y")
                      .Build());
  for (int axis = 0; axis < rank - 2; ++axis) {
    const std::string s = std::to_string(axis);
    AddUnique(list, SignatureBuilder(2, 1)
                        .Input(0, S(axis))
                        .Input(1, S(axis))
                        .Output(0, S(axis))
                        .Note("S(" + s +
                              ") batch: a [4,M,K], b [4,K,N]; cpu:0 holds batch elements 0-1 of a, b "
                              "and y, cpu:1 elements 2-3; the products of different batch elements are "
                              "independent")
                        .Build());
  }
  AddUnique(list,
            SignatureBuilder(2, 1)
                .Input(0, S(axes.a_rows))
                .Output(0, S(y_rows))
                .Note("data parallel: a [4,K] split by rows (its axis " + std::to_string(axes.a_rows) +
                      ", which is axis 1 when a is stored transposed): cpu:0 holds rows 0-1, cpu:1 rows 2-3; "
                      "b [K,N] whole on both; each computes its rows of y [4,N]")
                .Build());
  AddUnique(list,
            SignatureBuilder(2, 1)
                .Input(1, S(axes.b_cols))
                .Output(0, S(y_cols))
                .Note("column parallel: b [K,6] split by columns (its axis " + std::to_string(axes.b_cols) +
                      "): cpu:0 holds columns 0-2, cpu:1 columns 3-5; a [M,K] whole on both; each computes "
                      "its columns of y [M,6]")
                .Build());
  AddUnique(list,
            SignatureBuilder(2, 1)
                .Input(0, S(axes.a_contract))
                .Input(1, S(axes.b_contract))
                .Output(0, Sbp::PartialSum())
                .Note("row parallel: the contracted axis K=4 is split on both, cpu:0 holds a[:, 0:2] and "
                      "b[0:2, :], cpu:1 a[:, 2:4] and b[2:4, :]; y0 = a0 b0 and y1 = a1 b1 with y0 + y1 == y")
                .Build());
  AddUnique(list,
            SignatureBuilder(2, 1)
                .Input(0, Sbp::PartialSum())
                .Output(0, Sbp::PartialSum())
                .Note("a = a0 + a1 (a0 on cpu:0, a1 on cpu:1), b whole on both: a0 b + a1 b == a b, so y "
                      "is P")
                .Build());
  AddUnique(list,
            SignatureBuilder(2, 1)
                .Input(1, Sbp::PartialSum())
                .Output(0, Sbp::PartialSum())
                .Note("b = b0 + b1 (b0 on cpu:0, b1 on cpu:1), a whole on both: a b0 + a b1 == a b, so y "
                      "is P")
                .Build());
  return list;
}

// y = alpha op(a) op(b): d op(a) = alpha dy op(b)^T and d op(b) = alpha op(a)^T dy,
// written back through the transposes as one product each.
Status MatmulGrad(GradContext& ctx, const std::string& op) {
  const bool ta = ctx.attr().GetBool("transpose_a");
  const bool tb = ctx.attr().GetBool("transpose_b");
  const double alpha = ctx.attr().GetFloat("alpha");
  const ValueRef a = ctx.inputs[0], b = ctx.inputs[1], dy = ctx.output_grads[0];
  const auto product = [&](ValueRef left, ValueRef right, bool transpose_left, bool transpose_right) {
    return ctx.Emit1(op, {left, right},
                     {{"transpose_a", transpose_left}, {"transpose_b", transpose_right}, {"alpha", alpha}});
  };
  if (ctx.needs_input_grad[0]) {
    // ta: da = (alpha dy op(b)^T)^T = alpha op(b) dy^T.
    OFL_ASSIGN_OR_RETURN(ctx.input_grads[0], ta ? product(b, dy, tb, true) : product(dy, b, false, !tb));
  }
  if (ctx.needs_input_grad[1]) {
    // tb: db = (alpha op(a)^T dy)^T = alpha dy^T op(a).
    OFL_ASSIGN_OR_RETURN(ctx.input_grads[1], tb ? product(dy, a, true, ta) : product(a, dy, !ta, false));
  }
  return Status::Ok();
}

OpSchema MatmulSchema(bool batched) {
  OpSchema schema;
  schema.name = batched ? "batch_matmul" : "matmul";
  schema.doc = batched
                   ? "y[..., :, :] = alpha * op(a[...]) op(b[...]) per batch element (same batch dims, no "
                     "broadcasting); op transposes the two last axes when asked"
                   : "y = alpha * op(a) op(b), op transposes when asked";
  schema.inputs = {
      {"a", batched ? "[..., M, K] ([..., K, M] when transpose_a)" : "[M, K] ([K, M] when transpose_a)"},
      {"b", batched ? "[..., K, N] ([..., N, K] when transpose_b)" : "[K, N] ([N, K] when transpose_b)"}};
  schema.outputs = {{"y", batched ? "[..., M, N]" : "[M, N]"}};
  schema.attrs = {{"transpose_a", false, false, "use a transposed (its two last axes swapped)"},
                  {"transpose_b", false, false, "use b transposed (its two last axes swapped)"},
                  {"alpha", 1.0, false, "scale of the product"}};
  schema.infer = [batched](const OpView& op) { return InferMatmul(op, batched); };
  schema.sbp = MatmulSignatures;
  const std::string name = schema.name;
  schema.grad = [name](GradContext& ctx) { return MatmulGrad(ctx, name); };
  if (batched) {
    schema.example = {{{Shape{2, 4, 3}, DType::kF32}, {Shape{2, 3, 5}, DType::kF32}}, {}};
  } else {
    schema.example = {{{Shape{4, 3}, DType::kF32}, {Shape{3, 5}, DType::kF32}}, {}};
  }
  return schema;
}

}  // namespace

Status RegisterMatmulOps(OpRegistry& ops, KernelRegistry& kernels) {
  for (bool batched : {false, true}) {
    OpSchema schema = MatmulSchema(batched);
    const std::string name = schema.name;
    OFL_RETURN_IF_ERROR(ops.Register(std::move(schema)));
    OFL_RETURN_IF_ERROR(kernels.Register(KernelKey{name, DeviceType::kCPU, DType::kF32}, DnnlMatmulKernel()));
    OFL_RETURN_IF_ERROR(kernels.RegisterForDTypes(
        name, DeviceType::kCPU, {DType::kF64, DType::kF16, DType::kBF16}, LoopMatmulKernel()));
  }
  return RegisterBiasAddOp(ops, kernels);
}

}  // namespace ofl

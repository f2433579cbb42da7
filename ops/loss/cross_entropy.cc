// sparse_softmax_cross_entropy and its backward op. The loss is the mean
// over the LOGICAL batch, so batch-split pieces each add their share and
// the per-device losses sum to the logical loss (output Partial-sum).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "oneflow_like/parallel.h"
#include "ops/common/infer_helpers.h"
#include "ops/common/kernel_helpers.h"
#include "ops/elementwise/functors.h"
#include "ops/loss/loss.h"

namespace ofl {

namespace {

// The labels of input `input` as int64, each checked to lie in [0, classes);
// messages name the logical row (piece offset + local row).
StatusOr<std::vector<int64_t>> ReadLabels(const KernelContext& ctx, int input, int64_t classes) {
  const TensorArg& arg = ctx.inputs[input];
  std::vector<int64_t> labels(arg.blob.NumElements());
  const bool known = VisitDTypeIn(IndexTypes{}, arg.blob.dtype(), [&](auto tag) {
    using L = decltype(tag);
    const L* data = arg.blob.As<L>();
    for (size_t r = 0; r < labels.size(); ++r) labels[r] = static_cast<int64_t>(data[r]);
  });
  OFL_CHECK_OR_RETURN(known) << "[" << ctx.op_name << "] labels: expected dtype i32 or i64, got "
                             << DTypeName(arg.blob.dtype());
  const int64_t row_offset = arg.offset.empty() ? 0 : arg.offset[0];
  for (size_t r = 0; r < labels.size(); ++r) {
    OFL_CHECK_OR_RETURN(labels[r] >= 0 && labels[r] < classes)
        << "[" << ctx.op_name << "] labels: expected values in [0, " << classes << "), got " << labels[r]
        << " at row " << row_offset + static_cast<int64_t>(r);
  }
  return labels;
}

// Rows per parallel chunk: about 16K elements of work.
int64_t RowGrain(int64_t classes) {
  return std::max<int64_t>(1, (int64_t{1} << 14) / std::max<int64_t>(1, classes));
}

// The class axis must be whole on each device: the softmax needs every class.
Status ExpectWholeClasses(const KernelContext& ctx, int input) {
  const TensorArg& arg = ctx.inputs[input];
  OFL_CHECK_OR_RETURN(arg.blob.shape()[1] == arg.logical_shape[1])
      << "[" << ctx.op_name << "] " << (input == 0 ? "logits" : "prob") << ": expected all "
      << arg.logical_shape[1] << " classes on each device, got a piece with " << arg.blob.shape()[1];
  return Status::Ok();
}

// Per row: prob = softmax(logits), loss_r = log(sum exp(x - max)) + max - x[label];
// loss = sum of this piece's loss_r / N (N the logical batch).
KernelFactory CrossEntropyKernel() {
  return MakeFunctionKernel([](KernelContext& ctx) -> Status {
    OFL_RETURN_IF_ERROR(ExpectWholeClasses(ctx, 0));
    const int64_t rows = ctx.in(0).shape()[0];
    const int64_t classes = ctx.in(0).shape()[1];
    const int64_t logical_rows = ctx.inputs[0].logical_shape[0];
    OFL_ASSIGN_OR_RETURN(const std::vector<int64_t> labels, ReadLabels(ctx, 1, classes));
    return DispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
      using T = decltype(tag);
      using C = ComputeType<T>;
      const T* logits = ctx.in(0).As<T>();
      T* prob = ctx.out(1).As<T>();
      std::vector<C> row_loss(rows, C(0));
      const auto compute_row = [&](int64_t r) {
        const T* x = logits + r * classes;
        T* p = prob + r * classes;
        C max = -std::numeric_limits<C>::infinity();
        for (int64_t j = 0; j < classes; ++j) max = std::max(max, ToCompute<C>(x[j]));
        C sum = 0;
        for (int64_t j = 0; j < classes; ++j) sum += std::exp(ToCompute<C>(x[j]) - max);
        const C inverse = C(1) / sum;
        for (int64_t j = 0; j < classes; ++j) {
          p[j] = FromCompute<T>(std::exp(ToCompute<C>(x[j]) - max) * inverse);
        }
        row_loss[r] = std::log(sum) + max - ToCompute<C>(x[labels[r]]);
      };
      ParallelFor(rows, RowGrain(classes), [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) compute_row(r);
      });
      // Summed in row order so the result does not depend on the thread count.
      C total = 0;
      for (int64_t r = 0; r < rows; ++r) total += row_loss[r];
      ctx.out(0).As<T>()[0] = FromCompute<T>(logical_rows > 0 ? total / static_cast<C>(logical_rows) : C(0));
    });
  });
}

// dlogits = dloss / N * (prob - onehot(label)), N the logical batch.
KernelFactory CrossEntropyGradKernel() {
  return MakeFunctionKernel([](KernelContext& ctx) -> Status {
    OFL_RETURN_IF_ERROR(ExpectWholeClasses(ctx, 0));
    const int64_t rows = ctx.in(0).shape()[0];
    const int64_t classes = ctx.in(0).shape()[1];
    const int64_t logical_rows = ctx.inputs[0].logical_shape[0];
    OFL_ASSIGN_OR_RETURN(const std::vector<int64_t> labels, ReadLabels(ctx, 1, classes));
    return DispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
      using T = decltype(tag);
      using C = ComputeType<T>;
      const T* prob = ctx.in(0).As<T>();
      const C factor =
          ToCompute<C>(ctx.in(2).As<T>()[0]) / static_cast<C>(std::max<int64_t>(1, logical_rows));
      T* dlogits = ctx.out(0).As<T>();
      ParallelFor(rows, RowGrain(classes), [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          const int64_t base = r * classes;
          for (int64_t j = 0; j < classes; ++j) {
            const C hit = j == labels[r] ? C(1) : C(0);
            dlogits[base + j] = FromCompute<T>(factor * (ToCompute<C>(prob[base + j]) - hit));
          }
        }
      });
    });
  });
}

// Input `scores` is a floating [N, C] matrix and input `labels` an integer
// [N] vector.
Status CheckScoresAndLabels(const OpView& op, int scores, int labels) {
  OFL_RETURN_IF_ERROR(ExpectFloating(op, scores));
  OFL_RETURN_IF_ERROR(ExpectRank(op, scores, 2));
  OFL_RETURN_IF_ERROR(ExpectIndexType(op, labels));
  const Shape expected{op.in(scores).shape[0]};
  OFL_CHECK_OR_RETURN(op.in(labels).shape == expected)
      << op.Who(labels) << ": expected shape " << expected.ToString() << " (one label per row of "
      << op.input_names[scores] << "), got " << op.in(labels).shape.ToString();
  return Status::Ok();
}

OpSchema CrossEntropySchema() {
  OpSchema schema;
  schema.name = "sparse_softmax_cross_entropy";
  schema.doc = "loss = mean over rows of -log softmax(logits)[label]; also returns the softmax";
  schema.inputs = {{"logits", "unnormalised scores [N, C]"},
                   {"labels", "class of each row [N], i32 or i64, in [0, C)"}};
  schema.outputs = {{"loss", "scalar mean loss over the N rows"},
                    {"prob",
                     "softmax(logits) [N, C] (saved for backward; carries no gradient: use softmax for a "
                     "differentiable probability)"}};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_RETURN_IF_ERROR(CheckScoresAndLabels(op, 0, 1));
    return std::vector<TensorDesc>{{Shape{}, op.in(0).dtype}, op.in(0)};
  };
  schema.sbp = [](const OpView&) {
    std::vector<SbpSignature> list;
    AddUnique(list, SignatureBuilder(2, 2)
                        .Note("B: cpu:0 and cpu:1 both hold all rows and compute the whole loss and prob")
                        .Build());
    AddUnique(list,
              SignatureBuilder(2, 2)
                  .AllInputs(Sbp::Split(0))
                  .Output(0, Sbp::PartialSum())
                  .Output(1, Sbp::Split(0))
                  .Note("S(0), S(0) -> P, S(0): N = 4 rows, cpu:0 holds rows 0-1 of logits and labels, "
                        "cpu:1 rows 2-3; each computes (loss_0 + loss_1) / 4 over its rows, dividing by the "
                        "logical N, so the two scalars sum to the mean loss; prob stays split by rows")
                  .Build());
    return list;
  };
  schema.grad = [](GradContext& ctx) -> Status {
    if (!ctx.needs_input_grad[0]) return Status::Ok();
    OFL_ASSIGN_OR_RETURN(ctx.input_grads[0], ctx.Emit1("sparse_softmax_cross_entropy_grad",
                                                       {ctx.outputs[1], ctx.inputs[1], ctx.output_grads[0]}));
    return Status::Ok();
  };
  schema.example = {{{Shape{8, 10}, DType::kF32}, {Shape{8}, DType::kI64}}, {}};
  return schema;
}

OpSchema CrossEntropyGradSchema() {
  OpSchema schema;
  schema.name = "sparse_softmax_cross_entropy_grad";
  schema.doc = "dlogits = dloss / N * (prob - onehot(labels)), N the number of rows";
  schema.inputs = {{"prob", "softmax output of the forward op [N, C]"},
                   {"labels", "class of each row [N], i32 or i64"},
                   {"dloss", "scalar gradient of the loss"}};
  schema.outputs = {{"dlogits", "gradient of the logits [N, C]"}};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_RETURN_IF_ERROR(CheckScoresAndLabels(op, 0, 1));
    OFL_RETURN_IF_ERROR(ExpectRank(op, 2, 0));
    OFL_RETURN_IF_ERROR(ExpectSameDType(op, 0, 2));
    return std::vector<TensorDesc>{op.in(0)};
  };
  schema.sbp = [](const OpView&) {
    std::vector<SbpSignature> list;
    AddUnique(list, SignatureBuilder(3, 1)
                        .Note("B: cpu:0 and cpu:1 both hold all rows and compute the whole dlogits")
                        .Build());
    AddUnique(list,
              SignatureBuilder(3, 1)
                  .Input(0, Sbp::Split(0))
                  .Input(1, Sbp::Split(0))
                  .Output(0, Sbp::Split(0))
                  .Note("S(0), S(0), B -> S(0): N = 4 rows, cpu:0 holds rows 0-1 of prob and labels, cpu:1 "
                        "rows 2-3, dloss whole on both; each row's gradient needs only its row and the "
                        "logical N, so dlogits is split by rows")
                  .Build());
    AddUnique(list,
              SignatureBuilder(3, 1)
                  .Input(2, Sbp::PartialSum())
                  .Output(0, Sbp::PartialSum())
                  .Note("B, B, P -> P: dloss = d0 + d1 on cpu:0 and cpu:1, prob and labels whole on both; "
                        "dlogits is linear in dloss, so the two results sum to it")
                  .Build());
    return list;
  };
  schema.example = {{{Shape{8, 10}, DType::kF32}, {Shape{8}, DType::kI64}, {Shape{}, DType::kF32}}, {}};
  return schema;
}

}  // namespace

Status RegisterCrossEntropyOps(OpRegistry& ops, KernelRegistry& kernels) {
  const std::vector<DType> floats = DTypesOf(FloatTypes{});
  OFL_RETURN_IF_ERROR(ops.Register(CrossEntropySchema()));
  OFL_RETURN_IF_ERROR(kernels.RegisterForDTypes("sparse_softmax_cross_entropy", DeviceType::kCPU, floats,
                                                CrossEntropyKernel()));
  OFL_RETURN_IF_ERROR(ops.Register(CrossEntropyGradSchema()));
  OFL_RETURN_IF_ERROR(kernels.RegisterForDTypes("sparse_softmax_cross_entropy_grad", DeviceType::kCPU, floats,
                                                CrossEntropyGradKernel()));
  return Status::Ok();
}

}  // namespace ofl

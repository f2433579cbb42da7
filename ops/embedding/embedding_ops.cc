// embedding (row gather) and embedding_grad (scatter-add). Both support
// vocab parallelism: a device holding rows [offset, offset + rows) of the
// table serves only the indices in that range and contributes zeros for the
// rest, so the devices' outputs sum to the logical result.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "oneflow_like/parallel.h"
#include "ops/common/infer_helpers.h"
#include "ops/common/kernel_helpers.h"
#include "ops/elementwise/functors.h"
#include "ops/embedding/embedding.h"

namespace ofl {

namespace {

// The indices of input `input` as int64, each checked to lie in
// [0, vocabulary); messages give the flat position in the piece.
StatusOr<std::vector<int64_t>> ReadIndices(const KernelContext& ctx, int input, int64_t vocabulary) {
  const Blob& blob = ctx.in(input);
  std::vector<int64_t> indices(blob.NumElements());
  const bool known = VisitDTypeIn(IndexTypes{}, blob.dtype(), [&](auto tag) {
    using L = decltype(tag);
    const L* data = blob.As<L>();
    for (size_t i = 0; i < indices.size(); ++i) indices[i] = static_cast<int64_t>(data[i]);
  });
  OFL_CHECK_OR_RETURN(known) << "[" << ctx.op_name << "] indices: expected dtype i32 or i64, got "
                             << DTypeName(blob.dtype());
  for (size_t i = 0; i < indices.size(); ++i) {
    OFL_CHECK_OR_RETURN(indices[i] >= 0 && indices[i] < vocabulary)
        << "[" << ctx.op_name << "] indices: expected values in [0, " << vocabulary << "), got " << indices[i]
        << " at position " << i << " of this device's piece";
  }
  return indices;
}

// y[n, :] = weight[indices[n] - offset, :] when the row lies in this piece
// of the table, zeros otherwise. Kernel key: the dtype of weight.
KernelFactory EmbeddingKernel() {
  return MakeFunctionKernel([](KernelContext& ctx) -> Status {
    const TensorArg& weight_arg = ctx.inputs[0];
    const int64_t local_rows = weight_arg.blob.shape()[0];
    const int64_t width = weight_arg.blob.shape()[1];
    const int64_t row_offset = weight_arg.offset.empty() ? 0 : weight_arg.offset[0];
    OFL_ASSIGN_OR_RETURN(const std::vector<int64_t> indices,
                         ReadIndices(ctx, 1, weight_arg.logical_shape[0]));
    const size_t bytes = static_cast<size_t>(width) * SizeOf(weight_arg.blob.dtype());
    const auto* weight = static_cast<const std::byte*>(weight_arg.blob.data);
    auto* y = static_cast<std::byte*>(ctx.out(0).data);
    const int64_t count = static_cast<int64_t>(indices.size());
    ParallelFor(count, std::max<int64_t>(1, (int64_t{1} << 14) / std::max<int64_t>(1, width)),
                [&](int64_t begin, int64_t end) {
                  for (int64_t n = begin; n < end; ++n) {
                    const int64_t row = indices[n] - row_offset;
                    std::byte* out = y + n * bytes;
                    if (row >= 0 && row < local_rows) {
                      std::copy_n(weight + row * bytes, bytes, out);
                    } else {
                      // All-zero bytes are 0.0 in every float format.
                      std::fill_n(out, bytes, std::byte{0});
                    }
                  }
                });
    return Status::Ok();
  });
}

// dweight[v, :] = sum of dy[n, :] over n with indices[n] == v, for the rows
// v of this piece of dweight. Parallel over column blocks, so that no two
// threads add into one element. Kernel key: the dtype of indices.
KernelFactory EmbeddingGradKernel() {
  return MakeFunctionKernel([](KernelContext& ctx) -> Status {
    const TensorArg& out_arg = ctx.outputs[0];
    const int64_t local_rows = out_arg.blob.shape()[0];
    const int64_t width = out_arg.blob.shape()[1];
    const int64_t row_offset = out_arg.offset.empty() ? 0 : out_arg.offset[0];
    OFL_ASSIGN_OR_RETURN(const std::vector<int64_t> indices,
                         ReadIndices(ctx, 0, ctx.attr().GetInt("num_embeddings")));
    return DispatchOr(ctx, FloatTypes{}, ctx.in(1).dtype(), [&](auto tag) {
      using T = decltype(tag);
      using C = ComputeType<T>;
      const T* dy = ctx.in(1).As<T>();
      T* dweight = out_arg.blob.As<T>();
      ParallelFor(width, 64, [&](int64_t begin, int64_t end) {
        const int64_t block = end - begin;
        // f32 and f64 add straight into dweight; f16 and bf16 add into a
        // float buffer and round once at the end.
        std::vector<C> buffer;
        if constexpr (!std::is_same_v<T, C>) buffer.assign(static_cast<size_t>(local_rows * block), C(0));
        auto target_row = [&](int64_t row) -> C* {
          if constexpr (std::is_same_v<T, C>) {
            return dweight + row * width + begin;
          } else {
            return buffer.data() + row * block;
          }
        };
        if constexpr (std::is_same_v<T, C>) {
          for (int64_t row = 0; row < local_rows; ++row) std::fill_n(target_row(row), block, C(0));
        }
        for (size_t n = 0; n < indices.size(); ++n) {
          const int64_t row = indices[n] - row_offset;
          if (row < 0 || row >= local_rows) continue;
          const T* source = dy + static_cast<int64_t>(n) * width + begin;
          C* target = target_row(row);
          for (int64_t j = 0; j < block; ++j) target[j] += ToCompute<C>(source[j]);
        }
        if constexpr (!std::is_same_v<T, C>) {
          for (int64_t row = 0; row < local_rows; ++row) {
            for (int64_t j = 0; j < block; ++j) {
              dweight[row * width + begin + j] = FromCompute<T>(buffer[row * block + j]);
            }
          }
        }
      });
    });
  });
}

std::vector<SbpSignature> EmbeddingSignatures(const OpView& op) {
  const int index_rank = op.in(1).shape.rank();
  std::vector<SbpSignature> list;
  AddUnique(list,
            SignatureBuilder(2, 1)
                .Note("B: cpu:0 and cpu:1 both hold the table and the indices whole and gather every row")
                .Build());
  for (int k = 0; k < index_rank; ++k) {
    AddUnique(list,
              SignatureBuilder(2, 1)
                  .Input(1, Sbp::Split(k))
                  .Output(0, Sbp::Split(k))
                  .Note("B, S(" + std::to_string(k) + ") -> S(" + std::to_string(k) +
                        "): data parallel; "
                        "indices [4, 8]: cpu:0 holds the first half of axis " +
                        std::to_string(k) +
                        " of the indices, cpu:1 the second, both the whole table; each gathers its rows")
                  .Build());
  }
  AddUnique(list,
            SignatureBuilder(2, 1)
                .Input(0, Sbp::Split(1))
                .Output(0, Sbp::Split(index_rank))
                .Note("S(1), B -> S(" + std::to_string(index_rank) +
                      "): table [V, 8]: cpu:0 holds columns "
                      "0-3 of every row, cpu:1 columns 4-7, both all indices; each gathers its columns, so "
                      "the output is split along its last axis")
                .Build());
  AddUnique(list,
            SignatureBuilder(2, 1)
                .Input(0, Sbp::Split(0))
                .Output(0, Sbp::PartialSum())
                .Note("S(0), B -> P: vocab parallel; table [10, D]: cpu:0 holds rows 0-4, cpu:1 rows 5-9, "
                      "both all indices; index 7 gives zeros on cpu:0 and row 7 - 5 = 2 of its piece on "
                      "cpu:1, so the two outputs sum to the gathered rows")
                .Build());
  return list;
}

std::vector<SbpSignature> EmbeddingGradSignatures(const OpView& op) {
  const int index_rank = op.in(0).shape.rank();
  std::vector<SbpSignature> list;
  AddUnique(list, SignatureBuilder(2, 1)
                      .Note("B: cpu:0 and cpu:1 both hold indices and dy whole and compute the whole dweight")
                      .Build());
  for (int k = 0; k < index_rank; ++k) {
    AddUnique(list,
              SignatureBuilder(2, 1)
                  .AllInputs(Sbp::Split(k))
                  .Output(0, Sbp::PartialSum())
                  .Note("S(" + std::to_string(k) + "), S(" + std::to_string(k) +
                        ") -> P: data parallel; "
                        "cpu:0 holds the first half of axis " +
                        std::to_string(k) +
                        " of indices and dy, "
                        "cpu:1 the second; each scatter-adds its own rows into a whole dweight, and the two "
                        "sum to the logical dweight")
                  .Build());
  }
  AddUnique(list, SignatureBuilder(2, 1)
                      .Input(1, Sbp::Split(index_rank))
                      .Output(0, Sbp::Split(1))
                      .Note("B, S(" + std::to_string(index_rank) +
                            ") -> S(1): dy [N, 8]: cpu:0 holds columns 0-3, "
                            "cpu:1 columns 4-7, both all indices; each scatters its columns of dweight")
                      .Build());
  AddUnique(list,
            SignatureBuilder(2, 1)
                .Output(0, Sbp::Split(0))
                .Note("B, B -> S(0): vocab parallel; dweight [10, D]: cpu:0 computes rows 0-4 and cpu:1 rows "
                      "5-9, each keeping only the indices in its range (index 7 adds to row 7 - 5 = 2 of "
                      "cpu:1's piece)")
                .Build());
  AddUnique(list,
            SignatureBuilder(2, 1)
                .Input(1, Sbp::PartialSum())
                .Output(0, Sbp::PartialSum())
                .Note("B, P -> P: dy = dy0 + dy1 on cpu:0 and cpu:1, indices whole on both; the scatter-add "
                      "is linear in dy, so the two dweights sum to the logical one")
                .Build());
  return list;
}

OpSchema EmbeddingSchema() {
  OpSchema schema;
  schema.name = "embedding";
  schema.doc = "y[..., :] = weight[indices[...], :] (row gather)";
  schema.inputs = {{"weight", "table [V, D]"}, {"indices", "row numbers, any shape, i32 or i64, in [0, V)"}};
  schema.outputs = {{"y", "gathered rows, shaped indices.shape + [D]"}};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_RETURN_IF_ERROR(ExpectFloating(op, 0));
    OFL_RETURN_IF_ERROR(ExpectRank(op, 0, 2));
    OFL_RETURN_IF_ERROR(ExpectIndexType(op, 1));
    std::vector<int64_t> dims = op.in(1).shape.dims();
    dims.push_back(op.in(0).shape[1]);
    return std::vector<TensorDesc>{{Shape(std::move(dims)), op.in(0).dtype}};
  };
  schema.sbp = EmbeddingSignatures;
  schema.grad = [](GradContext& ctx) -> Status {
    if (!ctx.needs_input_grad[0]) return Status::Ok();
    const int64_t vocabulary = ctx.Desc(ctx.inputs[0]).shape[0];
    OFL_ASSIGN_OR_RETURN(ctx.input_grads[0], ctx.Emit1("embedding_grad", {ctx.inputs[1], ctx.output_grads[0]},
                                                       {{"num_embeddings", vocabulary}}));
    return Status::Ok();
  };
  schema.example = {{{Shape{1000, 64}, DType::kF32}, {Shape{4, 16}, DType::kI64}}, {}};
  return schema;
}

OpSchema EmbeddingGradSchema() {
  OpSchema schema;
  schema.name = "embedding_grad";
  schema.doc = "dweight[v, :] = sum of dy[n, :] over the n with indices[n] == v (scatter-add)";
  schema.inputs = {{"indices", "row numbers of the forward op, i32 or i64"},
                   {"dy", "gradient of the forward output, shaped indices.shape + [D]"}};
  schema.outputs = {{"dweight", "gradient of the table [num_embeddings, D]"}};
  schema.attrs = {{"num_embeddings", int64_t{0}, true, "V, the number of rows of the table"}};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_RETURN_IF_ERROR(ExpectIndexType(op, 0));
    OFL_RETURN_IF_ERROR(ExpectFloating(op, 1));
    const Shape& indices = op.in(0).shape;
    const Shape& dy = op.in(1).shape;
    OFL_CHECK_OR_RETURN(dy.rank() == indices.rank() + 1 &&
                        std::equal(indices.dims().begin(), indices.dims().end(), dy.dims().begin()))
        << op.Who(1) << ": expected shape indices.shape + [D] = " << indices.ToString() << " + [D], got "
        << dy.ToString();
    const int64_t vocabulary = op.attrs.GetInt("num_embeddings");
    OFL_CHECK_OR_RETURN(vocabulary > 0)
        << op.Who() << " attribute num_embeddings: expected a value > 0, got " << vocabulary;
    return std::vector<TensorDesc>{{Shape{vocabulary, dy[dy.rank() - 1]}, op.in(1).dtype}};
  };
  schema.sbp = EmbeddingGradSignatures;
  schema.example = {{{Shape{4, 16}, DType::kI64}, {Shape{4, 16, 64}, DType::kF32}},
                    {{"num_embeddings", int64_t{1000}}}};
  return schema;
}

}  // namespace

Status RegisterEmbeddingOps(OpRegistry& ops, KernelRegistry& kernels) {
  OFL_RETURN_IF_ERROR(ops.Register(EmbeddingSchema()));
  OFL_RETURN_IF_ERROR(
      kernels.RegisterForDTypes("embedding", DeviceType::kCPU, DTypesOf(FloatTypes{}), EmbeddingKernel()));
  OFL_RETURN_IF_ERROR(ops.Register(EmbeddingGradSchema()));
  // Keyed by the dtype of input 0 (indices); the kernel dispatches on dy.
  return kernels.RegisterForDTypes("embedding_grad", DeviceType::kCPU, DTypesOf(IndexTypes{}),
                                   EmbeddingGradKernel());
}

}  // namespace ofl

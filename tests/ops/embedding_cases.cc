// Cases of the embedding family: embedding (i64 and i32 indices, rank 1 and
// 2, repeated indices) and embedding_grad.
#include "tests/testing/op_test_case.h"

namespace ofl::testing {

namespace {

OpTestCase Embedding(Shape indices, DType index_dtype, const std::string& variant = "") {
  OpTestCase c;
  c.name = variant.empty() ? "embedding" : "embedding/" + variant;
  c.op = "embedding";
  InputSpec index_spec{TensorDesc{indices, index_dtype}, 0, 7};
  index_spec.differentiable = false;
  c.inputs = {{F32({7, 3})}, index_spec};
  c.reference = [](const std::vector<HostTensor>& in, const AttrMap&) {
    const int64_t width = in[0].shape()[1];
    std::vector<int64_t> dims = in[1].shape().dims();
    dims.push_back(width);
    HostTensor y(TensorDesc{Shape(dims), in[0].dtype()});
    for (int64_t n = 0; n < in[1].NumElements(); ++n) {
      const int64_t row = static_cast<int64_t>(in[1].GetAsDouble(n));
      for (int64_t j = 0; j < width; ++j) y.SetFromDouble(n * width + j, in[0].GetAsDouble(row * width + j));
    }
    return std::vector<HostTensor>{y};
  };
  c.bad_inputs = {{{F32({7, 3}), F32({4})}, {}, "indices: expected dtype i32 or i64, got f32"},
                  {{F32({7}), I64({4})}, {}, "weight: expected rank 2"},
                  {{I64({7, 3}), I64({4})}, {}, "weight: expected a floating-point dtype"}};
  c.bad_values = {{{{F32({7, 3})}, {TensorDesc{indices, index_dtype}, 0, 0, std::vector<double>{7}}},
                   {},
                   "indices: expected values in [0, 7), got 7"}};
  return c;
}

OpTestCase EmbeddingGrad(Shape indices, DType index_dtype, const std::string& variant = "") {
  OpTestCase c;
  c.name = variant.empty() ? "embedding_grad" : "embedding_grad/" + variant;
  c.op = "embedding_grad";
  std::vector<int64_t> dy_dims = indices.dims();
  dy_dims.push_back(3);
  // Six rows, fewer than the indices, so some rows receive several additions.
  c.inputs = {{TensorDesc{indices, index_dtype}, 0, 6}, {F32(Shape(dy_dims))}};
  c.attrs = {{"num_embeddings", int64_t{6}}};
  c.reference = [](const std::vector<HostTensor>& in, const AttrMap& attrs) {
    const int64_t vocabulary = attrs.GetInt("num_embeddings");
    const int64_t width = in[1].shape()[in[1].shape().rank() - 1];
    HostTensor dweight(TensorDesc{Shape{vocabulary, width}, in[1].dtype()});
    for (int64_t n = 0; n < in[0].NumElements(); ++n) {
      const int64_t row = static_cast<int64_t>(in[0].GetAsDouble(n));
      for (int64_t j = 0; j < width; ++j) {
        dweight.SetFromDouble(row * width + j,
                              dweight.GetAsDouble(row * width + j) + in[1].GetAsDouble(n * width + j));
      }
    }
    return std::vector<HostTensor>{dweight};
  };
  c.check_grad = false;
  c.bad_inputs = {
      {{I64({4}), F32({4, 3})}, {}, "attribute num_embeddings: expected a value"},
      {{I64({4}), F32({5, 3})}, {{"num_embeddings", int64_t{6}}}, "dy: expected shape indices.shape + [D]"},
      {{I64({4}), F32({4, 3})}, {{"num_embeddings", int64_t{0}}}, "num_embeddings: expected a value > 0"},
      {{F32({4}), F32({4, 3})}, {{"num_embeddings", int64_t{6}}}, "indices: expected dtype i32 or i64"}};
  c.bad_values = {{{{TensorDesc{indices, index_dtype}, 0, 0, std::vector<double>{-2}}, {F32(Shape(dy_dims))}},
                   {{"num_embeddings", int64_t{6}}},
                   "indices: expected values in [0, 6), got -2"}};
  return c;
}

}  // namespace

std::vector<OpTestCase> EmbeddingCases() {
  std::vector<OpTestCase> cases;
  cases.push_back(Embedding({5}, DType::kI64));
  cases.push_back(Embedding({2, 4}, DType::kI32, "i32_rank2"));
  // Every index the same row: the gradient adds all dy rows into one row.
  OpTestCase repeated = Embedding({4}, DType::kI64, "repeated");
  repeated.inputs[1].values = std::vector<double>{2, 2, 2, 2};
  cases.push_back(repeated);
  cases.push_back(EmbeddingGrad({5}, DType::kI64));
  cases.push_back(EmbeddingGrad({2, 4}, DType::kI32, "i32_rank2"));
  return cases;
}

}  // namespace ofl::testing

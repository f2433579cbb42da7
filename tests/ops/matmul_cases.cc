// Cases of the matmul family: matmul, batch_matmul, bias_add.
#include "tests/testing/op_test_case.h"

namespace ofl::testing {

namespace {

// An input drawn uniformly from [-1, 1).
InputSpec Uniform(TensorDesc desc) {
  InputSpec spec;
  spec.desc = std::move(desc);
  return spec;
}

// y[..., i, j] = alpha * sum_k A(i, k) B(k, j) with A = a or a^T and B = b or
// b^T per batch element, in double, straight from the definition.
HostTensor ProductReference(const HostTensor& a, const HostTensor& b, bool transpose_a, bool transpose_b,
                            double alpha) {
  const Shape& as = a.shape();
  const Shape& bs = b.shape();
  const int rank = as.rank();
  const int64_t m = transpose_a ? as[rank - 1] : as[rank - 2];
  const int64_t k = transpose_a ? as[rank - 2] : as[rank - 1];
  const int64_t n = transpose_b ? bs[rank - 2] : bs[rank - 1];
  std::vector<int64_t> dims(as.dims().begin(), as.dims().end() - 2);
  int64_t batch = 1;
  for (int64_t d : dims) batch *= d;
  dims.push_back(m);
  dims.push_back(n);
  HostTensor y(TensorDesc{Shape(dims), a.dtype()});
  for (int64_t p = 0; p < batch; ++p) {
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double sum = 0;
        for (int64_t kk = 0; kk < k; ++kk) {
          const double av = a.GetAsDouble(p * m * k + (transpose_a ? kk * m + i : i * k + kk));
          const double bv = b.GetAsDouble(p * k * n + (transpose_b ? j * k + kk : kk * n + j));
          sum += av * bv;
        }
        y.SetFromDouble(p * m * n + i * n + j, alpha * sum);
      }
    }
  }
  return y;
}

OpTestCase Product(const std::string& op, const std::string& variant, TensorDesc a, TensorDesc b,
                   bool transpose_a = false, bool transpose_b = false, double alpha = 1.0) {
  OpTestCase c;
  c.name = variant.empty() ? op : op + "/" + variant;
  c.op = op;
  c.inputs = {Uniform(a), Uniform(b)};
  c.attrs = {{"transpose_a", transpose_a}, {"transpose_b", transpose_b}, {"alpha", alpha}};
  c.reference = [](const std::vector<HostTensor>& in, const AttrMap& attrs) {
    return std::vector<HostTensor>{ProductReference(in[0], in[1], attrs.GetBool("transpose_a"),
                                                    attrs.GetBool("transpose_b"), attrs.GetFloat("alpha"))};
  };
  return c;
}

// y[o, c, i] = x[o, c, i] + bias[c] around the normalised axis.
HostTensor BiasAddReference(const HostTensor& x, const HostTensor& bias, int64_t axis_attr) {
  const Shape& s = x.shape();
  const int axis = static_cast<int>(axis_attr < 0 ? axis_attr + s.rank() : axis_attr);
  int64_t inner = 1;
  for (int k = axis + 1; k < s.rank(); ++k) inner *= s[k];
  HostTensor y(x.desc());
  for (int64_t i = 0; i < x.NumElements(); ++i) {
    const int64_t channel = (i / inner) % s[axis];
    y.SetFromDouble(i, x.GetAsDouble(i) + bias.GetAsDouble(channel));
  }
  return y;
}

OpTestCase BiasAdd(const std::string& variant, TensorDesc x, int64_t axis) {
  const int rank = x.shape.rank();
  const int normalised = static_cast<int>(axis < 0 ? axis + rank : axis);
  OpTestCase c;
  c.name = variant.empty() ? "bias_add" : "bias_add/" + variant;
  c.op = "bias_add";
  c.inputs = {Uniform(x), Uniform(TensorDesc{Shape{x.shape[normalised]}, x.dtype})};
  c.attrs = {{"axis", axis}};
  c.reference = [](const std::vector<HostTensor>& in, const AttrMap& attrs) {
    return std::vector<HostTensor>{BiasAddReference(in[0], in[1], attrs.GetInt("axis"))};
  };
  return c;
}

}  // namespace

std::vector<OpTestCase> MatmulCases() {
  std::vector<OpTestCase> cases;
  const TensorDesc f64_a{Shape{4, 3}, DType::kF64}, f64_b{Shape{3, 5}, DType::kF64};
  const TensorDesc bf16_a{Shape{4, 6}, DType::kBF16}, bf16_b{Shape{6, 5}, DType::kBF16};

  OpTestCase plain = Product("matmul", "", F32({4, 3}), F32({3, 5}));
  plain.bad_inputs = {
      {{F32({4, 3}), F32({4, 5})}, {}, "b: expected shape[0] = 3 (the contracted extent of a"},
      {{F32({4, 3}), F32({3, 5})}, {{"transpose_a", true}}, "b: expected shape[0] = 4"},
      {{F32({4, 3}), F32({3, 5})}, {{"transpose_b", true}}, "b: expected shape[1] = 3"},
      {{F32({2, 4, 3}), F32({3, 5})}, {}, "a: expected rank 2, got rank 3"},
      {{F32({4, 3}), F32({3})}, {}, "b: expected rank 2, got rank 1"},
      {{F32({4, 3}), TensorDesc{Shape{3, 5}, DType::kF64}}, {}, "b: expected dtype f32"},
      {{I64({4, 3}), I64({3, 5})}, {}, "a: expected a floating-point dtype"},
      {{F32({4, 3}), F32({3, 5})}, {{"alpha", std::string("2")}}, "attribute alpha: expected float"},
      {{F32({4, 3})}, {}, "inputs: expected 2, got 1"}};
  cases.push_back(plain);
  cases.push_back(Product("matmul", "transpose_a", F32({3, 4}), F32({3, 5}), true, false));
  cases.push_back(Product("matmul", "transpose_b", F32({4, 3}), F32({5, 3}), false, true));
  cases.push_back(Product("matmul", "transpose_both_alpha", F32({3, 4}), F32({5, 3}), true, true, -0.75));
  cases.push_back(Product("matmul", "alpha", F32({5, 4}), F32({4, 3}), false, false, 2.5));
  // 2 rows and 2 columns over 3 devices leave one empty piece; K = 1 over 2+
  // devices leaves empty contractions.
  cases.push_back(Product("matmul", "tiny_uneven", F32({2, 1}), F32({1, 2})));
  cases.push_back(Product("matmul", "wide", F32({7, 33}), F32({33, 9})));
  OpTestCase f64 = Product("matmul", "f64", f64_a, f64_b, false, true, 1.5);
  f64.inputs[1].desc.shape = Shape{5, 3};
  f64.check_grad = false;
  cases.push_back(f64);
  OpTestCase bf16 = Product("matmul", "bf16", bf16_a, bf16_b);
  // bf16 keeps 8 significant bits; the reference sees the same rounded inputs
  // but the kernel also rounds y. The SBP check is left to the f32 and f64
  // cases: its Partial pieces are random splits rounded to bf16 each, whose
  // rounding error (not the kernel's) exceeds any useful tolerance.
  bf16.rtol = 1e-2;
  bf16.atol = 1e-2;
  bf16.check_grad = false;
  bf16.check_sbp = false;
  cases.push_back(bf16);

  OpTestCase batch = Product("batch_matmul", "", F32({2, 3, 4}), F32({2, 4, 5}));
  batch.bad_inputs = {
      {{F32({2, 3, 4}), F32({3, 4, 5})}, {}, "b: expected batch dims [2] (those of a), got [3]"},
      {{F32({2, 3, 4}), F32({4, 5})}, {}, "b: expected rank 3 (the rank of a), got rank 2"},
      {{F32({2, 3, 4}), F32({2, 3, 5})}, {}, "b: expected shape[1] = 4"},
      {{F32({3})}, {}, "inputs: expected 2, got 1"},
      {{F32({3}), F32({3})}, {}, "a: expected rank >= 2, got rank 1"}};
  cases.push_back(batch);
  cases.push_back(Product("batch_matmul", "transpose_a", F32({3, 4, 2}), F32({3, 4, 3}), true, false, 0.5));
  cases.push_back(Product("batch_matmul", "transpose_b", F32({2, 3, 4}), F32({2, 5, 4}), false, true));
  cases.push_back(
      Product("batch_matmul", "rank4_transpose_both", F32({2, 3, 2, 3}), F32({2, 3, 4, 2}), true, true));
  OpTestCase batch_f64 = Product("batch_matmul", "f64", TensorDesc{Shape{2, 3, 2}, DType::kF64},
                                 TensorDesc{Shape{2, 2, 4}, DType::kF64});
  batch_f64.check_grad = false;
  cases.push_back(batch_f64);

  OpTestCase bias = BiasAdd("", F32({4, 3}), -1);
  bias.bad_inputs = {{{F32({4, 3}), F32({4})}, {}, "bias: expected shape [3] (x.shape[1]"},
                     {{F32({4, 3}), F32({1, 3})}, {}, "bias: expected rank 1, got rank 2"},
                     {{F32({4, 3}), F32({3})}, {{"axis", int64_t{2}}}, "attribute axis"},
                     {{F32({4, 3}), TensorDesc{Shape{3}, DType::kF64}}, {}, "bias: expected dtype f32"},
                     {{I64({4, 3}), I64({3})}, {}, "x: expected a floating-point dtype"}};
  cases.push_back(bias);
  cases.push_back(BiasAdd("nchw_channels", F32({2, 3, 2, 2}), 1));
  cases.push_back(BiasAdd("first_axis", F32({3, 5}), 0));
  // Rank 1: the bias gradient is dy itself (no reduction).
  cases.push_back(BiasAdd("rank1", F32({5}), 0));
  OpTestCase bias_f16 = BiasAdd("f16", TensorDesc{Shape{4, 3}, DType::kF16}, -1);
  bias_f16.rtol = 1e-3;
  bias_f16.atol = 1e-3;
  bias_f16.check_grad = false;
  cases.push_back(bias_f16);
  return cases;
}

}  // namespace ofl::testing

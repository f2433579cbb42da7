// Cases of the loss family: sparse_softmax_cross_entropy (i64 and i32
// labels), its backward op, and mse_loss.
#include <cmath>

#include "tests/testing/op_test_case.h"

namespace ofl::testing {

namespace {

OpTestCase CrossEntropy(DType label_dtype, const std::string& variant = "") {
  OpTestCase c;
  c.name = variant.empty() ? "sparse_softmax_cross_entropy" : "sparse_softmax_cross_entropy/" + variant;
  c.op = "sparse_softmax_cross_entropy";
  InputSpec labels{TensorDesc{Shape{5}, label_dtype}, 0, 4};
  labels.differentiable = false;
  c.inputs = {{F32({5, 4}), -2, 2}, labels};
  c.reference = [](const std::vector<HostTensor>& in, const AttrMap&) {
    const int64_t rows = in[0].shape()[0], classes = in[0].shape()[1];
    HostTensor loss(TensorDesc{Shape{}, in[0].dtype()});
    HostTensor prob(in[0].desc());
    double total = 0;
    for (int64_t r = 0; r < rows; ++r) {
      double denominator = 0;
      for (int64_t j = 0; j < classes; ++j) denominator += std::exp(in[0].GetAsDouble(r * classes + j));
      for (int64_t j = 0; j < classes; ++j) {
        prob.SetFromDouble(r * classes + j, std::exp(in[0].GetAsDouble(r * classes + j)) / denominator);
      }
      const int64_t label = static_cast<int64_t>(in[1].GetAsDouble(r));
      total += -std::log(std::exp(in[0].GetAsDouble(r * classes + label)) / denominator);
    }
    loss.SetFromDouble(0, total / rows);
    return std::vector<HostTensor>{loss, prob};
  };
  c.grad_outputs = {0};  // prob is saved for the backward and carries no gradient
  c.bad_inputs = {
      {{F32({5, 4}), I64({4})}, {}, "labels: expected shape [5] (one label per row of logits), got [4]"},
      {{F32({5, 4}), F32({5})}, {}, "labels: expected dtype i32 or i64, got f32"},
      {{F32({5, 4, 2}), I64({5})}, {}, "logits: expected rank 2"},
      {{I64({5, 4}), I64({5})}, {}, "logits: expected a floating-point dtype"}};
  c.bad_values = {{{{F32({5, 4})}, {TensorDesc{Shape{5}, label_dtype}, 0, 0, std::vector<double>{0, 1, 4, 2, 3}}},
                   {},
                   "labels: expected values in [0, 4), got 4 at row 2"},
                  {{{F32({5, 4})}, {TensorDesc{Shape{5}, label_dtype}, 0, 0, std::vector<double>{0, 1, 2, 3, -1}}},
                   {},
                   "got -1 at row 4"}};
  return c;
}

OpTestCase CrossEntropyGrad() {
  OpTestCase c;
  c.name = "sparse_softmax_cross_entropy_grad";
  c.op = "sparse_softmax_cross_entropy_grad";
  c.inputs = {{F32({6, 3}), 0, 1}, {I64({6}), 0, 3}, {F32({}), 0.5, 2}};
  c.reference = [](const std::vector<HostTensor>& in, const AttrMap&) {
    const int64_t rows = in[0].shape()[0], classes = in[0].shape()[1];
    HostTensor dlogits(in[0].desc());
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t j = 0; j < classes; ++j) {
        const double onehot = static_cast<int64_t>(in[1].GetAsDouble(r)) == j ? 1.0 : 0.0;
        dlogits.SetFromDouble(r * classes + j,
                              in[2].GetAsDouble(0) / rows * (in[0].GetAsDouble(r * classes + j) - onehot));
      }
    }
    return std::vector<HostTensor>{dlogits};
  };
  c.check_grad = false;
  c.bad_inputs = {
      {{F32({6, 3}), I64({6}), F32({1})}, {}, "dloss: expected rank 0"},
      {{F32({6, 3}), I64({6}), TensorDesc{Shape{}, DType::kF64}}, {}, "dloss: expected dtype f32"},
      {{F32({6, 3}), I64({3}), F32({})}, {}, "labels: expected shape [6]"}};
  c.bad_values = {{{{F32({6, 3})}, {I64({6}), 0, 0, std::vector<double>{0, 1, 2, 3, 0, 1}}, {F32({})}},
                   {},
                   "labels: expected values in [0, 3), got 3 at row 3"}};
  return c;
}

OpTestCase MseLoss(Shape shape, const std::string& variant = "") {
  OpTestCase c;
  c.name = variant.empty() ? "mse_loss" : "mse_loss/" + variant;
  c.op = "mse_loss";
  c.inputs = {{F32(shape)}, {F32(shape)}};
  c.reference = [](const std::vector<HostTensor>& in, const AttrMap&) {
    double total = 0;
    for (int64_t i = 0; i < in[0].NumElements(); ++i) {
      total += std::pow(in[0].GetAsDouble(i) - in[1].GetAsDouble(i), 2);
    }
    HostTensor loss(TensorDesc{Shape{}, in[0].dtype()});
    loss.SetFromDouble(0, total / in[0].NumElements());
    return std::vector<HostTensor>{loss};
  };
  c.bad_inputs = {{{F32({4, 3}), F32({4, 2})}, {}, "target: expected shape [4, 3]"},
                  {{F32({4, 3}), TensorDesc{Shape{4, 3}, DType::kF64}}, {}, "target: expected dtype f32"},
                  {{I64({4}), I64({4})}, {}, "pred: expected a floating-point dtype"},
                  {{F32({0, 3}), F32({0, 3})}, {}, "pred: expected at least one element"}};
  return c;
}

}  // namespace

std::vector<OpTestCase> LossCases() {
  std::vector<OpTestCase> cases;
  cases.push_back(CrossEntropy(DType::kI64));
  cases.push_back(CrossEntropy(DType::kI32, "i32_labels"));
  cases.push_back(CrossEntropyGrad());
  cases.push_back(MseLoss({4, 3}));
  cases.push_back(MseLoss({2, 3, 2}, "rank3"));
  return cases;
}

}  // namespace ofl::testing

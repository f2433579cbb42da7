// Cases of the norm family: layer_norm (one and two normalised axes, and
// all axes), rms_norm, and their backward ops.
#include <cmath>

#include "tests/testing/op_test_case.h"

namespace ofl::testing {

namespace {

// [rows, cols] of a shape normalised from axis `begin` on.
std::pair<int64_t, int64_t> RowsCols(const Shape& shape, int64_t begin) {
  if (begin < 0) begin += shape.rank();
  int64_t rows = 1, cols = 1;
  for (int k = 0; k < shape.rank(); ++k) (k < begin ? rows : cols) *= shape[k];
  return {rows, cols};
}

Shape Leading(const Shape& shape, int64_t begin) {
  if (begin < 0) begin += shape.rank();
  return Shape(std::vector<int64_t>(shape.dims().begin(), shape.dims().begin() + begin));
}

Shape Trailing(const Shape& shape, int64_t begin) {
  if (begin < 0) begin += shape.rank();
  return Shape(std::vector<int64_t>(shape.dims().begin() + begin, shape.dims().end()));
}

// ---- layer_norm ------------------------------------------------------------

OpTestCase LayerNorm(Shape shape, int64_t begin, const std::string& variant = "") {
  OpTestCase c;
  c.name = variant.empty() ? "layer_norm" : "layer_norm/" + variant;
  c.op = "layer_norm";
  const Shape param = Trailing(shape, begin);
  c.inputs = {{F32(shape), -2, 2}, {F32(param), 0.5, 1.5}, {F32(param)}};
  c.attrs = {{"begin_norm_axis", begin}, {"epsilon", 1e-5}};
  c.reference = [](const std::vector<HostTensor>& in, const AttrMap& attrs) {
    const int64_t begin = attrs.GetInt("begin_norm_axis");
    const double epsilon = attrs.GetFloat("epsilon");
    const auto [rows, cols] = RowsCols(in[0].shape(), begin);
    HostTensor y(in[0].desc());
    HostTensor mean(TensorDesc{Leading(in[0].shape(), begin), in[0].dtype()});
    HostTensor inv_std(mean.desc());
    for (int64_t r = 0; r < rows; ++r) {
      double m = 0, v = 0;
      for (int64_t j = 0; j < cols; ++j) m += in[0].GetAsDouble(r * cols + j) / cols;
      for (int64_t j = 0; j < cols; ++j) v += std::pow(in[0].GetAsDouble(r * cols + j) - m, 2) / cols;
      const double s = 1 / std::sqrt(v + epsilon);
      for (int64_t j = 0; j < cols; ++j) {
        y.SetFromDouble(r * cols + j, (in[0].GetAsDouble(r * cols + j) - m) * s * in[1].GetAsDouble(j) +
                                          in[2].GetAsDouble(j));
      }
      mean.SetFromDouble(r, m);
      inv_std.SetFromDouble(r, s);
    }
    return std::vector<HostTensor>{y, mean, inv_std};
  };
  c.rtol = 1e-4;
  c.atol = 1e-5;
  c.grad_outputs = {0};  // mean and inv_std are saved statistics without a gradient
  c.bad_inputs = {
      {{F32({4, 6}), F32({5}), F32({6})}, {}, "gamma: expected shape [6] (x.shape[1:]), got [5]"},
      {{F32({4, 6}), F32({6}), F32({4, 6})}, {}, "beta: expected shape [6]"},
      {{F32({4, 6}), F32({6}), TensorDesc{Shape{6}, DType::kF64}}, {}, "beta: expected dtype f32"},
      {{I64({4, 6}), I64({6}), I64({6})}, {}, "x: expected a floating-point dtype"},
      {{F32({4, 6}), F32({6}), F32({6})}, {{"begin_norm_axis", int64_t{2}}}, "attribute begin_norm_axis"},
      {{F32({4, 6}), F32({6}), F32({6})}, {{"epsilon", -1.0}}, "attribute epsilon: expected a value >= 0"}};
  return c;
}

// Inputs dy, x, mean, inv_std, gamma for a layer_norm backward op; the
// statistics are independent random values (the kernels must use them as
// given, not recompute them).
std::vector<InputSpec> LayerNormBackwardInputs(const Shape& shape, int64_t begin, bool with_gamma) {
  std::vector<InputSpec> inputs = {
      {F32(shape)}, {F32(shape), -2, 2}, {F32(Leading(shape, begin))}, {F32(Leading(shape, begin)), 0.5, 2}};
  if (with_gamma) inputs.push_back({F32(Trailing(shape, begin)), 0.5, 1.5});
  return inputs;
}

OpTestCase LayerNormGrad(Shape shape, int64_t begin, const std::string& variant = "") {
  OpTestCase c;
  c.name = variant.empty() ? "layer_norm_grad" : "layer_norm_grad/" + variant;
  c.op = "layer_norm_grad";
  c.inputs = LayerNormBackwardInputs(shape, begin, true);
  c.attrs = {{"begin_norm_axis", begin}};
  c.reference = [](const std::vector<HostTensor>& in, const AttrMap& attrs) {
    const auto [rows, cols] = RowsCols(in[1].shape(), attrs.GetInt("begin_norm_axis"));
    HostTensor dx(in[1].desc());
    for (int64_t r = 0; r < rows; ++r) {
      const double m = in[2].GetAsDouble(r), s = in[3].GetAsDouble(r);
      // dx_j = sum_i dy_i gamma_i d(xhat_i)/d(x_j) * s, written out from the definition of xhat.
      for (int64_t j = 0; j < cols; ++j) {
        double total = 0;
        for (int64_t i = 0; i < cols; ++i) {
          const double g = in[0].GetAsDouble(r * cols + i) * in[4].GetAsDouble(i);
          const double xhat_i = (in[1].GetAsDouble(r * cols + i) - m) * s;
          const double xhat_j = (in[1].GetAsDouble(r * cols + j) - m) * s;
          total += g * s * ((i == j ? 1.0 : 0.0) - 1.0 / cols - xhat_i * xhat_j / cols);
        }
        dx.SetFromDouble(r * cols + j, total);
      }
    }
    return std::vector<HostTensor>{dx};
  };
  c.rtol = 1e-4;
  c.atol = 1e-5;
  c.check_grad = false;
  c.bad_inputs = {
      {{F32({4, 6}), F32({4, 6}), F32({4}), F32({3}), F32({6})}, {}, "inv_std: expected shape [4]"},
      {{F32({4, 5}), F32({4, 6}), F32({4}), F32({4}), F32({6})}, {}, "dy: expected shape [4, 6]"},
      {{F32({4, 6}), F32({4, 6}), F32({4}), F32({4}), F32({5})}, {}, "gamma: expected shape [6]"}};
  return c;
}

OpTestCase LayerNormParamGrad(Shape shape, int64_t begin, const std::string& variant = "") {
  OpTestCase c;
  c.name = variant.empty() ? "layer_norm_param_grad" : "layer_norm_param_grad/" + variant;
  c.op = "layer_norm_param_grad";
  c.inputs = LayerNormBackwardInputs(shape, begin, false);
  c.attrs = {{"begin_norm_axis", begin}};
  c.reference = [](const std::vector<HostTensor>& in, const AttrMap& attrs) {
    const int64_t begin = attrs.GetInt("begin_norm_axis");
    const auto [rows, cols] = RowsCols(in[1].shape(), begin);
    HostTensor dgamma(TensorDesc{Trailing(in[1].shape(), begin), in[1].dtype()});
    HostTensor dbeta(dgamma.desc());
    for (int64_t j = 0; j < cols; ++j) {
      double sum_gamma = 0, sum_beta = 0;
      for (int64_t r = 0; r < rows; ++r) {
        const double dy = in[0].GetAsDouble(r * cols + j);
        sum_gamma += dy * (in[1].GetAsDouble(r * cols + j) - in[2].GetAsDouble(r)) * in[3].GetAsDouble(r);
        sum_beta += dy;
      }
      dgamma.SetFromDouble(j, sum_gamma);
      dbeta.SetFromDouble(j, sum_beta);
    }
    return std::vector<HostTensor>{dgamma, dbeta};
  };
  c.rtol = 1e-4;
  c.atol = 1e-5;
  c.check_grad = false;
  c.bad_inputs = {
      {{F32({4, 6}), F32({4, 6}), F32({6}), F32({4})}, {}, "mean: expected shape [4] (x.shape[:1])"},
      {{F32({4, 6}), F32({4, 6}), F32({4}), TensorDesc{Shape{4}, DType::kF64}}, {}, "expected dtype f32"}};
  return c;
}

// ---- rms_norm --------------------------------------------------------------

OpTestCase RmsNorm(Shape shape, const std::string& variant = "") {
  OpTestCase c;
  c.name = variant.empty() ? "rms_norm" : "rms_norm/" + variant;
  c.op = "rms_norm";
  c.inputs = {{F32(shape), -2, 2}, {F32({shape[shape.rank() - 1]}), 0.5, 1.5}};
  c.attrs = {{"epsilon", 1e-6}};
  c.reference = [](const std::vector<HostTensor>& in, const AttrMap& attrs) {
    const double epsilon = attrs.GetFloat("epsilon");
    const auto [rows, cols] = RowsCols(in[0].shape(), -1);
    HostTensor y(in[0].desc());
    HostTensor inv_rms(TensorDesc{Leading(in[0].shape(), -1), in[0].dtype()});
    for (int64_t r = 0; r < rows; ++r) {
      double squares = 0;
      for (int64_t j = 0; j < cols; ++j) squares += std::pow(in[0].GetAsDouble(r * cols + j), 2);
      const double s = 1 / std::sqrt(squares / cols + epsilon);
      for (int64_t j = 0; j < cols; ++j) {
        y.SetFromDouble(r * cols + j, in[0].GetAsDouble(r * cols + j) * s * in[1].GetAsDouble(j));
      }
      inv_rms.SetFromDouble(r, s);
    }
    return std::vector<HostTensor>{y, inv_rms};
  };
  c.rtol = 1e-4;
  c.atol = 1e-5;
  c.grad_outputs = {0};  // inv_rms is a saved statistic without a gradient
  c.bad_inputs = {{{F32({4, 6}), F32({4})}, {}, "weight: expected shape [6] (x.shape[-1:]), got [4]"},
                  {{F32({4, 6}), TensorDesc{Shape{6}, DType::kF64}}, {}, "weight: expected dtype f32"},
                  {{F32({}), F32({})}, {}, "x: expected rank >= 1"}};
  return c;
}

OpTestCase RmsNormGrad() {
  OpTestCase c;
  c.name = "rms_norm_grad";
  c.op = "rms_norm_grad";
  c.inputs = {{F32({2, 3, 5})}, {F32({2, 3, 5}), -2, 2}, {F32({2, 3}), 0.5, 2}, {F32({5}), 0.5, 1.5}};
  c.reference = [](const std::vector<HostTensor>& in, const AttrMap&) {
    const auto [rows, cols] = RowsCols(in[1].shape(), -1);
    HostTensor dx(in[1].desc());
    for (int64_t r = 0; r < rows; ++r) {
      const double s = in[2].GetAsDouble(r);
      // y_i = w_i x_i s with ds/dx_j = -s^3 x_j / cols.
      for (int64_t j = 0; j < cols; ++j) {
        double total = 0;
        for (int64_t i = 0; i < cols; ++i) {
          const double g = in[0].GetAsDouble(r * cols + i) * in[3].GetAsDouble(i);
          const double xi = in[1].GetAsDouble(r * cols + i), xj = in[1].GetAsDouble(r * cols + j);
          total += g * ((i == j ? s : 0.0) - xi * s * s * s * xj / cols);
        }
        dx.SetFromDouble(r * cols + j, total);
      }
    }
    return std::vector<HostTensor>{dx};
  };
  c.rtol = 1e-4;
  c.atol = 1e-5;
  c.check_grad = false;
  c.bad_inputs = {
      {{F32({2, 5}), F32({2, 5}), F32({5}), F32({5})}, {}, "inv_rms: expected shape [2] (x.shape[:-1])"},
      {{F32({2, 5}), F32({2, 5}), F32({2}), F32({2})}, {}, "weight: expected shape [5]"}};
  return c;
}

OpTestCase RmsNormParamGrad() {
  OpTestCase c;
  c.name = "rms_norm_param_grad";
  c.op = "rms_norm_param_grad";
  c.inputs = {{F32({4, 6})}, {F32({4, 6}), -2, 2}, {F32({4}), 0.5, 2}};
  c.reference = [](const std::vector<HostTensor>& in, const AttrMap&) {
    const auto [rows, cols] = RowsCols(in[1].shape(), -1);
    HostTensor dweight(TensorDesc{Shape{cols}, in[1].dtype()});
    for (int64_t j = 0; j < cols; ++j) {
      double total = 0;
      for (int64_t r = 0; r < rows; ++r) {
        total += in[0].GetAsDouble(r * cols + j) * in[1].GetAsDouble(r * cols + j) * in[2].GetAsDouble(r);
      }
      dweight.SetFromDouble(j, total);
    }
    return std::vector<HostTensor>{dweight};
  };
  c.rtol = 1e-4;
  c.atol = 1e-5;
  c.check_grad = false;
  c.bad_inputs = {{{F32({4, 6}), F32({4, 5}), F32({4})}, {}, "dy: expected shape [4, 5]"},
                  {{F32({4, 6}), F32({4, 6}), I64({4})}, {}, "inv_rms: expected dtype f32"}};
  return c;
}

}  // namespace

std::vector<OpTestCase> NormCases() {
  std::vector<OpTestCase> cases;
  cases.push_back(LayerNorm({4, 6}, -1));
  cases.push_back(LayerNorm({3, 2, 4}, 1, "two_axes"));
  cases.push_back(LayerNorm({3, 4}, 0, "all_axes"));
  cases.push_back(LayerNormGrad({4, 6}, -1));
  cases.push_back(LayerNormGrad({3, 2, 4}, 1, "two_axes"));
  cases.push_back(LayerNormParamGrad({4, 6}, -1));
  cases.push_back(LayerNormParamGrad({3, 2, 4}, 1, "two_axes"));
  cases.push_back(RmsNorm({4, 6}));
  cases.push_back(RmsNorm({2, 3, 5}, "rank3"));
  for (OpTestCase wide : {LayerNorm({4, 100}, -1, "wide"), LayerNormGrad({4, 100}, -1, "wide"),
                          LayerNormParamGrad({70, 100}, -1, "wide"), RmsNorm({4, 100}, "wide")}) {
    wide.check_grad = false;  // the vectorised loops; gradients are checked on the small cases
    cases.push_back(wide);
  }
  cases.push_back(RmsNormGrad());
  cases.push_back(RmsNormParamGrad());
  return cases;
}

}  // namespace ofl::testing

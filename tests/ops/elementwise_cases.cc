// Cases of the element-wise family: binary (with broadcasting), unary,
// scalar, and their backward helper ops.
#include <cmath>
#include <tuple>

#include "tests/testing/op_test_case.h"

namespace ofl::testing {

namespace {

double GeluErf(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }
double GeluTanh(double x) {
  return 0.5 * x * (1 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}
double Sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

// Derivative by a tiny central difference of a scalar function, for the
// references of backward ops (independent of the kernels' closed forms).
double Derivative(const std::function<double(double)>& f, double x) {
  const double h = 1e-5;
  return (f(x + h) - f(x - h)) / (2 * h);
}

OpTestCase Binary(const std::string& op, std::function<double(double, double)> f, Shape a, Shape b,
                  double low = -1, double high = 1, const std::string& variant = "") {
  OpTestCase c;
  c.name = variant.empty() ? op : op + "/" + variant;
  c.op = op;
  c.inputs = {{F32(a), low, high}, {F32(b), low, high}};
  c.reference = [f](const std::vector<HostTensor>& in, const AttrMap&) {
    return std::vector<HostTensor>{MapBinary(in[0], in[1], f)};
  };
  c.bad_inputs = {{{F32({4, 3}), F32({4, 2})}, {}, "expected a shape broadcastable with [4, 3]"},
                  {{F32({4, 3}), TensorDesc{Shape{4, 3}, DType::kF64}}, {}, "expected dtype f32"},
                  {{F32({4, 3})}, {}, "inputs: expected 2, got 1"}};
  return c;
}

OpTestCase Unary(const std::string& op, std::function<double(double)> f, double low = -1, double high = 1,
                 AttrMap attrs = {}, const std::string& variant = "") {
  OpTestCase c;
  c.name = variant.empty() ? op : op + "/" + variant;
  c.op = op;
  c.inputs = {{F32({5, 3}), low, high}};
  c.attrs = attrs;
  c.reference = [f](const std::vector<HostTensor>& in, const AttrMap&) {
    return std::vector<HostTensor>{MapUnary(in[0], f)};
  };
  c.bad_inputs = {{{TensorDesc{Shape{2}, DType::kBool}}, attrs, "expected"}};
  return c;
}

// A backward op (saved, dy) -> dx checked against f'(x) dy computed by
// numeric differentiation of the forward function.
OpTestCase Backward(const std::string& op, std::function<double(double)> forward, bool saved_is_output,
                    AttrMap attrs = {}, const std::string& variant = "") {
  OpTestCase c;
  c.name = variant.empty() ? op : op + "/" + variant;
  c.op = op;
  c.attrs = attrs;
  // For saved outputs the generated value is the forward input x; the
  // reference maps it through `forward` to get y.
  c.inputs = {{F32({4, 3}), saved_is_output ? 0.05 : -2.0, saved_is_output ? 0.95 : 2.0}, {F32({4, 3})}};
  c.reference = [forward](const std::vector<HostTensor>& in, const AttrMap&) {
    return std::vector<HostTensor>{
        MapBinary(in[0], in[1], [&](double saved, double dy) { return Derivative(forward, saved) * dy; })};
  };
  c.rtol = 1e-4;
  c.atol = 1e-5;
  c.check_grad = false;
  c.bad_inputs = {{{F32({4, 3}), F32({4, 2})}, attrs, "expected shape [4, 3]"}};
  return c;
}

}  // namespace

std::vector<OpTestCase> ElementwiseCases() {
  std::vector<OpTestCase> cases;
  cases.push_back(Binary("add", [](double a, double b) { return a + b; }, {4, 3}, {4, 3}));
  cases.push_back(Binary("add", [](double a, double b) { return a + b; }, {2, 4, 3}, {3}, -1, 1, "broadcast_row"));
  cases.push_back(Binary("add", [](double a, double b) { return a + b; }, {4, 1}, {1, 5}, -1, 1, "broadcast_outer"));
  cases.push_back(Binary("sub", [](double a, double b) { return a - b; }, {4, 3}, {4, 1}));
  cases.push_back(Binary("mul", [](double a, double b) { return a * b; }, {4, 3}, {3}));
  cases.push_back(Binary("div", [](double a, double b) { return a / b; }, {4, 3}, {4, 3}, 0.5, 2.0));
  cases.push_back(Binary("div", [](double a, double b) { return a / b; }, {3, 4}, {1, 4}, 0.5, 2.0, "broadcast"));
  cases.push_back(Binary("maximum", [](double a, double b) { return std::max(a, b); }, {4, 3}, {3}));
  cases.push_back(Binary("minimum", [](double a, double b) { return std::min(a, b); }, {4, 3}, {4, 3}));
  cases.push_back(Binary("pow", [](double a, double b) { return std::pow(a, b); }, {4, 3}, {4, 3}, 0.5, 2.0));
  cases.back().bad_inputs.push_back({{I64({2}), I64({2})}, {}, "a: expected a floating-point dtype"});
  OpTestCase integer_div = Binary("div", [](double a, double b) { return std::trunc(a / b); }, {4}, {4}, 1, 9,
                                  "integer");
  integer_div.inputs = {{I64({4}), 1, 100}, {I64({4}), 1, 9}};
  integer_div.check_grad = false;
  integer_div.bad_values = {{{{I64({4}), 1, 100}, {I64({4}), 0, 0, std::vector<double>{3, 0, 2, 1}}},
                             {},
                             "b: expected no zero divisor for integer division, got 0 at element 1"},
                            {{{I64({2}), 0, 0, std::vector<double>{-9223372036854775808.0, 4}}, {I64({1}), 0, 0,
                              std::vector<double>{-1}}},
                             {},
                             "divided by -1 overflows"}};
  cases.push_back(integer_div);

  // pow_grad at the limits: a = 0 with b >= 0 gives db = 0 (not 0 * -inf),
  // b = 0 gives da = 0.
  OpTestCase pow_grad;
  pow_grad.name = "pow_grad";
  pow_grad.op = "pow_grad";
  pow_grad.inputs = {{F32({6}), 0, 0, std::vector<double>{0.0, 0.0, 0.5, 2.0, 1.5, 0.0}},
                     {F32({6}), 0, 0, std::vector<double>{2.0, 0.0, 0.0, 1.5, -1.0, 3.0}},
                     {F32({6}), 0, 0, std::vector<double>{0.0, 1.0, 1.0, std::pow(2.0, 1.5), 1 / 1.5, 0.0}},
                     {F32({6}), 0, 0, std::vector<double>{1.0, -2.0, 0.5, 0.25, 3.0, 1.0}}};
  pow_grad.reference = [](const std::vector<HostTensor>& in, const AttrMap&) {
    HostTensor da(in[0].desc()), db(in[0].desc());
    for (int64_t i = 0; i < 6; ++i) {
      const double a = in[0].GetAsDouble(i), b = in[1].GetAsDouble(i), y = in[2].GetAsDouble(i);
      const double g = in[3].GetAsDouble(i);
      da.SetFromDouble(i, b == 0 ? 0.0 : g * b * std::pow(a, b - 1));
      db.SetFromDouble(i, a == 0 && b >= 0 ? 0.0 : g * y * std::log(a));
    }
    return std::vector<HostTensor>{da, db};
  };
  pow_grad.check_grad = false;
  pow_grad.check_sbp = true;
  pow_grad.bad_inputs = {{{F32({6}), F32({6}), F32({6}), F32({5})}, {}, "dy: expected shape [6]"},
                         {{I64({6}), I64({6}), I64({6}), I64({6})}, {}, "expected a floating-point dtype"}};
  cases.push_back(pow_grad);

  for (const char* op : {"maximum_grad", "minimum_grad"}) {
    const bool is_max = std::string(op) == "maximum_grad";
    OpTestCase c;
    c.name = op;
    c.op = op;
    c.inputs = {{F32({4, 3})}, {F32({3})}, {F32({4, 3})}};
    c.reference = [is_max](const std::vector<HostTensor>& in, const AttrMap&) {
      HostTensor da(in[2].desc()), db(in[2].desc());
      for (int64_t i = 0; i < 12; ++i) {
        const double a = in[0].GetAsDouble(i), b = in[1].GetAsDouble(i % 3), g = in[2].GetAsDouble(i);
        const bool a_wins = is_max ? a > b : a < b;
        da.SetFromDouble(i, a == b ? g / 2 : (a_wins ? g : 0));
        db.SetFromDouble(i, a == b ? g / 2 : (a_wins ? 0 : g));
      }
      return std::vector<HostTensor>{da, db};
    };
    c.check_grad = false;
    c.bad_inputs = {{{F32({4, 3}), F32({3}), F32({4, 2})}, {}, "expected shape [4, 3]"}};
    cases.push_back(c);
  }

  cases.push_back(Unary("neg", [](double x) { return -x; }));
  cases.push_back(Unary("abs", [](double x) { return std::abs(x); }));
  OpTestCase sign = Unary("sign", [](double x) { return (x > 0) - (x < 0); });
  sign.check_grad = false;
  cases.push_back(sign);
  cases.push_back(Unary("exp", [](double x) { return std::exp(x); }));
  cases.push_back(Unary("log", [](double x) { return std::log(x); }, 0.2, 3.0));
  cases.push_back(Unary("sqrt", [](double x) { return std::sqrt(x); }, 0.2, 3.0));
  cases.push_back(Unary("rsqrt", [](double x) { return 1 / std::sqrt(x); }, 0.2, 3.0));
  cases.push_back(Unary("tanh", [](double x) { return std::tanh(x); }, -2, 2));
  cases.push_back(Unary("sigmoid", Sigmoid, -3, 3));
  cases.push_back(Unary("relu", [](double x) { return x > 0 ? x : 0; }));
  cases.push_back(Unary("silu", [](double x) { return x * Sigmoid(x); }, -3, 3));
  cases.push_back(Unary("gelu", GeluErf, -3, 3));
  cases.push_back(Unary("gelu", GeluTanh, -3, 3, {{"approximate", std::string("tanh")}}, "tanh"));
  OpTestCase bad_gelu = Unary("gelu", GeluErf, -3, 3, {}, "bad_attr");
  bad_gelu.bad_inputs = {{{F32({2})}, {{"approximate", std::string("cubic")}}, "attribute approximate"},
                         {{F32({2})}, {{"approximate", int64_t{1}}}, "expected string, got int"},
                         {{F32({2})}, {{"slope", 0.1}}, "unknown 'slope'"}};
  cases.push_back(bad_gelu);

  cases.push_back(Backward("relu_grad", [](double x) { return x > 0 ? x : 0; }, false));
  cases.push_back(Backward("tanh_grad", [](double y) { return std::atanh(y); }, true));
  // tanh_grad's reference: dx = (1 - y^2) dy where y is the saved output.
  cases.back().reference = [](const std::vector<HostTensor>& in, const AttrMap&) {
    return std::vector<HostTensor>{MapBinary(in[0], in[1], [](double y, double dy) { return (1 - y * y) * dy; })};
  };
  cases.push_back(Backward("sigmoid_grad", Sigmoid, true));
  cases.back().reference = [](const std::vector<HostTensor>& in, const AttrMap&) {
    return std::vector<HostTensor>{MapBinary(in[0], in[1], [](double y, double dy) { return y * (1 - y) * dy; })};
  };
  cases.push_back(Backward("silu_grad", [](double x) { return x * Sigmoid(x); }, false));
  cases.push_back(Backward("gelu_grad", GeluErf, false));
  cases.push_back(Backward("gelu_grad", GeluTanh, false, {{"approximate", std::string("tanh")}}, "tanh"));

  for (const char* op : {"scalar_add", "scalar_sub", "scalar_mul", "scalar_div", "scalar_pow"}) {
    const std::string name = op;
    const double s = name == "scalar_pow" ? 2.5 : 1.75;
    OpTestCase c = Unary(name, [name, s](double x) {
      if (name == "scalar_add") return x + s;
      if (name == "scalar_sub") return x - s;
      if (name == "scalar_mul") return x * s;
      if (name == "scalar_div") return x / s;
      return std::pow(x, s);
    }, name == "scalar_pow" ? 0.2 : -1.0, 2.0, {{"scalar", s}});
    c.bad_inputs = {{{F32({2})}, {}, "attribute scalar: expected a value"},
                    {{TensorDesc{Shape{2}, DType::kBool}}, {{"scalar", 1.0}}, "expected"}};
    if (name != "scalar_pow") {
      c.bad_inputs.push_back({{I64({2})}, {{"scalar", 0.5}}, "attribute scalar: expected an integer in the range of i64"});
    }
    cases.push_back(c);
  }
  OpTestCase integer_scale = Unary("scalar_mul", [](double x) { return 3 * x; }, -50, 50, {{"scalar", 3.0}}, "i64");
  integer_scale.inputs = {{I64({5, 3}), -50, 50}};
  integer_scale.check_grad = false;
  integer_scale.bad_inputs = {{{TensorDesc{Shape{2}, DType::kI32}}, {{"scalar", 3e10}}, "in the range of i32"}};
  cases.push_back(integer_scale);
  OpTestCase integer_div_scalar = Unary("scalar_div", [](double x) { return std::trunc(x / 4); }, -50, 50,
                                        {{"scalar", 4.0}}, "i64");
  integer_div_scalar.inputs = {{I64({5, 3}), -50, 50}};
  integer_div_scalar.check_grad = false;
  integer_div_scalar.bad_inputs = {{{I64({2})}, {{"scalar", 0.0}}, "expected a nonzero divisor"}};
  cases.push_back(integer_div_scalar);
  // The exponents f32 scalar_pow hands to oneDNN (2.5 above takes the loop).
  for (const auto& [s, variant, low] : {std::tuple{2.0, "square", -2.0}, std::tuple{0.5, "sqrt", 0.2},
                                        std::tuple{-1.0, "reciprocal", 0.2}}) {
    cases.push_back(
        Unary("scalar_pow", [s](double x) { return std::pow(x, s); }, low, 2.0, {{"scalar", s}}, variant));
  }
  return cases;
}

}  // namespace ofl::testing

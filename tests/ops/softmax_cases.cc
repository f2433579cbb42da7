// Cases of the softmax family: softmax and log_softmax over several axes,
// causal_softmax (square and Tq < Tk), and their backward ops.
#include <cmath>

#include "tests/testing/op_test_case.h"

namespace ofl::testing {

namespace {

// Index of element (o, j, i) of a tensor seen as [outer, extent, inner].
struct Lines {
  int64_t outer = 1, extent = 1, inner = 1;
  Lines(const Shape& shape, int64_t axis) {
    if (axis < 0) axis += shape.rank();
    for (int k = 0; k < axis; ++k) outer *= shape[k];
    extent = shape[static_cast<int>(axis)];
    for (int k = static_cast<int>(axis) + 1; k < shape.rank(); ++k) inner *= shape[k];
  }
  int64_t At(int64_t o, int64_t j, int64_t i) const { return (o * extent + j) * inner + i; }
};

// softmax or log_softmax computed straight from the definition.
HostTensor SoftmaxReference(const HostTensor& x, int64_t axis, bool log) {
  HostTensor y(x.desc());
  const Lines lines(x.shape(), axis);
  for (int64_t o = 0; o < lines.outer; ++o) {
    for (int64_t i = 0; i < lines.inner; ++i) {
      double total = 0;
      for (int64_t j = 0; j < lines.extent; ++j) total += std::exp(x.GetAsDouble(lines.At(o, j, i)));
      for (int64_t j = 0; j < lines.extent; ++j) {
        const double v = x.GetAsDouble(lines.At(o, j, i));
        y.SetFromDouble(lines.At(o, j, i), log ? v - std::log(total) : std::exp(v) / total);
      }
    }
  }
  return y;
}

OpTestCase Forward(const std::string& op, Shape shape, int64_t axis, const std::string& variant = "") {
  OpTestCase c;
  c.name = variant.empty() ? op : op + "/" + variant;
  c.op = op;
  c.inputs = {{F32(shape), -3, 3}};
  c.attrs = {{"axis", axis}};
  const bool log = op == "log_softmax";
  c.reference = [log](const std::vector<HostTensor>& in, const AttrMap& attrs) {
    return std::vector<HostTensor>{SoftmaxReference(in[0], attrs.GetInt("axis"), log)};
  };
  c.bad_inputs = {{{I64({4, 3})}, {}, "expected a floating-point dtype"},
                  {{F32({4, 3})}, {{"axis", int64_t{2}}}, "attribute axis: expected an axis in [-2, 1]"},
                  {{F32({})}, {}, "expected rank >= 1"}};
  return c;
}

// softmax_grad: dx = y (dy - <dy, y>); log_softmax_grad: dx = dy - e^y sum(dy).
OpTestCase Backward(const std::string& op, Shape shape, int64_t axis, const std::string& variant = "") {
  OpTestCase c;
  c.name = variant.empty() ? op : op + "/" + variant;
  c.op = op;
  const bool log = op == "log_softmax_grad";
  c.inputs = {{F32(shape), log ? -3.0 : 0.0, log ? 0.0 : 1.0}, {F32(shape)}};
  c.attrs = {{"axis", axis}};
  c.reference = [log](const std::vector<HostTensor>& in, const AttrMap& attrs) {
    HostTensor dx(in[0].desc());
    const Lines lines(in[0].shape(), attrs.GetInt("axis"));
    for (int64_t o = 0; o < lines.outer; ++o) {
      for (int64_t i = 0; i < lines.inner; ++i) {
        double dot = 0;
        for (int64_t j = 0; j < lines.extent; ++j) {
          const int64_t at = lines.At(o, j, i);
          dot += log ? in[1].GetAsDouble(at) : in[1].GetAsDouble(at) * in[0].GetAsDouble(at);
        }
        for (int64_t j = 0; j < lines.extent; ++j) {
          const int64_t at = lines.At(o, j, i);
          const double y = in[0].GetAsDouble(at), dy = in[1].GetAsDouble(at);
          dx.SetFromDouble(at, log ? dy - std::exp(y) * dot : y * (dy - dot));
        }
      }
    }
    return std::vector<HostTensor>{dx};
  };
  c.check_grad = false;
  c.bad_inputs = {{{F32({4, 3}), F32({4, 2})}, {}, "expected shape [4, 3]"},
                  {{F32({4, 3}), TensorDesc{Shape{4, 3}, DType::kF64}}, {}, "expected dtype f32"},
                  {{F32({4, 3}), F32({4, 3})}, {{"axis", int64_t{-3}}}, "attribute axis"}};
  return c;
}

// Scores [..., Tq, Tk]: row i sees keys j <= i + Tk - Tq; masked places are 0.
HostTensor CausalReference(const HostTensor& x, double scale) {
  HostTensor y(x.desc());
  const int rank = x.shape().rank();
  const int64_t tq = x.shape()[rank - 2], tk = x.shape()[rank - 1];
  const int64_t matrices = x.NumElements() / (tq * tk);
  for (int64_t m = 0; m < matrices; ++m) {
    for (int64_t i = 0; i < tq; ++i) {
      const int64_t row = (m * tq + i) * tk;
      double total = 0;
      for (int64_t j = 0; j < tk; ++j) {
        if (j <= i + tk - tq) total += std::exp(scale * x.GetAsDouble(row + j));
      }
      for (int64_t j = 0; j < tk; ++j) {
        y.SetFromDouble(row + j, j <= i + tk - tq ? std::exp(scale * x.GetAsDouble(row + j)) / total : 0.0);
      }
    }
  }
  return y;
}

OpTestCase Causal(Shape shape, double scale, const std::string& variant = "") {
  OpTestCase c;
  c.name = variant.empty() ? "causal_softmax" : "causal_softmax/" + variant;
  c.op = "causal_softmax";
  c.inputs = {{F32(shape), -2, 2}};
  c.attrs = {{"scale", scale}};
  c.reference = [](const std::vector<HostTensor>& in, const AttrMap& attrs) {
    return std::vector<HostTensor>{CausalReference(in[0], attrs.GetFloat("scale"))};
  };
  c.bad_inputs = {{{F32({2, 5, 4})}, {}, "expected [..., Tq, Tk] with Tq <= Tk"},
                  {{F32({4})}, {}, "expected rank >= 2"},
                  {{I64({4, 4})}, {}, "expected a floating-point dtype"},
                  {{F32({4, 4})}, {{"scale", std::string("big")}}, "attribute scale: expected float"}};
  return c;
}

}  // namespace

std::vector<OpTestCase> SoftmaxCases() {
  std::vector<OpTestCase> cases;
  cases.push_back(Forward("softmax", {3, 5}, -1));
  cases.push_back(Forward("softmax", {3, 4, 2}, 1, "middle_axis"));
  cases.push_back(Forward("softmax", {4, 3}, 0, "first_axis"));
  cases.push_back(Forward("softmax", {6}, 0, "vector"));
  // Large logits: the kernel must subtract the maximum (exp(300) overflows f32).
  OpTestCase large = Forward("softmax", {3, 4}, -1, "large_logits");
  large.inputs = {{F32({3, 4}), 300, 320}};
  large.check_grad = false;
  cases.push_back(large);
  cases.push_back(Forward("log_softmax", {3, 5}, -1));
  cases.push_back(Forward("log_softmax", {4, 3, 2}, 0, "first_axis"));

  cases.push_back(Backward("softmax_grad", {3, 5}, -1));
  cases.push_back(Backward("softmax_grad", {3, 4, 2}, 1, "middle_axis"));
  cases.push_back(Backward("log_softmax_grad", {3, 5}, -1));
  cases.push_back(Backward("log_softmax_grad", {4, 3}, 0, "first_axis"));

  // Wide lines reach the vectorised row loops (32 lanes) and the blocked
  // non-last-axis path (64 neighbouring lines); gradients are checked on
  // the small cases above.
  for (OpTestCase wide : {Forward("softmax", {3, 100}, -1, "wide"), Forward("softmax", {2, 20, 130}, 1, "wide_middle"),
                          Forward("log_softmax", {3, 100}, -1, "wide"),
                          Backward("softmax_grad", {3, 100}, -1, "wide"),
                          Backward("log_softmax_grad", {2, 20, 130}, 1, "wide_middle"),
                          Causal({1, 2, 40, 40}, 0.125, "wide")}) {
    wide.check_grad = false;
    cases.push_back(wide);
  }
  cases.push_back(Causal({2, 2, 4, 4}, 0.5));
  cases.push_back(Causal({1, 2, 3, 5}, 1.0, "fewer_queries"));
  cases.push_back(Causal({5, 5}, 0.7, "matrix"));

  OpTestCase grad;
  grad.name = "causal_softmax_grad";
  grad.op = "causal_softmax_grad";
  grad.inputs = {{F32({2, 2, 3, 4}), 0, 1}, {F32({2, 2, 3, 4})}};
  grad.attrs = {{"scale", 0.5}};
  grad.reference = [](const std::vector<HostTensor>& in, const AttrMap& attrs) {
    const double scale = attrs.GetFloat("scale");
    HostTensor dx(in[0].desc());
    const int64_t tk = in[0].shape()[3];
    for (int64_t row = 0; row < in[0].NumElements() / tk; ++row) {
      double dot = 0;
      for (int64_t j = 0; j < tk; ++j) {
        dot += in[0].GetAsDouble(row * tk + j) * in[1].GetAsDouble(row * tk + j);
      }
      for (int64_t j = 0; j < tk; ++j) {
        const double y = in[0].GetAsDouble(row * tk + j), dy = in[1].GetAsDouble(row * tk + j);
        dx.SetFromDouble(row * tk + j, scale * y * (dy - dot));
      }
    }
    return std::vector<HostTensor>{dx};
  };
  grad.check_grad = false;
  grad.bad_inputs = {{{F32({3, 4}), F32({3, 5})}, {}, "expected shape [3, 4]"},
                     {{F32({4, 3}), F32({4, 3})}, {}, "Tq <= Tk"}};
  cases.push_back(grad);
  return cases;
}

}  // namespace ofl::testing

// Cases of fused_causal_attention (square and Tq < Tk, default and explicit
// scale, 16-bit inputs) and of its backward op, against references computed
// in double straight from the definition.
#include <cmath>
#include <random>

#include "tests/testing/op_test_case.h"

namespace ofl::testing {

namespace {

constexpr const char* kForward = "fused_causal_attention";
constexpr const char* kBackward = "fused_causal_attention_grad";

DType LseDType(DType input) { return input == DType::kF64 ? DType::kF64 : DType::kF32; }

double ScaleOf(const AttrMap& attrs, int64_t dh) {
  const double scale = attrs.GetFloat("scale");
  return scale != 0.0 ? scale : 1.0 / std::sqrt(static_cast<double>(dh));
}

struct Dims {
  int64_t batch, heads, tq, tk, dh;
  explicit Dims(const HostTensor& q, const HostTensor& k)
      : batch(q.shape()[0]), heads(q.shape()[1]), tq(q.shape()[2]), tk(k.shape()[2]), dh(q.shape()[3]) {}
  bool Visible(int64_t i, int64_t j) const { return j <= i + tk - tq; }
};

double Dot(const HostTensor& a, int64_t a_base, const HostTensor& b, int64_t b_base, int64_t n) {
  double total = 0;
  for (int64_t d = 0; d < n; ++d) total += a.GetAsDouble(a_base + d) * b.GetAsDouble(b_base + d);
  return total;
}

// y_i = sum_j softmax_j(scale <q_i, k_j>, visible j) v_j and
// lse_i = log sum_j exp(scale <q_i, k_j>) over the visible keys.
std::vector<HostTensor> ForwardReference(const std::vector<HostTensor>& in, const AttrMap& attrs) {
  const HostTensor &q = in[0], &k = in[1], &v = in[2];
  const Dims dims(q, k);
  const double scale = ScaleOf(attrs, dims.dh);
  HostTensor y(q.desc());
  HostTensor lse(TensorDesc{Shape{dims.batch, dims.heads, dims.tq}, LseDType(q.dtype())});
  for (int64_t m = 0; m < dims.batch * dims.heads; ++m) {
    for (int64_t i = 0; i < dims.tq; ++i) {
      const int64_t qi = (m * dims.tq + i) * dims.dh;
      double total = 0;
      std::vector<double> out(dims.dh, 0.0);
      for (int64_t j = 0; j < dims.tk; ++j) {
        if (!dims.Visible(i, j)) continue;
        const int64_t kj = (m * dims.tk + j) * dims.dh;
        const double weight = std::exp(scale * Dot(q, qi, k, kj, dims.dh));
        total += weight;
        for (int64_t d = 0; d < dims.dh; ++d) out[d] += weight * v.GetAsDouble(kj + d);
      }
      for (int64_t d = 0; d < dims.dh; ++d) y.SetFromDouble(qi + d, out[d] / total);
      lse.SetFromDouble(m * dims.tq + i, std::log(total));
    }
  }
  return {y, lse};
}

// The backward op from its inputs: p_ij = exp(scale <q_i, k_j> - lse_i) on
// visible keys, D_i = <dy_i, y_i>, dS_ij = p_ij (<dy_i, v_j> - D_i),
// dq = scale dS k, dk = scale dS^T q, dv = p^T dy.
std::vector<HostTensor> BackwardReference(const std::vector<HostTensor>& in, const AttrMap& attrs) {
  const HostTensor &q = in[0], &k = in[1], &v = in[2], &y = in[3], &lse = in[4], &dy = in[5];
  const Dims dims(q, k);
  const double scale = ScaleOf(attrs, dims.dh);
  std::vector<double> dq(q.NumElements(), 0.0), dk(k.NumElements(), 0.0), dv(k.NumElements(), 0.0);
  for (int64_t m = 0; m < dims.batch * dims.heads; ++m) {
    for (int64_t i = 0; i < dims.tq; ++i) {
      const int64_t qi = (m * dims.tq + i) * dims.dh;
      const double delta = Dot(dy, qi, y, qi, dims.dh);
      for (int64_t j = 0; j < dims.tk; ++j) {
        if (!dims.Visible(i, j)) continue;
        const int64_t kj = (m * dims.tk + j) * dims.dh;
        const double p = std::exp(scale * Dot(q, qi, k, kj, dims.dh) - lse.GetAsDouble(m * dims.tq + i));
        const double ds = p * (Dot(dy, qi, v, kj, dims.dh) - delta);
        for (int64_t d = 0; d < dims.dh; ++d) {
          dq[qi + d] += scale * ds * k.GetAsDouble(kj + d);
          dk[kj + d] += scale * ds * q.GetAsDouble(qi + d);
          dv[kj + d] += p * dy.GetAsDouble(qi + d);
        }
      }
    }
  }
  HostTensor dq_t(q.desc()), dk_t(k.desc()), dv_t(k.desc());
  for (int64_t e = 0; e < q.NumElements(); ++e) dq_t.SetFromDouble(e, dq[e]);
  for (int64_t e = 0; e < k.NumElements(); ++e) {
    dk_t.SetFromDouble(e, dk[e]);
    dv_t.SetFromDouble(e, dv[e]);
  }
  return {dq_t, dk_t, dv_t};
}

TensorDesc Desc(Shape shape, DType dtype) { return TensorDesc{std::move(shape), dtype}; }

OpTestCase Forward(const std::string& variant, Shape q_shape, Shape kv_shape, DType dtype = DType::kF32) {
  OpTestCase c;
  c.name = variant.empty() ? kForward : std::string(kForward) + "/" + variant;
  c.op = kForward;
  c.inputs = {{Desc(q_shape, dtype), -1.5, 1.5}, {Desc(kv_shape, dtype), -1.5, 1.5}, {Desc(kv_shape, dtype)}};
  c.reference = ForwardReference;
  c.grad_outputs = {0};  // lse is saved for the backward and carries no gradient
  c.bad_inputs = {
      {{F32({2, 5, 8}), F32({2, 5, 8}), F32({2, 5, 8})}, {}, "q: expected rank 4"},
      {{F32({1, 2, 5, 8}), F32({1, 2, 5, 4}), F32({1, 2, 5, 4})}, {}, "k: expected [1, 2, Tk, 8]"},
      {{F32({1, 2, 5, 8}), F32({1, 3, 5, 8}), F32({1, 3, 5, 8})}, {}, "k: expected [1, 2, Tk, 8]"},
      {{F32({1, 2, 5, 8}), F32({1, 2, 5, 8}), F32({1, 2, 6, 8})}, {}, "v: expected the shape and dtype of k"},
      {{F32({1, 2, 5, 8}), F32({1, 2, 3, 8}), F32({1, 2, 3, 8})}, {}, "k: expected at least Tq = 5 keys"},
      {{F32({1, 2, 5, 8}), Desc({1, 2, 5, 8}, DType::kF64), Desc({1, 2, 5, 8}, DType::kF64)},
       {},
       "k: expected [1, 2, Tk, 8] of f32"},
      {{I64({1, 2, 5, 8}), I64({1, 2, 5, 8}), I64({1, 2, 5, 8})}, {}, "q: expected a floating-point dtype"},
      {{F32({1, 2, 5, 8}), F32({1, 2, 5, 8}), F32({1, 2, 5, 8})},
       {{"scale", std::string("big")}},
       "attribute scale: expected float"},
      {{F32({1, 2, 5, 8}), F32({1, 2, 5, 8}), F32({1, 2, 5, 8})},
       {{"scale", std::nan("")}},
       "attribute scale: expected a finite value"},
  };
  return c;
}

// Inputs of the backward op that agree with each other: y and lse are the
// forward of q, k, v (computed here in double), dy is random.
OpTestCase Backward(const std::string& variant, Shape q_shape, Shape kv_shape, double scale) {
  OpTestCase c;
  c.name = variant.empty() ? kBackward : std::string(kBackward) + "/" + variant;
  c.op = kBackward;
  c.attrs = {{"scale", scale}};
  std::mt19937_64 rng(std::hash<std::string>{}(c.name));
  std::uniform_real_distribution<double> uniform(-1.5, 1.5);
  auto random = [&](const Shape& shape) {
    HostTensor t(F32(shape));
    for (int64_t e = 0; e < t.NumElements(); ++e) t.SetFromDouble(e, uniform(rng));
    return t;
  };
  const std::vector<HostTensor> qkv = {random(q_shape), random(kv_shape), random(kv_shape)};
  const std::vector<HostTensor> forward = ForwardReference(qkv, AttrMap{{"scale", scale}});
  const HostTensor dy = random(q_shape);
  auto values = [](const HostTensor& t) {
    std::vector<double> list(t.NumElements());
    for (int64_t e = 0; e < t.NumElements(); ++e) list[e] = t.GetAsDouble(e);
    return list;
  };
  for (const HostTensor* t : {&qkv[0], &qkv[1], &qkv[2], &forward[0], &forward[1], &dy}) {
    InputSpec spec{t->desc()};
    spec.values = values(*t);
    c.inputs.push_back(spec);
  }
  c.reference = BackwardReference;
  c.rtol = 1e-4;  // sums of products of many f32 terms, some cancelling
  c.atol = 1e-5;
  c.check_grad = false;
  const Shape q{1, 2, 5, 8};
  c.bad_inputs = {
      {{F32(q), F32(q), F32(q), F32(q), F32({1, 2, 4}), F32(q)}, {}, "lse: expected"},
      {{F32(q), F32(q), F32(q), F32(q), Desc({1, 2, 5}, DType::kF64), F32(q)}, {}, "lse: expected"},
      {{F32(q), F32(q), F32(q), F32({1, 2, 5, 7}), F32({1, 2, 5}), F32(q)}, {}, "y: expected shape"},
      {{F32(q), F32(q), F32(q), F32(q), F32({1, 2, 5}), Desc(q, DType::kF64)}, {}, "dy: expected dtype f32"},
      {{F32(q), F32({1, 2, 4, 8}), F32({1, 2, 4, 8}), F32(q), F32({1, 2, 5}), F32(q)},
       {},
       "k: expected at least Tq = 5 keys"},
  };
  return c;
}

}  // namespace

std::vector<OpTestCase> AttentionCases() {
  std::vector<OpTestCase> cases;
  cases.push_back(Forward("", {2, 2, 5, 8}, {2, 2, 5, 8}));
  cases.push_back(Forward("fewer_queries", {1, 3, 3, 16}, {1, 3, 7, 16}));
  OpTestCase scaled = Forward("explicit_scale", {2, 2, 4, 8}, {2, 2, 6, 8});
  scaled.attrs = {{"scale", 0.7}};
  cases.push_back(scaled);
  // One query against many keys (decoding with a key/value cache).
  cases.push_back(Forward("one_query", {1, 2, 1, 8}, {1, 2, 9, 8}));
  // Large scores: the kernel must subtract the row maximum (scores up to 360; exp(89) is inf in f32).
  OpTestCase large = Forward("large_scores", {1, 2, 4, 8}, {1, 2, 4, 8});
  large.attrs = {{"scale", 20.0}};
  large.check_grad = false;
  cases.push_back(large);
  // 16-bit inputs compute in f32 and round y once: tolerances of one 16-bit ulp.
  for (DType dtype : {DType::kF16, DType::kBF16}) {
    OpTestCase half = Forward(DTypeName(dtype), {1, 2, 6, 16}, {1, 2, 6, 16}, dtype);
    half.rtol = dtype == DType::kF16 ? 2e-3 : 1e-2;
    half.atol = half.rtol;
    half.check_grad = false;
    cases.push_back(half);
  }
  cases.push_back(Backward("", {2, 2, 5, 8}, {2, 2, 5, 8}, 0.0));
  cases.push_back(Backward("fewer_queries", {1, 2, 3, 16}, {1, 2, 6, 16}, 0.4));
  return cases;
}

}  // namespace ofl::testing

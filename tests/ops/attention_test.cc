// The causal self-attention composite (ops/attention/attention.h) run through
// an EagerEmitter against a plain reference, its errors, and its gradient
// (the ops' gradient rules chained by hand) against finite differences; and
// fused_causal_attention (forward and gradient rule) against the composite.
#include "ops/attention/attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "ops/eager.h"
#include "ops/registry.h"

namespace ofl {
namespace {

const EagerExecutor& Executor() {
  static const EagerExecutor executor(DefaultRegistries().ops, DefaultRegistries().kernels);
  return executor;
}

HostTensor Random(const Shape& shape, DType dtype, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  HostTensor tensor(TensorDesc{shape, dtype});
  for (int64_t i = 0; i < tensor.NumElements(); ++i) tensor.SetFromDouble(i, uniform(rng));
  return tensor;
}

// softmax(q k^T / sqrt(Dh), key j > i + Tk - Tq masked) v, straight from the
// definition, in double.
std::vector<double> Reference(const HostTensor& q, const HostTensor& k, const HostTensor& v) {
  const int64_t batch = q.shape()[0], heads = q.shape()[1], tq = q.shape()[2], dh = q.shape()[3];
  const int64_t tk = k.shape()[2];
  const double scale = 1.0 / std::sqrt(static_cast<double>(dh));
  std::vector<double> y(q.NumElements(), 0.0);
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t q_base = (b * heads + h) * tq * dh;
      const int64_t k_base = (b * heads + h) * tk * dh;
      for (int64_t i = 0; i < tq; ++i) {
        std::vector<double> weights(tk, 0.0);
        double total = 0;
        for (int64_t j = 0; j <= i + tk - tq; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < dh; ++d) {
            dot += q.GetAsDouble(q_base + i * dh + d) * k.GetAsDouble(k_base + j * dh + d);
          }
          weights[j] = std::exp(scale * dot);
          total += weights[j];
        }
        for (int64_t j = 0; j < tk; ++j) {
          for (int64_t d = 0; d < dh; ++d) {
            y[q_base + i * dh + d] += weights[j] / total * v.GetAsDouble(k_base + j * dh + d);
          }
        }
      }
    }
  }
  return y;
}

StatusOr<HostTensor> RunAttention(const HostTensor& q, const HostTensor& k, const HostTensor& v) {
  EagerEmitter emitter(Executor());
  OFL_ASSIGN_OR_RETURN(ValueRef y,
                       CausalSelfAttention(emitter, emitter.Add(q), emitter.Add(k), emitter.Add(v)));
  return emitter.Get(y);
}

void ExpectMatchesReference(const Shape& q_shape, const Shape& kv_shape, DType dtype, double tolerance) {
  const HostTensor q = Random(q_shape, dtype, 1), k = Random(kv_shape, dtype, 2),
                   v = Random(kv_shape, dtype, 3);
  auto y = RunAttention(q, k, v);
  ASSERT_TRUE(y.ok()) << y.status().message();
  ASSERT_EQ(y.value().desc(), q.desc());
  const std::vector<double> expected = Reference(q, k, v);
  for (int64_t i = 0; i < y.value().NumElements(); ++i) {
    EXPECT_NEAR(y.value().GetAsDouble(i), expected[i], tolerance * (1 + std::abs(expected[i])))
        << "element " << i;
  }
}

TEST(CausalSelfAttention, MatchesReferenceSquare) {
  ExpectMatchesReference({2, 3, 5, 4}, {2, 3, 5, 4}, DType::kF32, 1e-5);
}

TEST(CausalSelfAttention, MatchesReferenceFewerQueriesThanKeys) {
  ExpectMatchesReference({1, 2, 3, 4}, {1, 2, 7, 4}, DType::kF32, 1e-5);
}

TEST(CausalSelfAttention, MatchesReferenceInF64) {
  ExpectMatchesReference({2, 2, 6, 3}, {2, 2, 6, 3}, DType::kF64, 1e-12);
}

// The first query sees only the first key, so its output is that key's value.
TEST(CausalSelfAttention, FirstQueryCopiesFirstValue) {
  const HostTensor q = Random({1, 1, 4, 2}, DType::kF64, 4), k = Random({1, 1, 4, 2}, DType::kF64, 5);
  const HostTensor v = Random({1, 1, 4, 2}, DType::kF64, 6);
  auto y = RunAttention(q, k, v);
  ASSERT_TRUE(y.ok()) << y.status().message();
  EXPECT_NEAR(y.value().GetAsDouble(0), v.GetAsDouble(0), 1e-12);
  EXPECT_NEAR(y.value().GetAsDouble(1), v.GetAsDouble(1), 1e-12);
}

TEST(CausalSelfAttention, RejectsMismatchedShapes) {
  struct Bad {
    Shape q, k, v;
    std::string message;
  };
  const Bad cases[] = {
      {{2, 5, 4}, {2, 5, 4}, {2, 5, 4}, "q: expected rank 4"},
      {{1, 2, 5, 4}, {1, 2, 5, 3}, {1, 2, 5, 3}, "k: expected [1, 2, Tk, 4]"},
      {{1, 2, 5, 4}, {1, 2, 5, 4}, {1, 2, 6, 4}, "v: expected the shape and dtype of k"},
      {{1, 2, 5, 4}, {1, 2, 3, 4}, {1, 2, 3, 4}, "k: expected at least Tq = 5 keys"},
  };
  for (const Bad& bad : cases) {
    auto y = RunAttention(Random(bad.q, DType::kF32, 1), Random(bad.k, DType::kF32, 2),
                          Random(bad.v, DType::kF32, 3));
    ASSERT_FALSE(y.ok()) << bad.message;
    EXPECT_EQ(y.status().message().rfind("[causal_self_attention] ", 0), 0u) << y.status().message();
    EXPECT_NE(y.status().message().find(bad.message), std::string::npos) << y.status().message();
  }
}

// Runs the gradient rule of `op` (attributes completed by inference) and
// returns the input gradients.
std::vector<ValueRef> Backward(EagerEmitter& emitter, const std::string& op,
                               const std::vector<ValueRef>& inputs, const AttrMap& attrs, ValueRef output,
                               ValueRef output_grad) {
  std::vector<TensorDesc> descs;
  for (ValueRef input : inputs) descs.push_back(emitter.Desc(input));
  const InferredOp inferred = DefaultRegistries().ops.Infer(op, descs, attrs).ValueOrThrow();
  GradContext ctx;
  ctx.emitter = &emitter;
  ctx.attrs = &inferred.attrs;
  ctx.inputs = inputs;
  ctx.outputs = {output};
  ctx.output_grads = {output_grad};
  ctx.needs_input_grad.assign(inputs.size(), true);
  ctx.input_grads.assign(inputs.size(), ValueRef{});
  ThrowIfError(DefaultRegistries().ops.Find(op)->grad(ctx));
  return ctx.input_grads;
}

// d <w, attention(q, k, v)> / d{q, k, v} by the gradient rules of the three
// ops the composite emits, against central finite differences in f64.
TEST(CausalSelfAttention, GradientOfComposedOpsMatchesFiniteDifferences) {
  const Shape q_shape{1, 2, 3, 2}, kv_shape{1, 2, 4, 2};
  std::vector<HostTensor> inputs = {Random(q_shape, DType::kF64, 7), Random(kv_shape, DType::kF64, 8),
                                    Random(kv_shape, DType::kF64, 9)};
  const HostTensor weights = Random(q_shape, DType::kF64, 10);
  const double scale = 1.0 / std::sqrt(2.0);
  const AttrMap scores_attrs{{"transpose_b", true}, {"alpha", scale}};

  EagerEmitter emitter(Executor());
  const ValueRef q = emitter.Add(inputs[0]), k = emitter.Add(inputs[1]), v = emitter.Add(inputs[2]);
  const ValueRef scores = emitter.Emit1("batch_matmul", {q, k}, scores_attrs).ValueOrThrow();
  const ValueRef probs = emitter.Emit1("causal_softmax", {scores}).ValueOrThrow();
  const ValueRef y = emitter.Emit1("batch_matmul", {probs, v}).ValueOrThrow();
  const std::vector<ValueRef> d_probs_v =
      Backward(emitter, "batch_matmul", {probs, v}, {}, y, emitter.Add(weights));
  const std::vector<ValueRef> d_scores =
      Backward(emitter, "causal_softmax", {scores}, {}, probs, d_probs_v[0]);
  const std::vector<ValueRef> d_q_k =
      Backward(emitter, "batch_matmul", {q, k}, scores_attrs, scores, d_scores[0]);
  const ValueRef analytic[] = {d_q_k[0], d_q_k[1], d_probs_v[1]};

  auto loss = [&](const std::vector<HostTensor>& at) {
    const HostTensor out = RunAttention(at[0], at[1], at[2]).ValueOrThrow();
    double total = 0;
    for (int64_t i = 0; i < out.NumElements(); ++i) total += weights.GetAsDouble(i) * out.GetAsDouble(i);
    return total;
  };
  for (int input = 0; input < 3; ++input) {
    const HostTensor& gradient = emitter.Get(analytic[input]);
    ASSERT_EQ(gradient.desc(), inputs[input].desc());
    for (int64_t i = 0; i < inputs[input].NumElements(); ++i) {
      std::vector<HostTensor> plus = {inputs[0].Clone(), inputs[1].Clone(), inputs[2].Clone()};
      std::vector<HostTensor> minus = {inputs[0].Clone(), inputs[1].Clone(), inputs[2].Clone()};
      const double eps = 1e-6;
      plus[input].SetFromDouble(i, inputs[input].GetAsDouble(i) + eps);
      minus[input].SetFromDouble(i, inputs[input].GetAsDouble(i) - eps);
      const double numeric = (loss(plus) - loss(minus)) / (2 * eps);
      EXPECT_NEAR(gradient.GetAsDouble(i), numeric, 1e-6 + 1e-5 * std::abs(numeric))
          << "input " << input << " element " << i;
    }
  }
}

// The fused op against the composite it replaces: the same y, and the same
// d<w, y>/d{q, k, v} from its gradient rule (fused_causal_attention_grad)
// as from the three composite ops' rules chained by hand.
void ExpectFusedMatchesComposite(const Shape& q_shape, const Shape& kv_shape) {
  const HostTensor q_value = Random(q_shape, DType::kF32, 11), k_value = Random(kv_shape, DType::kF32, 12),
                   v_value = Random(kv_shape, DType::kF32, 13), weights = Random(q_shape, DType::kF32, 14);
  EagerEmitter emitter(Executor());
  const ValueRef q = emitter.Add(q_value), k = emitter.Add(k_value), v = emitter.Add(v_value);
  const ValueRef w = emitter.Add(weights);

  const double scale = 1.0 / std::sqrt(static_cast<double>(q_shape[3]));
  const AttrMap scores_attrs{{"transpose_b", true}, {"alpha", scale}};
  const ValueRef scores = emitter.Emit1("batch_matmul", {q, k}, scores_attrs).ValueOrThrow();
  const ValueRef probs = emitter.Emit1("causal_softmax", {scores}).ValueOrThrow();
  const ValueRef composite_y = emitter.Emit1("batch_matmul", {probs, v}).ValueOrThrow();
  const std::vector<ValueRef> d_probs_v = Backward(emitter, "batch_matmul", {probs, v}, {}, composite_y, w);
  const std::vector<ValueRef> d_scores =
      Backward(emitter, "causal_softmax", {scores}, {}, probs, d_probs_v[0]);
  const std::vector<ValueRef> d_q_k =
      Backward(emitter, "batch_matmul", {q, k}, scores_attrs, scores, d_scores[0]);
  const ValueRef composite_grads[] = {d_q_k[0], d_q_k[1], d_probs_v[1]};

  const std::vector<ValueRef> fused = emitter.Emit("fused_causal_attention", {q, k, v}, {}).ValueOrThrow();
  ASSERT_EQ(fused.size(), 2u);
  const InferredOp inferred =
      DefaultRegistries()
          .ops.Infer("fused_causal_attention", {q_value.desc(), k_value.desc(), v_value.desc()}, {})
          .ValueOrThrow();
  GradContext ctx;
  ctx.emitter = &emitter;
  ctx.attrs = &inferred.attrs;
  ctx.inputs = {q, k, v};
  ctx.outputs = fused;
  HostTensor zero_lse(emitter.Desc(fused[1]));
  for (int64_t i = 0; i < zero_lse.NumElements(); ++i) zero_lse.SetFromDouble(i, 0.0);
  ctx.output_grads = {w, emitter.Add(zero_lse)};
  ctx.needs_input_grad = {true, true, true};
  ctx.input_grads.assign(3, ValueRef{});
  ThrowIfError(DefaultRegistries().ops.Find("fused_causal_attention")->grad(ctx));

  auto expect_close = [](const HostTensor& actual, const HostTensor& expected, const std::string& what) {
    ASSERT_EQ(actual.desc(), expected.desc()) << what;
    for (int64_t i = 0; i < expected.NumElements(); ++i) {
      const double e = expected.GetAsDouble(i);
      EXPECT_NEAR(actual.GetAsDouble(i), e, 1e-5 * (1 + std::abs(e))) << what << " element " << i;
    }
  };
  expect_close(emitter.Get(fused[0]), emitter.Get(composite_y), "y");
  const char* names[] = {"dq", "dk", "dv"};
  for (int i = 0; i < 3; ++i) {
    expect_close(emitter.Get(ctx.input_grads[i]), emitter.Get(composite_grads[i]), names[i]);
  }
}

TEST(FusedCausalAttention, MatchesCompositeSquare) {
  ExpectFusedMatchesComposite({2, 2, 6, 8}, {2, 2, 6, 8});
}

TEST(FusedCausalAttention, MatchesCompositeFewerQueriesThanKeys) {
  ExpectFusedMatchesComposite({1, 3, 4, 16}, {1, 3, 9, 16});
}

}  // namespace
}  // namespace ofl

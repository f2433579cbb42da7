// ClipByGlobalNorm (ops/optimizer/clip.h) run through an EagerEmitter and
// compared with a plain reference: g * min(1, max_norm / (||g||_2 + 1e-6))
// with the norm over all gradients together.
#include "ops/optimizer/clip.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "ops/eager.h"
#include "ops/registry.h"

namespace ofl {
namespace {

const EagerExecutor& Executor() {
  static const EagerExecutor executor(DefaultRegistries().ops, DefaultRegistries().kernels);
  return executor;
}

HostTensor Filled(const Shape& shape, DType dtype, double start, double step) {
  HostTensor t(TensorDesc{shape, dtype});
  for (int64_t i = 0; i < t.NumElements(); ++i) t.SetFromDouble(i, start + step * static_cast<double>(i));
  return t;
}

// The clipped gradients computed directly in double.
std::vector<std::vector<double>> Reference(const std::vector<HostTensor>& grads, double max_norm) {
  double sum_of_squares = 0;
  for (const HostTensor& g : grads) {
    for (int64_t i = 0; i < g.NumElements(); ++i) sum_of_squares += g.GetAsDouble(i) * g.GetAsDouble(i);
  }
  const double scale = std::min(1.0, max_norm / (std::sqrt(sum_of_squares) + 1e-6));
  std::vector<std::vector<double>> clipped;
  for (const HostTensor& g : grads) {
    std::vector<double> values;
    for (int64_t i = 0; i < g.NumElements(); ++i) values.push_back(g.GetAsDouble(i) * scale);
    clipped.push_back(values);
  }
  return clipped;
}

void CheckClip(const std::vector<HostTensor>& grads, double max_norm, double tolerance) {
  EagerEmitter emitter(Executor());
  std::vector<ValueRef> refs;
  for (const HostTensor& g : grads) refs.push_back(emitter.Add(g));
  auto clipped = ClipByGlobalNorm(emitter, refs, max_norm);
  ASSERT_TRUE(clipped.ok()) << clipped.status().message();
  ASSERT_EQ(clipped.value().size(), grads.size());
  const std::vector<std::vector<double>> expected = Reference(grads, max_norm);
  for (size_t k = 0; k < grads.size(); ++k) {
    const HostTensor& actual = emitter.Get(clipped.value()[k]);
    ASSERT_EQ(actual.desc(), grads[k].desc()) << "gradient " << k;
    for (int64_t i = 0; i < actual.NumElements(); ++i) {
      EXPECT_NEAR(actual.GetAsDouble(i), expected[k][i], tolerance * (1 + std::abs(expected[k][i])))
          << "gradient " << k << " element " << i;
    }
  }
}

TEST(ClipByGlobalNorm, ScalesDownWhenTheNormExceedsMaxNorm) {
  // Norm about 5.6, so every gradient shrinks by about 0.089.
  CheckClip({Filled({2, 3}, DType::kF32, -1.0, 0.5), Filled({4}, DType::kF32, 2.0, -1.25),
             Filled({}, DType::kF32, 3.0, 0.0)},
            0.5, 1e-6);
}

TEST(ClipByGlobalNorm, LeavesSmallGradientsUnchanged) {
  const std::vector<HostTensor> grads = {Filled({3, 2}, DType::kF64, 0.01, 0.02),
                                         Filled({5}, DType::kF64, -0.1, 0.03)};
  CheckClip(grads, 10.0, 1e-12);
}

TEST(ClipByGlobalNorm, SingleGradientInDouble) {
  CheckClip({Filled({2, 2, 3}, DType::kF64, -2.0, 0.3)}, 1.0, 1e-12);
}

TEST(ClipByGlobalNorm, ZeroGradientsStayZero) { CheckClip({Filled({4}, DType::kF32, 0.0, 0.0)}, 1.0, 0.0); }

TEST(ClipByGlobalNorm, RejectsBadArguments) {
  EagerEmitter emitter(Executor());
  auto none = ClipByGlobalNorm(emitter, {}, 1.0);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("[clip_by_global_norm] grads: expected at least one"),
            std::string::npos)
      << none.status().message();

  const ValueRef a = emitter.Add(Filled({2}, DType::kF32, 1.0, 1.0));
  const ValueRef b = emitter.Add(Filled({2}, DType::kF64, 1.0, 1.0));
  auto mixed = ClipByGlobalNorm(emitter, {a, b}, 1.0);
  ASSERT_FALSE(mixed.ok());
  EXPECT_NE(mixed.status().message().find("grads[1]: expected dtype f32"), std::string::npos)
      << mixed.status().message();

  auto zero_norm = ClipByGlobalNorm(emitter, {a}, 0.0);
  ASSERT_FALSE(zero_norm.ok());
  EXPECT_NE(
      zero_norm.status().message().find("[clip_by_global_norm] max_norm: expected a finite value > 0, got 0"),
      std::string::npos)
      << zero_norm.status().message();
}

}  // namespace
}  // namespace ofl

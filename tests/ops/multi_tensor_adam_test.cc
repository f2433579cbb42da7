// multi_tensor_adam_update writes params, ms and vs in place, which its
// schema cannot declare (see ops/optimizer/multi_tensor_adam.h), so the op
// harness compares no values for it. This test does: one multi-tensor update
// must leave every tensor exactly as adam_update on that tensor alone does,
// for Adam and AdamW, over several steps.
#include <gtest/gtest.h>

#include <random>

#include "ops/eager.h"
#include "ops/registry.h"

namespace ofl {
namespace {

const EagerExecutor& Executor() {
  static const EagerExecutor executor(DefaultRegistries().ops, DefaultRegistries().kernels);
  return executor;
}

HostTensor Random(const Shape& shape, DType dtype, std::mt19937_64& rng, double low, double high) {
  HostTensor t(TensorDesc{shape, dtype});
  std::uniform_real_distribution<double> uniform(low, high);
  for (int64_t i = 0; i < t.NumElements(); ++i) t.SetFromDouble(i, uniform(rng));
  return t;
}

HostTensor Scalar(DType dtype, double value) {
  HostTensor t(TensorDesc{Shape({}), dtype});
  t.SetFromDouble(0, value);
  return t;
}

void ExpectSameBits(const HostTensor& actual, const HostTensor& expected, const std::string& what) {
  ASSERT_EQ(actual.desc(), expected.desc()) << what;
  for (int64_t i = 0; i < expected.NumElements(); ++i) {
    ASSERT_EQ(actual.GetAsDouble(i), expected.GetAsDouble(i)) << what << " element " << i;
  }
}

TEST(MultiTensorAdamTest, EqualsAdamUpdatePerTensor) {
  const std::vector<Shape> shapes = {Shape({3, 5}), Shape({1}), Shape({7, 2, 3})};
  for (DType dtype : {DType::kF32, DType::kF64}) {
    for (bool decoupled : {false, true}) {
      const AttrMap attrs = {{"beta1", 0.8},
                             {"beta2", 0.95},
                             {"epsilon", 1e-6},
                             {"weight_decay", 0.1},
                             {"decoupled_weight_decay", decoupled}};
      std::mt19937_64 rng(decoupled ? 7 : 3);
      std::vector<HostTensor> params, ms, vs, grads;
      for (const Shape& shape : shapes) {
        params.push_back(Random(shape, dtype, rng, -1, 1));
        ms.push_back(Random(shape, dtype, rng, -0.1, 0.1));
        vs.push_back(Random(shape, dtype, rng, 0, 0.1));
      }
      std::vector<HostTensor> expected_params, expected_ms, expected_vs;
      for (size_t i = 0; i < shapes.size(); ++i) {
        expected_params.push_back(params[i].Clone());
        expected_ms.push_back(ms[i].Clone());
        expected_vs.push_back(vs[i].Clone());
      }
      for (int step = 1; step <= 3; ++step) {
        const HostTensor learning_rate = Scalar(dtype, 0.01), step_tensor = Scalar(DType::kI64, step);
        grads.clear();
        for (const Shape& shape : shapes) grads.push_back(Random(shape, dtype, rng, -1, 1));
        std::vector<HostTensor> inputs = {learning_rate, step_tensor};
        for (const auto* group : {&params, &grads, &ms, &vs})
          inputs.insert(inputs.end(), group->begin(), group->end());
        auto fused = Executor().Run("multi_tensor_adam_update", inputs, attrs);
        ASSERT_TRUE(fused.ok()) << fused.status().message();
        for (size_t i = 0; i < shapes.size(); ++i) {
          auto single = Executor().Run(
              "adam_update",
              {expected_params[i], grads[i], expected_ms[i], expected_vs[i], learning_rate, step_tensor},
              attrs);
          ASSERT_TRUE(single.ok()) << single.status().message();
        }
        for (size_t i = 0; i < shapes.size(); ++i) {
          const std::string what = DTypeName(dtype) + (decoupled ? " AdamW" : " Adam") + " step " +
                                   std::to_string(step) + " tensor " + std::to_string(i);
          ExpectSameBits(params[i], expected_params[i], what + " param");
          ExpectSameBits(ms[i], expected_ms[i], what + " m");
          ExpectSameBits(vs[i], expected_vs[i], what + " v");
        }
      }
    }
  }
}

}  // namespace
}  // namespace ofl

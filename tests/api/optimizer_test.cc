// Optimizer configuration: the AttrMap it becomes, its validation (errors
// name the field, the expected range and the value) and the inverse.
#include "api/optimizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <string>

namespace ofl::api {
namespace {

using ::testing::HasSubstr;

TEST(Optimizer, SgdWithMomentumBecomesEveryKey) {
  StatusOr<AttrMap> attrs = OptimizerToAttrs(Optimizer::Sgd(0.1, 0.9).WithWeightDecay(1e-4));
  ASSERT_TRUE(attrs.ok()) << attrs.status().message();
  const AttrMap& a = attrs.value();
  EXPECT_EQ(a.GetString("kind"), "sgd");
  EXPECT_DOUBLE_EQ(a.GetFloat("learning_rate"), 0.1);
  EXPECT_DOUBLE_EQ(a.GetFloat("momentum"), 0.9);
  EXPECT_DOUBLE_EQ(a.GetFloat("weight_decay"), 1e-4);
  EXPECT_DOUBLE_EQ(a.GetFloat("clip_norm"), 0);
  EXPECT_EQ(a.GetInt("warmup_steps"), 0);
  EXPECT_EQ(a.GetInt("decay_steps"), 0);
  EXPECT_EQ(a.values().size(), 11u);
}

TEST(Optimizer, AdamAndAdamWWithScheduleAndClipping) {
  StatusOr<AttrMap> adam = OptimizerToAttrs(Optimizer::Adam(1e-3, 0.8, 0.95, 1e-6).WithWarmup(50));
  ASSERT_TRUE(adam.ok()) << adam.status().message();
  EXPECT_EQ(adam.value().GetString("kind"), "adam");
  EXPECT_DOUBLE_EQ(adam.value().GetFloat("beta1"), 0.8);
  EXPECT_DOUBLE_EQ(adam.value().GetFloat("beta2"), 0.95);
  EXPECT_DOUBLE_EQ(adam.value().GetFloat("epsilon"), 1e-6);
  EXPECT_DOUBLE_EQ(adam.value().GetFloat("weight_decay"), 0);
  EXPECT_EQ(adam.value().GetInt("warmup_steps"), 50);

  StatusOr<AttrMap> adamw =
      OptimizerToAttrs(Optimizer::AdamW(6e-4, 0.1).WithClipNorm(1).WithWarmupCosine(2000, 600000, 6e-5));
  ASSERT_TRUE(adamw.ok()) << adamw.status().message();
  EXPECT_EQ(adamw.value().GetString("kind"), "adamw");
  EXPECT_DOUBLE_EQ(adamw.value().GetFloat("weight_decay"), 0.1);
  EXPECT_DOUBLE_EQ(adamw.value().GetFloat("clip_norm"), 1);
  EXPECT_EQ(adamw.value().GetInt("warmup_steps"), 2000);
  EXPECT_EQ(adamw.value().GetInt("decay_steps"), 600000);
  EXPECT_DOUBLE_EQ(adamw.value().GetFloat("min_learning_rate"), 6e-5);
}

struct BadCase {
  Optimizer optimizer;
  std::string message;
};

TEST(Optimizer, ValidationNamesTheField) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const BadCase cases[] = {
      {Optimizer::Sgd(0), "[optimizer] learning_rate: expected a finite value > 0, got 0"},
      {Optimizer::Sgd(-0.5), "learning_rate: expected a finite value > 0, got -0.5"},
      {Optimizer::Adam(nan), "learning_rate: expected a finite value > 0, got nan"},
      {Optimizer::Sgd(0.1, 1.0), "momentum: expected a value in [0, 1), got 1"},
      {Optimizer::Sgd(0.1, -0.1), "momentum: expected a value in [0, 1), got -0.1"},
      {Optimizer::Adam(1e-3, 1.0), "beta1: expected a value in [0, 1), got 1"},
      {Optimizer::Adam(1e-3, 0.9, 1.5), "beta2: expected a value in [0, 1), got 1.5"},
      {Optimizer::Adam(1e-3, 0.9, 0.999, 0), "epsilon: expected a finite value > 0, got 0"},
      {Optimizer::AdamW(1e-3, -0.01), "weight_decay: expected a finite value >= 0, got -0.01"},
      {Optimizer::Sgd(0.1).WithClipNorm(-1), "clip_norm: expected a finite value >= 0, got -1"},
      {Optimizer::Sgd(0.1).WithWarmup(-3), "schedule.warmup_steps: expected a count >= 0, got -3"},
      {Optimizer::Sgd(0.1).WithWarmupCosine(0, -1), "schedule.decay_steps: expected a count >= 0, got -1"},
      {Optimizer::Sgd(0.1).WithWarmupCosine(10, 100, 0.2),
       "schedule.min_learning_rate: expected a value in [0, learning_rate = 0.1], got 0.2"},
  };
  for (const BadCase& bad : cases) {
    Status status = ValidateOptimizer(bad.optimizer);
    ASSERT_FALSE(status.ok()) << bad.message;
    EXPECT_THAT(status.message(), HasSubstr(bad.message));
    EXPECT_EQ(status.message().rfind("[optimizer] ", 0), 0u) << status.message();
    EXPECT_FALSE(OptimizerToAttrs(bad.optimizer).ok());
  }
  // Betas do not matter for SGD, momentum not for Adam.
  Optimizer sgd = Optimizer::Sgd(0.1);
  sgd.beta1 = 7;
  EXPECT_TRUE(ValidateOptimizer(sgd).ok());
  Optimizer adam = Optimizer::Adam(0.1);
  adam.momentum = 7;
  EXPECT_TRUE(ValidateOptimizer(adam).ok());
}

TEST(Optimizer, FromAttrsInvertsToAttrsAndFillsDefaults) {
  const Optimizer original =
      Optimizer::AdamW(2e-4, 0.05, 0.85, 0.98, 1e-7).WithClipNorm(0.5).WithWarmupCosine(5, 50, 1e-6);
  StatusOr<Optimizer> back = OptimizerFromAttrs(OptimizerToAttrs(original).value());
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back.value().kind, Optimizer::Kind::kAdamW);
  EXPECT_DOUBLE_EQ(back.value().learning_rate, 2e-4);
  EXPECT_DOUBLE_EQ(back.value().weight_decay, 0.05);
  EXPECT_DOUBLE_EQ(back.value().beta1, 0.85);
  EXPECT_DOUBLE_EQ(back.value().beta2, 0.98);
  EXPECT_DOUBLE_EQ(back.value().epsilon, 1e-7);
  EXPECT_DOUBLE_EQ(back.value().clip_norm, 0.5);
  EXPECT_EQ(back.value().schedule.warmup_steps, 5);
  EXPECT_EQ(back.value().schedule.decay_steps, 50);
  EXPECT_DOUBLE_EQ(back.value().schedule.min_learning_rate, 1e-6);

  StatusOr<Optimizer> defaults = OptimizerFromAttrs(AttrMap{});
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults.value().kind, Optimizer::Kind::kSgd);
  EXPECT_DOUBLE_EQ(defaults.value().learning_rate, 0.001);
  EXPECT_DOUBLE_EQ(defaults.value().beta2, 0.999);

  EXPECT_THAT(OptimizerFromAttrs(AttrMap{{"betas", 0.9}}).status().message(),
              HasSubstr("unknown key 'betas'"));
  EXPECT_THAT(OptimizerFromAttrs(AttrMap{{"kind", std::string("lamb")}}).status().message(),
              HasSubstr("kind: expected \"sgd\", \"adam\" or \"adamw\", got \"lamb\""));
  EXPECT_THAT(OptimizerFromAttrs(AttrMap{{"warmup_steps", 1.5}}).status().message(),
              HasSubstr("warmup_steps: expected an int, got float"));
  EXPECT_THAT(OptimizerFromAttrs(AttrMap{{"learning_rate", std::string("fast")}}).status().message(),
              HasSubstr("learning_rate: expected a float, got string"));
}

}  // namespace
}  // namespace ofl::api

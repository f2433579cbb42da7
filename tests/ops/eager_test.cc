// The eager executor and emitter: errors surface as Status, never crashes.
#include <gtest/gtest.h>

#include "ops/eager.h"
#include "ops/registry.h"

namespace ofl {
namespace {

TEST(EagerExecutor, RunsAnOpAndReportsBadInput) {
  const Registries& registries = DefaultRegistries();
  EagerExecutor executor(registries.ops, registries.kernels);
  const HostTensor a = HostTensor::FromVector<float>(Shape{2, 2}, {1, 2, 3, 4});
  const HostTensor b = HostTensor::FromVector<float>(Shape{2}, {10, 20});
  auto sum = executor.Run("add", {a, b}, {});
  ASSERT_TRUE(sum.ok()) << sum.status().message();
  EXPECT_EQ(sum.value()[0].ToDoubles(), (std::vector<double>{11, 22, 13, 24}));

  auto unknown = executor.Run("no_such_op", {a}, {});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message().rfind("[no_such_op] unknown op", 0), 0u);

  const HostTensor c = HostTensor::FromVector<float>(Shape{3}, {1, 2, 3});
  auto mismatch = executor.Run("mul", {a, c}, {});
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.status().message().find("[mul] b: expected a shape broadcastable with [2, 2]"), std::string::npos)
      << mismatch.status().message();
}

TEST(EagerEmitter, ChainsOpsAndRejectsForeignValues) {
  const Registries& registries = DefaultRegistries();
  EagerExecutor executor(registries.ops, registries.kernels);
  EagerEmitter emitter(executor);
  const ValueRef x = emitter.Add(HostTensor::FromVector<double>(Shape{3}, {-1, 0.5, 2}));
  auto relu = emitter.Emit1("relu", {x});
  ASSERT_TRUE(relu.ok());
  auto doubled = emitter.Emit1("scalar_mul", {relu.value()}, {{"scalar", 2.0}});
  ASSERT_TRUE(doubled.ok());
  EXPECT_EQ(emitter.Get(doubled.value()).ToDoubles(), (std::vector<double>{0, 1, 4}));
  EXPECT_EQ(emitter.Desc(doubled.value()).dtype, DType::kF64);

  auto foreign = emitter.Emit1("relu", {ValueRef{99}});
  ASSERT_FALSE(foreign.ok());
  EXPECT_NE(foreign.status().message().find("expected a value of this emitter, got id 99"), std::string::npos);
  auto two_outputs = emitter.Emit1("maximum_grad", {x, x, x});
  ASSERT_FALSE(two_outputs.ok());
  EXPECT_NE(two_outputs.status().message().find("expected exactly one output"), std::string::npos);
}

}  // namespace
}  // namespace ofl

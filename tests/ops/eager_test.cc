// The eager executor and emitter: errors surface as Status, never crashes.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

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

// Edge values found in review: each once crashed, overflowed or hid a NaN.
TEST(EagerExecutor, EdgeValuesGiveDefinedResults) {
  const Registries& registries = DefaultRegistries();
  EagerExecutor executor(registries.ops, registries.kernels);
  const double nan = std::nan("");
  const HostTensor with_nan = HostTensor::FromVector<float>(Shape{2}, {static_cast<float>(nan), 1.0f});
  const HostTensor ones = HostTensor::FromVector<float>(Shape{2}, {1.0f, 1.0f});
  for (const auto& [a, b] : {std::pair{with_nan, ones}, std::pair{ones, with_nan}}) {
    for (const char* op : {"maximum", "minimum"}) {
      auto y = executor.Run(op, {a, b}, {});
      ASSERT_TRUE(y.ok());
      EXPECT_TRUE(std::isnan(y.value()[0].GetAsDouble(0))) << op << " must propagate NaN in either operand";
    }
  }
  auto relu = executor.Run("relu", {with_nan}, {});
  ASSERT_TRUE(relu.ok());
  EXPECT_TRUE(std::isnan(relu.value()[0].GetAsDouble(0)));

  // Float to integer casts saturate and map NaN to 0 instead of being undefined.
  const HostTensor wide = HostTensor::FromVector<float>(Shape{4}, {300.0f, -7.5f, static_cast<float>(nan), 1e30f});
  auto to_u8 = executor.Run("cast", {wide}, {{"dtype", DType::kU8}});
  ASSERT_TRUE(to_u8.ok()) << to_u8.status().message();
  EXPECT_EQ(to_u8.value()[0].ToDoubles(), (std::vector<double>{255, 0, 0, 255}));
  auto to_i32 = executor.Run("cast", {wide}, {{"dtype", DType::kI32}});
  ASSERT_TRUE(to_i32.ok());
  EXPECT_EQ(to_i32.value()[0].ToDoubles(), (std::vector<double>{300, -7, 0, 2147483647}));

  // A shape whose byte size overflows is an error, not a tiny allocation.
  auto huge = registries.ops.Infer("fill", {}, {{"shape", Shape{int64_t{1} << 32, int64_t{1} << 32}}});
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.status().message().find("[fill] output 0: expected a size that fits in 64 bits"), std::string::npos)
      << huge.status().message();

  // A step larger than the axis takes the first element (no overflow).
  const HostTensor five = HostTensor::FromVector<float>(Shape{5}, {1, 2, 3, 4, 5});
  auto first = executor.Run("slice", {five},
                            {{"start", std::vector<int64_t>{0}},
                             {"stop", std::vector<int64_t>{5}},
                             {"step", std::vector<int64_t>{std::numeric_limits<int64_t>::max()}}});
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_EQ(first.value()[0].ToDoubles(), std::vector<double>{1});
}

}  // namespace
}  // namespace ofl

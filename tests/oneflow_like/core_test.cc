// Core value types: dtypes, half conversions, shapes, placements, regions,
// attributes, status macros and the kernel registry.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "oneflow_like/attr.h"
#include "oneflow_like/dtype.h"
#include "oneflow_like/host_tensor.h"
#include "oneflow_like/kernel.h"
#include "oneflow_like/placement.h"
#include "oneflow_like/region.h"

namespace ofl {
namespace {

TEST(DType, NamesRoundTripAndSizes) {
  for (DType dtype : kAllDTypes) {
    auto parsed = ParseDType(DTypeName(dtype));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed.value(), dtype);
  }
  EXPECT_EQ(SizeOf(DType::kBF16), 2u);
  EXPECT_EQ(SizeOf(DType::kI64), 8u);
  auto bad = ParseDType("float32");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("got 'float32'"), std::string::npos);
}

TEST(Half, Float16RoundsToNearestEvenAndKeepsSpecials) {
  EXPECT_EQ(static_cast<float>(Float16(1.0f)), 1.0f);
  EXPECT_EQ(static_cast<float>(Float16(-2.5f)), -2.5f);
  EXPECT_EQ(static_cast<float>(Float16(65504.0f)), 65504.0f);
  EXPECT_TRUE(std::isinf(static_cast<float>(Float16(70000.0f))));
  EXPECT_TRUE(std::isnan(static_cast<float>(Float16(std::nanf("")))));
  // 1 + 2^-11 lies halfway between 1 and the next half (1 + 2^-10): ties to even -> 1.
  EXPECT_EQ(static_cast<float>(Float16(1.0f + std::ldexp(1.0f, -11))), 1.0f);
  // Smallest subnormal half.
  EXPECT_EQ(static_cast<float>(Float16(std::ldexp(1.0f, -24))), std::ldexp(1.0f, -24));
  for (uint32_t bits = 0; bits < 0x7c00; ++bits) {  // every finite positive half round-trips
    Float16 h;
    h.bits = static_cast<uint16_t>(bits);
    ASSERT_EQ(Float16(static_cast<float>(h)).bits, h.bits) << bits;
  }
}

TEST(Half, BFloat16RoundsToNearestEven) {
  EXPECT_EQ(static_cast<float>(BFloat16(1.0f)), 1.0f);
  EXPECT_EQ(static_cast<float>(BFloat16(3.140625f)), 3.140625f);
  EXPECT_EQ(static_cast<float>(BFloat16(1.0f + std::ldexp(1.0f, -8))), 1.0f);  // tie to even
  EXPECT_TRUE(std::isnan(static_cast<float>(BFloat16(std::nanf("")))));
}

TEST(Shape, CountsStridesAndAxes) {
  const Shape shape{2, 3, 4};
  EXPECT_EQ(shape.NumElements(), 24);
  EXPECT_EQ(shape.Strides(), (std::vector<int64_t>{12, 4, 1}));
  EXPECT_EQ(shape.ToString(), "[2, 3, 4]");
  EXPECT_EQ(Shape{}.NumElements(), 1);
  EXPECT_EQ(NormalizeAxis("[t]", -1, 3).value(), 2);
  auto bad = NormalizeAxis("[t] axis", 3, 3);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "[t] axis: expected an axis in [-3, 2] for rank 3, got 3");
}

TEST(Placement, MeshesAndErrors) {
  auto mesh = Placement::Mesh(DeviceType::kCPU, Shape{2, 2});
  ASSERT_TRUE(mesh.ok());
  EXPECT_EQ(mesh.value().num_devices(), 4);
  EXPECT_EQ(mesh.value().MeshCoordinates(3), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(mesh.value().MeshCoordinates(2), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(mesh.value().ToString(), "cpu:[0,1,2,3] mesh [2, 2]");
  auto wrong_count = Placement::Create(DeviceType::kCPU, {DeviceId{}, DeviceId{DeviceType::kCPU, 0, 1}}, Shape{3});
  ASSERT_FALSE(wrong_count.ok());
  EXPECT_NE(wrong_count.status().message().find("holds 3 devices, got 2"), std::string::npos);
  auto duplicate = Placement::Create(DeviceType::kCPU, {DeviceId{}, DeviceId{}}, Shape{2});
  ASSERT_FALSE(duplicate.ok());
  EXPECT_NE(duplicate.status().message().find("appears twice"), std::string::npos);
  auto negative = Placement::Mesh(DeviceType::kCPU, Shape{-1, -2});
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.status().message().find("expected every extent >= 1, got -1"), std::string::npos);
  auto mixed = Placement::Create(DeviceType::kCPU, {DeviceId{}, DeviceId{DeviceType::kCUDA, 0, 0}}, Shape{2});
  ASSERT_FALSE(mixed.ok());
}

TEST(Region, IntersectAndCopy) {
  const Region a{{0, 0}, {3, 4}};
  const Region b{{2, 1}, {5, 3}};
  auto overlap = Intersect(a, b);
  ASSERT_TRUE(overlap.has_value());
  EXPECT_EQ(*overlap, (Region{{2, 1}, {3, 3}}));
  EXPECT_FALSE(Intersect(a, Region{{3, 0}, {4, 4}}).has_value());

  // Copy logical rows 2..4, cols 1..3 of a 5x4 tensor into a piece holding rows 2..5.
  HostTensor whole = HostTensor::FromVector<float>(Shape{5, 4}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
                                                                  16, 17, 18, 19});
  HostTensor piece(TensorDesc{Shape{3, 4}, DType::kF32});
  const Region piece_region{{2, 0}, {5, 4}};
  CopyRegion(whole.AsBlob(), Region::Whole(whole.shape()), piece.AsBlob(), piece_region, b);
  EXPECT_EQ(piece.data<float>()[1], 9.0f);   // logical (2,1)
  EXPECT_EQ(piece.data<float>()[6], 14.0f);  // logical (3,2)
  EXPECT_EQ(piece.data<float>()[0], 0.0f);   // outside `what`: untouched
  CopyRegion(whole.AsBlob(), Region::Whole(whole.shape()), piece.AsBlob(), piece_region, b, /*accumulate=*/true);
  EXPECT_EQ(piece.data<float>()[1], 18.0f);
}

TEST(HostTensor, FromVectorChecksTheCount) {
  EXPECT_EQ(HostTensor::FromVector<int64_t>(Shape{2}, {3, 4}).ToDoubles(), (std::vector<double>{3, 4}));
  EXPECT_THROW(HostTensor::FromVector<float>(Shape{2, 2}, {1, 2, 3}), Error);
}

TEST(Attr, TypedAccessAndPrinting) {
  AttrMap attrs{{"axis", int64_t{1}}, {"scale", 0.5}, {"form", std::string("tanh")}};
  EXPECT_EQ(attrs.GetInt("axis"), 1);
  EXPECT_EQ(attrs.GetFloat("axis"), 1.0);  // ints read as floats
  EXPECT_EQ(attrs.ToString(), "{axis=1, form=\"tanh\", scale=0.5}");
  EXPECT_THROW(attrs.GetString("axis"), Error);
  EXPECT_THROW(attrs.GetInt("missing"), Error);
}

Status FailsWhenNegative(int value) {
  OFL_CHECK_OR_RETURN(value >= 0) << "[demo] value: expected >= 0, got " << value;
  return Status::Ok();
}

StatusOr<int> Doubled(int value) {
  OFL_RETURN_IF_ERROR(FailsWhenNegative(value));
  return 2 * value;
}

TEST(Status, MacrosPropagate) {
  EXPECT_EQ(Doubled(3).value(), 6);
  auto bad = Doubled(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "[demo] value: expected >= 0, got -1");
  EXPECT_THROW(Doubled(-1).ValueOrThrow(), Error);
}

TEST(KernelRegistry, FindsByKeyAndExplainsMisses) {
  KernelRegistry registry;
  auto kernel = MakeFunctionKernel([](KernelContext&) { return Status::Ok(); });
  ASSERT_TRUE(registry.RegisterForDTypes("demo", DeviceType::kCPU, {DType::kF32, DType::kF64}, kernel).ok());
  EXPECT_TRUE(registry.Find(KernelKey{"demo", DeviceType::kCPU, DType::kF32}).ok());
  auto missing = registry.Find(KernelKey{"demo", DeviceType::kCPU, DType::kI8});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "[demo] no cpu kernel for dtype i8; kernels exist for: f32 f64");
  EXPECT_FALSE(registry.Register(KernelKey{"demo", DeviceType::kCPU, DType::kF32}, kernel).ok());
  EXPECT_EQ(registry.DevicesFor("demo"), std::vector<DeviceType>{DeviceType::kCPU});
}

}  // namespace
}  // namespace ofl

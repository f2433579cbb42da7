// The boxing cost model: bytes moved per transition and device count.
#include <gtest/gtest.h>

#include "sbp/cost_model.h"

namespace ofl {
namespace {

TEST(BoxingCost1D, RingCollectiveVolumes) {
  const double t = 100.0;
  EXPECT_DOUBLE_EQ(BoxingCost1D(Sbp::Split(0), Sbp::Broadcast(), t, 4), 300.0);    // all-gather
  EXPECT_DOUBLE_EQ(BoxingCost1D(Sbp::PartialSum(), Sbp::Broadcast(), t, 4), 600.0);  // all-reduce
  EXPECT_DOUBLE_EQ(BoxingCost1D(Sbp::PartialSum(), Sbp::Split(1), t, 4), 300.0);   // reduce-scatter
  EXPECT_DOUBLE_EQ(BoxingCost1D(Sbp::Split(0), Sbp::Split(1), t, 4), 75.0);        // all-to-all
  EXPECT_DOUBLE_EQ(BoxingCost1D(Sbp::PartialSum(), Sbp::PartialMax(), t, 4), 600.0);
  EXPECT_DOUBLE_EQ(BoxingCost1D(Sbp::Broadcast(), Sbp::Split(0), t, 4), 0.0);      // local slice
  EXPECT_DOUBLE_EQ(BoxingCost1D(Sbp::Broadcast(), Sbp::PartialSum(), t, 4), 0.0);  // keep on one
  EXPECT_DOUBLE_EQ(BoxingCost1D(Sbp::Split(0), Sbp::PartialSum(), t, 4), 0.0);     // zero-fill
  EXPECT_DOUBLE_EQ(BoxingCost1D(Sbp::Split(1), Sbp::Split(1), t, 4), 0.0);
  EXPECT_DOUBLE_EQ(BoxingCost1D(Sbp::PartialSum(), Sbp::Broadcast(), t, 1), 0.0);  // one device
}

TEST(BoxingCost1D, GrowsWithDeviceCount) {
  double previous = 0.0;
  for (int n = 2; n <= 8; ++n) {
    const double cost = BoxingCost1D(Sbp::PartialSum(), Sbp::Broadcast(), 1000.0, n);
    EXPECT_GT(cost, previous);
    previous = cost;
  }
}

TEST(BoxingCost, MeshConvertsOneDimensionAtATime) {
  const Placement mesh = Placement::Mesh(DeviceType::kCPU, Shape{2, 2}).value();
  const TensorDesc desc{Shape{8, 8}, DType::kF32};  // 256 bytes
  // Two groups of two devices each all-reduce the whole 256 bytes.
  EXPECT_DOUBLE_EQ(BoxingCost(desc, mesh, {Sbp::PartialSum(), Sbp::Broadcast()}, mesh,
                              {Sbp::Broadcast(), Sbp::Broadcast()}),
                   1024.0);
  // Along dimension 1 each group all-reduces only its half of the rows.
  EXPECT_DOUBLE_EQ(BoxingCost(desc, mesh, {Sbp::Split(0), Sbp::PartialSum()}, mesh,
                              {Sbp::Split(0), Sbp::Broadcast()}),
                   512.0);
  EXPECT_DOUBLE_EQ(BoxingCost(desc, mesh, {Sbp::Broadcast(), Sbp::Broadcast()}, mesh,
                              {Sbp::Split(0), Sbp::Split(1)}),
                   0.0);
  // Both dimensions change: the sum of the two steps.
  const double both = BoxingCost(desc, mesh, {Sbp::PartialSum(), Sbp::PartialSum()}, mesh,
                                 {Sbp::Broadcast(), Sbp::Broadcast()});
  EXPECT_DOUBLE_EQ(both, 1024.0 + 1024.0);
}

TEST(BoxingCost, DifferentPlacementsSendEveryDestinationPiece) {
  const Placement first = Placement::Linear(DeviceType::kCPU, 2);
  const Placement second =
      Placement::Create(DeviceType::kCPU, {DeviceId{DeviceType::kCPU, 0, 2}, DeviceId{DeviceType::kCPU, 0, 3}},
                        Shape{2})
          .value();
  const TensorDesc desc{Shape{8, 8}, DType::kF32};
  EXPECT_DOUBLE_EQ(BoxingCost(desc, first, {Sbp::Split(0)}, second, {Sbp::Broadcast()}), 512.0);
  EXPECT_DOUBLE_EQ(BoxingCost(desc, first, {Sbp::Split(0)}, second, {Sbp::Split(0)}), 256.0);
  EXPECT_DOUBLE_EQ(BoxingCost(desc, first, {Sbp::PartialSum()}, second, {Sbp::Split(1)}), 512.0);
}

}  // namespace
}  // namespace ofl

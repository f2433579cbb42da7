// The physical slicing rule, 1-D and N-D, with uneven pieces.
#include <gtest/gtest.h>

#include <map>

#include "sbp/slicing.h"

namespace ofl {
namespace {

TEST(BalancedSlicing, UnevenLengthsGiveEarlierPiecesOneMore) {
  EXPECT_EQ(BalancedSizes(10, 4), (std::vector<int64_t>{3, 3, 2, 2}));
  EXPECT_EQ(BalancedSizes(2, 3), (std::vector<int64_t>{1, 1, 0}));
  EXPECT_EQ(BalancedSizes(12, 4), (std::vector<int64_t>{3, 3, 3, 3}));
  EXPECT_EQ(BalancedRange(10, 4, 2), (std::pair<int64_t, int64_t>{6, 8}));
  EXPECT_EQ(BalancedRange(10, 4, 3), (std::pair<int64_t, int64_t>{8, 10}));
}

TEST(PhysicalRegion, OneDimensional) {
  const Placement four = Placement::Linear(DeviceType::kCPU, 4);
  EXPECT_EQ(PhysicalShape(Shape{10, 6}, {Sbp::Split(0)}, four, 0), (Shape{3, 6}));
  EXPECT_EQ(PhysicalShape(Shape{10, 6}, {Sbp::Split(0)}, four, 3), (Shape{2, 6}));
  EXPECT_EQ(PhysicalShape(Shape{10, 6}, {Sbp::Split(1)}, four, 3), (Shape{10, 1}));
  EXPECT_EQ(PhysicalShape(Shape{10, 6}, {Sbp::Broadcast()}, four, 2), (Shape{10, 6}));
  EXPECT_EQ(PhysicalShape(Shape{10, 6}, {Sbp::PartialSum()}, four, 1), (Shape{10, 6}));
  EXPECT_EQ(PhysicalRegion(Shape{10, 6}, {Sbp::Split(0)}, four, 2), (Region{{6, 0}, {8, 6}}));
}

TEST(PhysicalRegion, NestedSplitsOnAMesh) {
  const Placement mesh = Placement::Mesh(DeviceType::kCPU, Shape{2, 2}).value();
  // (S(0), S(0)) on [2, 2]: rows split in 2, then each half split in 2 again.
  // 10 rows -> halves 5,5 -> quarters 3,2,3,2.
  const NdSbp twice = {Sbp::Split(0), Sbp::Split(0)};
  EXPECT_EQ(PhysicalRegion(Shape{10}, twice, mesh, 0), (Region{{0}, {3}}));
  EXPECT_EQ(PhysicalRegion(Shape{10}, twice, mesh, 1), (Region{{3}, {5}}));
  EXPECT_EQ(PhysicalRegion(Shape{10}, twice, mesh, 2), (Region{{5}, {8}}));
  EXPECT_EQ(PhysicalRegion(Shape{10}, twice, mesh, 3), (Region{{8}, {10}}));
  // (S(0), S(1)): device (1, 0) holds the second half of the rows, first half of the columns.
  EXPECT_EQ(PhysicalRegion(Shape{4, 6}, {Sbp::Split(0), Sbp::Split(1)}, mesh, 2), (Region{{2, 0}, {4, 3}}));
  // (B, S(1)): both rows of the mesh hold the same column halves.
  EXPECT_EQ(PhysicalRegion(Shape{4, 6}, {Sbp::Broadcast(), Sbp::Split(1)}, mesh, 1),
            PhysicalRegion(Shape{4, 6}, {Sbp::Broadcast(), Sbp::Split(1)}, mesh, 3));
}

// For every N-D SBP on a [2, 3] mesh and an uneven shape, the pieces cover
// each logical element exactly (copies) times, where copies is the product
// of the non-split mesh dimensions.
TEST(PhysicalRegion, PiecesTileTheLogicalTensor) {
  const Placement mesh = Placement::Mesh(DeviceType::kCPU, Shape{2, 3}).value();
  const Shape logical{5, 7};
  const std::vector<Sbp> choices = {Sbp::Split(0), Sbp::Split(1), Sbp::Broadcast(), Sbp::PartialSum()};
  for (const Sbp& first : choices) {
    for (const Sbp& second : choices) {
      const NdSbp nd = {first, second};
      ASSERT_TRUE(CheckNdSbp("[test]", nd, mesh.hierarchy(), logical).ok());
      int64_t copies = (first.IsSplit() ? 1 : 2) * (second.IsSplit() ? 1 : 3);
      std::map<std::pair<int64_t, int64_t>, int> count;
      for (int d = 0; d < mesh.num_devices(); ++d) {
        const Region r = PhysicalRegion(logical, nd, mesh, d);
        for (int64_t i = r.begin[0]; i < r.end[0]; ++i) {
          for (int64_t j = r.begin[1]; j < r.end[1]; ++j) ++count[{i, j}];
        }
      }
      ASSERT_EQ(count.size(), 35u) << NdSbpToString(nd);
      for (const auto& [index, n] : count) EXPECT_EQ(n, copies) << NdSbpToString(nd);
    }
  }
}

TEST(CheckNdSbp, NamesTheMistake) {
  const Status rank_mismatch = CheckNdSbp("[matmul] a", {Sbp::Split(0)}, Shape{2, 2}, Shape{4, 4});
  ASSERT_FALSE(rank_mismatch.ok());
  EXPECT_NE(rank_mismatch.message().find("expected one SBP per dimension of the placement hierarchy [2, 2] (2), got S(0) (1)"),
            std::string::npos)
      << rank_mismatch.message();
  const Status axis = CheckNdSbp("[matmul] a", {Sbp::Split(2)}, Shape{4}, Shape{4, 4});
  ASSERT_FALSE(axis.ok());
  EXPECT_NE(axis.message().find("split axis 2 is out of range for a tensor of shape [4, 4]"), std::string::npos);
}

TEST(SbpText, ParsesAndPrints) {
  for (const char* text : {"S(0)", "S(12)", "B", "P", "P(max)"}) {
    auto sbp = ParseSbp(text);
    ASSERT_TRUE(sbp.ok()) << text;
    EXPECT_EQ(sbp.value().ToString(), text);
  }
  EXPECT_EQ(ParseSbp("P(sum)").value(), Sbp::PartialSum());
  EXPECT_FALSE(ParseSbp("S(x)").ok());
  EXPECT_FALSE(ParseSbp("split").ok());
  auto nd = ParseNdSbp("(S(0), B)");
  ASSERT_TRUE(nd.ok());
  EXPECT_EQ(nd.value(), (NdSbp{Sbp::Split(0), Sbp::Broadcast()}));
  EXPECT_EQ(NdSbpToString(nd.value()), "(S(0), B)");
  EXPECT_EQ(ParseNdSbp("S(1)").value(), (NdSbp{Sbp::Split(1)}));
}

}  // namespace
}  // namespace ofl

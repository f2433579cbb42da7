// Signature builder and N-D expansion.
#include <gtest/gtest.h>

#include "sbp/signature.h"

namespace ofl {
namespace {

TEST(SignatureBuilder, UnsetEntriesAreBroadcast) {
  const SbpSignature s =
      SignatureBuilder(2, 1).Input(0, Sbp::Split(0)).Output(0, Sbp::Split(0)).Note("rows").Build();
  EXPECT_EQ(s.ToString(), "S(0), B -> S(0)");
  EXPECT_EQ(s.note, "rows");
  EXPECT_EQ(SignatureBuilder(2, 1).AllInputs(Sbp::PartialSum()).AllOutputs(Sbp::PartialSum()).Build().ToString(),
            "P, P -> P");
}

TEST(SignatureBuilder, AddUniqueDropsRepeatedLayouts) {
  std::vector<SbpSignature> list;
  AddUnique(list, SignatureBuilder(1, 1).Note("first").Build());
  AddUnique(list, SignatureBuilder(1, 1).Note("second").Build());
  AddUnique(list, SignatureBuilder(1, 1).AllInputs(Sbp::Split(0)).AllOutputs(Sbp::Split(0)).Build());
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].note, "first");
}

TEST(ExpandToNd, EveryCombinationPerMeshDimension) {
  const std::vector<SbpSignature> one_d = {
      SignatureBuilder(2, 1).Input(0, Sbp::Split(0)).Output(0, Sbp::Split(0)).Build(),  // data parallel
      SignatureBuilder(2, 1).Input(1, Sbp::Split(1)).Output(0, Sbp::Split(1)).Build(),  // column parallel
      SignatureBuilder(2, 1)
          .Input(0, Sbp::Split(1))
          .Input(1, Sbp::Split(0))
          .Output(0, Sbp::PartialSum())
          .Build(),  // row parallel
  };
  const std::vector<NdSbpSignature> nd = ExpandToNd(one_d, 2);
  ASSERT_EQ(nd.size(), 9u);
  // Data parallel on mesh dimension 0, row parallel on dimension 1.
  const NdSbpSignature& hybrid = nd[0 * 3 + 2];
  EXPECT_EQ(hybrid.ToString(), "(S(0), S(1)), (B, S(0)) -> (S(0), P)");
  EXPECT_EQ(ExpandToNd(one_d, 1).size(), 3u);
  EXPECT_TRUE(ExpandToNd({}, 2).empty());
}

TEST(ExpandToNd, OneListPerMeshAxis) {
  const SbpSignature broadcast = SignatureBuilder(1, 1).Build();
  const SbpSignature rows = SignatureBuilder(1, 1).Input(0, Sbp::Split(0)).Output(0, Sbp::Split(0)).Build();
  const SbpSignature merge = SignatureBuilder(1, 1).Input(0, Sbp::Split(1)).Output(0, Sbp::Split(0)).Build();
  // Mesh axis 0 (extent 2) may merge; mesh axis 1 (extent 3) may not.
  const std::vector<NdSbpSignature> nd = ExpandToNd({{broadcast, rows, merge}, {broadcast, rows}});
  ASSERT_EQ(nd.size(), 6u);
  EXPECT_EQ(nd[0].ToString(), "(B, B) -> (B, B)");
  EXPECT_EQ(nd[1].ToString(), "(B, S(0)) -> (B, S(0))");
  EXPECT_EQ(nd[5].ToString(), "(S(1), S(0)) -> (S(0), S(0))");
  for (const NdSbpSignature& signature : nd) EXPECT_NE(signature.inputs[0][1], Sbp::Split(1));
  EXPECT_EQ(SignatureOnMeshAxis(nd[5], 0).ToString(), "S(1) -> S(0)");
  EXPECT_EQ(SignatureOnMeshAxis(nd[5], 1).ToString(), "S(0) -> S(0)");
  // The same list on every axis gives exactly the single-list expansion.
  const std::vector<SbpSignature> one_d = {broadcast, rows, merge};
  const std::vector<NdSbpSignature> same = ExpandToNd({one_d, one_d});
  const std::vector<NdSbpSignature> single = ExpandToNd(one_d, 2);
  ASSERT_EQ(same.size(), single.size());
  for (size_t i = 0; i < same.size(); ++i) EXPECT_EQ(same[i].ToString(), single[i].ToString());
  EXPECT_TRUE(ExpandToNd({one_d, {}}).empty());
  EXPECT_TRUE(ExpandToNd(std::vector<std::vector<SbpSignature>>{}).empty());
}

}  // namespace
}  // namespace ofl

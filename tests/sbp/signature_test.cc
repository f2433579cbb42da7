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

}  // namespace
}  // namespace ofl

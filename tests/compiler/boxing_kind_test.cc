// Boxing kinds: names round-trip, every 1-D pair on one placement gets its
// fast path, N-D pairs that change one mesh axis get that axis's kind, and
// everything else (incl. changes of placement) is general.
#include "compiler/boxing/boxing_kind.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ofl::compiler {
namespace {

NdSbp Nd(const std::string& text) { return ParseNdSbp(text).ValueOrThrow(); }

TEST(BoxingKindTest, NamesRoundTrip) {
  const std::vector<BoxingKind> kinds = {
      BoxingKind::kIdentity, BoxingKind::kAllReduce,  BoxingKind::kReduceScatter, BoxingKind::kAllGather,
      BoxingKind::kAllToAll, BoxingKind::kLocalSlice, BoxingKind::kKeepOnOne,     BoxingKind::kGeneral};
  const std::vector<std::string> names = {"identity",   "all_reduce",  "reduce_scatter", "all_gather",
                                          "all_to_all", "local_slice", "keep_on_one",    "general"};
  for (size_t i = 0; i < kinds.size(); ++i) {
    EXPECT_EQ(BoxingKindName(kinds[i]), names[i]);
    StatusOr<BoxingKind> parsed = ParseBoxingKind(names[i]);
    ASSERT_TRUE(parsed.ok()) << parsed.status().message();
    EXPECT_EQ(parsed.value(), kinds[i]);
  }
  StatusOr<BoxingKind> bad = ParseBoxingKind("allreduce");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'allreduce'"), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find("all_reduce"), std::string::npos) << bad.status().message();
}

TEST(BoxingKindTest, EveryOneDimensionalPair) {
  struct Case {
    const char* from;
    const char* to;
    BoxingKind kind;
  };
  const std::vector<Case> cases = {
      {"B", "B", BoxingKind::kIdentity},           {"B", "S(0)", BoxingKind::kLocalSlice},
      {"B", "S(1)", BoxingKind::kLocalSlice},      {"B", "P", BoxingKind::kKeepOnOne},
      {"B", "P(max)", BoxingKind::kGeneral},       {"S(0)", "B", BoxingKind::kAllGather},
      {"S(0)", "S(0)", BoxingKind::kIdentity},     {"S(0)", "S(1)", BoxingKind::kAllToAll},
      {"S(0)", "P", BoxingKind::kGeneral},         {"S(1)", "B", BoxingKind::kAllGather},
      {"S(1)", "S(0)", BoxingKind::kAllToAll},     {"S(1)", "S(1)", BoxingKind::kIdentity},
      {"P", "B", BoxingKind::kAllReduce},          {"P", "S(0)", BoxingKind::kReduceScatter},
      {"P", "S(1)", BoxingKind::kReduceScatter},   {"P", "P", BoxingKind::kIdentity},
      {"P", "P(max)", BoxingKind::kGeneral},       {"P(max)", "P", BoxingKind::kGeneral},
      {"P(max)", "B", BoxingKind::kAllReduce},     {"P(max)", "S(1)", BoxingKind::kReduceScatter},
      {"P(max)", "P(max)", BoxingKind::kIdentity},
  };
  for (int n : {1, 2, 3, 4}) {
    const Placement placement = Placement::Linear(DeviceType::kCPU, n);
    for (const Case& c : cases) {
      int axis = 7;
      EXPECT_EQ(ClassifyBoxing(placement, Nd(c.from), placement, Nd(c.to), &axis), c.kind)
          << c.from << " -> " << c.to << " on " << n << " devices";
      EXPECT_EQ(axis, c.kind == BoxingKind::kIdentity || c.kind == BoxingKind::kGeneral ? -1 : 0)
          << c.from << " -> " << c.to;
    }
  }
}

TEST(BoxingKindTest, OneMeshAxisOfTwoByTwo) {
  const Placement mesh = Placement::Mesh(DeviceType::kCPU, Shape{2, 2}).ValueOrThrow();
  int axis = -1;
  EXPECT_EQ(ClassifyBoxing(mesh, Nd("(S(0), P)"), mesh, Nd("(S(0), B)"), &axis), BoxingKind::kAllReduce);
  EXPECT_EQ(axis, 1);
  EXPECT_EQ(ClassifyBoxing(mesh, Nd("(P, S(1))"), mesh, Nd("(S(0), S(1))"), &axis),
            BoxingKind::kReduceScatter);
  EXPECT_EQ(axis, 0);
  EXPECT_EQ(ClassifyBoxing(mesh, Nd("(S(0), S(1))"), mesh, Nd("(S(0), B)"), &axis), BoxingKind::kAllGather);
  EXPECT_EQ(axis, 1);
  EXPECT_EQ(ClassifyBoxing(mesh, Nd("(B, B)"), mesh, Nd("(B, P)"), &axis), BoxingKind::kKeepOnOne);
  EXPECT_EQ(axis, 1);
  EXPECT_EQ(ClassifyBoxing(mesh, Nd("(S(1), B)"), mesh, Nd("(S(1), B)"), &axis), BoxingKind::kIdentity);
  EXPECT_EQ(axis, -1);
  // Two axes change: no single collective.
  EXPECT_EQ(ClassifyBoxing(mesh, Nd("(P, P)"), mesh, Nd("(B, B)"), &axis), BoxingKind::kGeneral);
  EXPECT_EQ(axis, -1);
  // Axis 0 changes, but axis 1 then splits the same tensor axis: the row
  // blocks interleave, so the per-axis slice would be wrong.
  EXPECT_EQ(ClassifyBoxing(mesh, Nd("(B, S(0))"), mesh, Nd("(S(0), S(0))"), &axis), BoxingKind::kGeneral);
  EXPECT_EQ(ClassifyBoxing(mesh, Nd("(S(0), S(0))"), mesh, Nd("(B, S(0))"), &axis), BoxingKind::kGeneral);
  // ...but a later split of another tensor axis commutes with the change.
  EXPECT_EQ(ClassifyBoxing(mesh, Nd("(B, S(1))"), mesh, Nd("(S(0), S(1))"), &axis), BoxingKind::kLocalSlice);
  EXPECT_EQ(axis, 0);
  // An earlier split never interferes: axis 1 acts inside axis 0's piece.
  EXPECT_EQ(ClassifyBoxing(mesh, Nd("(S(0), B)"), mesh, Nd("(S(0), S(0))"), &axis), BoxingKind::kLocalSlice);
  EXPECT_EQ(axis, 1);
}

TEST(BoxingKindTest, DifferentPlacementsAreGeneral) {
  const Placement two = Placement::Linear(DeviceType::kCPU, 2);
  const Placement four = Placement::Linear(DeviceType::kCPU, 4);
  const Placement mesh = Placement::Mesh(DeviceType::kCPU, Shape{2, 2}).ValueOrThrow();
  const Placement upper =
      Placement::Create(DeviceType::kCPU,
                        {DeviceId{DeviceType::kCPU, 0, 2}, DeviceId{DeviceType::kCPU, 0, 3}}, Shape{2})
          .ValueOrThrow();
  int axis = 5;
  EXPECT_EQ(ClassifyBoxing(two, Nd("B"), upper, Nd("B"), &axis), BoxingKind::kGeneral);
  EXPECT_EQ(axis, -1);
  EXPECT_EQ(ClassifyBoxing(four, Nd("S(0)"), mesh, Nd("(S(0), S(0))")), BoxingKind::kGeneral);
  EXPECT_EQ(ClassifyBoxing(two, Nd("P"), four, Nd("B")), BoxingKind::kGeneral);
}

}  // namespace
}  // namespace ofl::compiler

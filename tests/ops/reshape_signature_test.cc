// reshape's piece-count-dependent signatures: a merge or split of axes keeps
// a Split exactly when the piece count divides the smaller extent, and SBP
// deduction asks for each mesh axis's count and checks nested splits.
#include <gtest/gtest.h>

#include <algorithm>

#include "compiler/ir/graph.h"
#include "compiler/passes/sbp_deduction.h"
#include "ops/registry.h"
#include "ops/sbp_consistency.h"

namespace ofl {
namespace {

std::vector<SbpSignature> ReshapeList(const Shape& x, const Shape& y, int64_t split_parts) {
  const Registries& registries = DefaultRegistries();
  const std::vector<TensorDesc> inputs = {{x, DType::kF32}};
  auto inferred = registries.ops.Infer("reshape", inputs, {{"shape", y}});
  if (!inferred.ok()) throw Error(inferred.status().message());
  auto listed = registries.ops.Signatures("reshape", inputs, inferred.value().attrs, split_parts);
  if (!listed.ok()) throw Error(listed.status().message());
  return listed.value();
}

bool Lists(const std::vector<SbpSignature>& list, int x_axis, int y_axis) {
  const SbpSignature wanted =
      SignatureBuilder(1, 1).Input(0, Sbp::Split(x_axis)).Output(0, Sbp::Split(y_axis)).Build();
  return std::any_of(list.begin(), list.end(), [&](const SbpSignature& s) { return s.SameLayout(wanted); });
}

TEST(ReshapeSignatures, MergedBatchKeepsSplitWhenTheCountDividesIt) {
  const Shape x{4, 3, 2}, y{12, 2};
  EXPECT_FALSE(Lists(ReshapeList(x, y, 0), 0, 0)) << "an unknown count must list only count-free signatures";
  EXPECT_TRUE(Lists(ReshapeList(x, y, 2), 0, 0));
  EXPECT_TRUE(Lists(ReshapeList(x, y, 4), 0, 0));
  EXPECT_FALSE(Lists(ReshapeList(x, y, 3), 0, 0)) << "4 rows do not divide into 3 pieces";
  EXPECT_FALSE(Lists(ReshapeList(x, y, 8), 0, 0));
  // The last axis has the same extent and the same count before it: listed for any count.
  for (int64_t parts : {0, 2, 3}) EXPECT_TRUE(Lists(ReshapeList(x, y, parts), 2, 1)) << parts;
}

TEST(ReshapeSignatures, SplitAxisAndHeadSplit) {
  EXPECT_TRUE(Lists(ReshapeList(Shape{6, 2}, Shape{2, 3, 2}, 2), 0, 0));
  EXPECT_FALSE(Lists(ReshapeList(Shape{6, 2}, Shape{2, 3, 2}, 3), 0, 0)) << "y's 2 rows do not divide by 3";
  // [B, T, 3D] -> [B, T, H, 3, Dh]: the head split S(2) survives on H's divisors.
  const Shape x{2, 3, 12}, y{2, 3, 2, 3, 2};
  EXPECT_TRUE(Lists(ReshapeList(x, y, 2), 2, 2));
  EXPECT_FALSE(Lists(ReshapeList(x, y, 3), 2, 2));
  EXPECT_FALSE(Lists(ReshapeList(x, y, 4), 2, 2));
  // Different element counts before the axes never pair up: x axis 2 with y axis 3.
  for (int64_t parts : {2, 3}) EXPECT_FALSE(Lists(ReshapeList(x, y, parts), 2, 3)) << parts;
  EXPECT_TRUE(DefaultRegistries().ops.Find("reshape")->signatures_depend_on_split_parts);
  EXPECT_FALSE(DefaultRegistries().ops.Find("identity")->signatures_depend_on_split_parts);
}

TEST(ReshapeSignatures, ListedMergeRunsLikeTheWholeOp) {
  const Registries& registries = DefaultRegistries();
  const EagerExecutor executor(registries.ops, registries.kernels);
  HostTensor x(TensorDesc{Shape{4, 3, 2}, DType::kF32});
  for (int64_t i = 0; i < x.NumElements(); ++i) x.SetFromDouble(i, static_cast<double>(i));
  const AttrMap attrs{{"shape", Shape{12, 2}}};
  const SbpSignature merge = SignatureBuilder(1, 1).Input(0, Sbp::Split(0)).Output(0, Sbp::Split(0)).Build();
  auto two = RunUnderSignature(executor, "reshape", attrs, {x.Clone()}, merge, 2, 1);
  ASSERT_TRUE(two.ok()) << two.status().message();
  for (int64_t i = 0; i < 24; ++i) EXPECT_EQ(two.value()[0].GetAsDouble(i), static_cast<double>(i)) << i;
  // On 3 pieces the same layout would scramble rows: why it is not listed there.
  auto three = RunUnderSignature(executor, "reshape", attrs, {x.Clone()}, merge, 3, 1);
  bool differs = !three.ok();
  for (int64_t i = 0; three.ok() && i < 24; ++i)
    differs |= three.value()[0].GetAsDouble(i) != static_cast<double>(i);
  EXPECT_TRUE(differs);
}

TEST(ReshapeSignatures, NegativeCountIsAnError) {
  const std::vector<TensorDesc> inputs = {{Shape{4, 6}, DType::kF32}};
  auto listed = DefaultRegistries().ops.Signatures("reshape", inputs, {{"shape", Shape{4, 2, 3}}}, -1);
  ASSERT_FALSE(listed.ok());
  EXPECT_EQ(listed.status().message().rfind("[reshape]", 0), 0u) << listed.status().message();
}

}  // namespace

namespace compiler {
namespace {

// Deduction of one reshape node whose input is laid out as `x_sbp`.
class ReshapeDeductionTest : public ::testing::Test {
 protected:
  NodeId Reshape(const Shape& x_shape, const Shape& y_shape, const Placement& placement,
                 const std::string& x_sbp) {
    const ValueId x =
        graph_.AddInput("x", TensorDesc{x_shape, DType::kF32}, placement, ParseNdSbp(x_sbp).ValueOrThrow());
    StatusOr<NodeId> id = graph_.AddOp(DefaultRegistries().ops, "reshape", "x/reshape", {x},
                                       {{"shape", y_shape}}, placement, NodeRole::kForward);
    if (!id.ok()) throw Error(id.status().message());
    return id.value();
  }
  // The candidates' layouts, "x -> y" each.
  std::vector<std::string> Candidates(NodeId id) {
    for (NodeId source : graph_.TopologicalOrder().ValueOrThrow()) {
      if (!graph_.node(source).IsInput()) continue;
      graph_.mutable_value(graph_.node(source).outputs[0]).sbp =
          SourceSbp(graph_, graph_.node(source)).ValueOrThrow();
    }
    std::vector<std::string> layouts;
    for (const SbpCandidate& c :
         LegalSbpCandidates(graph_, graph_.node(id), DefaultRegistries().ops).ValueOrThrow())
      layouts.push_back(c.signature.ToString());
    return layouts;
  }
  static bool Has(const std::vector<std::string>& list, const std::string& layout) {
    return std::find(list.begin(), list.end(), layout) != list.end();
  }

  Graph graph_;
};

TEST_F(ReshapeDeductionTest, DataParallelMergeNeedsNoBoxing) {
  const NodeId id = Reshape(Shape{4, 3, 2}, Shape{12, 2}, Placement::Linear(DeviceType::kCPU, 2), "S(0)");
  PassContext context{DefaultRegistries().ops, {}, {}};
  ASSERT_TRUE(MakeSbpDeductionPass()->Run(graph_, context).ok());
  const Node& node = graph_.node(id);
  EXPECT_EQ(NdSbpToString(node.input_sbps[0]), "S(0)") << "[4, 3, 2] -> [12, 2] keeps S(0) on 2 devices";
  EXPECT_EQ(NdSbpToString(graph_.value(node.outputs[0]).sbp), "S(0)");
}

TEST_F(ReshapeDeductionTest, IndivisibleCountDoesNotKeepTheSplit) {
  const NodeId id = Reshape(Shape{4, 3, 2}, Shape{12, 2}, Placement::Linear(DeviceType::kCPU, 3), "S(0)");
  const std::vector<std::string> layouts = Candidates(id);
  EXPECT_FALSE(Has(layouts, "S(0) -> S(0)")) << "4 rows do not divide into 3 pieces";
  EXPECT_TRUE(Has(layouts, "S(2) -> S(1)")) << "same extent, same count before: valid for any count";
}

TEST_F(ReshapeDeductionTest, EachMeshAxisGetsItsOwnCount) {
  // Mesh [2, 3]: the merge keeps S(0) on mesh axis 0 (2 pieces), not on axis 1 (3).
  const Placement mesh = Placement::Mesh(DeviceType::kCPU, Shape{2, 3}).ValueOrThrow();
  const std::vector<std::string> layouts =
      Candidates(Reshape(Shape{4, 3, 2}, Shape{12, 2}, mesh, "(S(0), B)"));
  EXPECT_TRUE(Has(layouts, "(S(0), B) -> (S(0), B)"));
  EXPECT_FALSE(Has(layouts, "(B, S(0)) -> (B, S(0))"));
  EXPECT_TRUE(Has(layouts, "(S(0), S(2)) -> (S(0), S(1))")) << "independent tensor axes nest freely";
}

TEST_F(ReshapeDeductionTest, NestedSplitNeedsTheProductCount) {
  const Placement mesh = Placement::Mesh(DeviceType::kCPU, Shape{2, 2}).ValueOrThrow();
  // 4 rows into 2 x 2 pieces: listed for 4 pieces, kept.
  const std::vector<std::string> four =
      Candidates(Reshape(Shape{4, 3, 2}, Shape{12, 2}, mesh, "(S(0), S(0))"));
  EXPECT_TRUE(Has(four, "(S(0), S(0)) -> (S(0), S(0))"));
  graph_ = Graph();
  // 2 rows: each mesh axis alone divides them, the nested 4 pieces do not.
  const std::vector<std::string> two = Candidates(Reshape(Shape{2, 3, 2}, Shape{6, 2}, mesh, "(S(0), S(0))"));
  EXPECT_TRUE(Has(two, "(S(0), B) -> (S(0), B)"));
  EXPECT_TRUE(Has(two, "(B, S(0)) -> (B, S(0))"));
  EXPECT_FALSE(Has(two, "(S(0), S(0)) -> (S(0), S(0))"));
  graph_ = Graph();
  // Count-free signatures nest as before, even unevenly (6 rows into 2 x 2).
  const std::vector<std::string> free =
      Candidates(Reshape(Shape{6, 4}, Shape{6, 2, 2}, mesh, "(S(0), S(0))"));
  EXPECT_TRUE(Has(free, "(S(0), S(0)) -> (S(0), S(0))"));
}

}  // namespace
}  // namespace compiler
}  // namespace ofl

// The shape_inference pass: a consistent graph passes (and gets complete
// attributes); a stored description that inference contradicts, a boxing
// that changes its tensor, or an op that does not infer is an error naming
// the node.
#include <gtest/gtest.h>

#include "tests/compiler/pass_grad_helpers.h"

namespace ofl::testing {
namespace {

using compiler::NodeRole;

TensorDesc F32D(Shape shape) { return TensorDesc{std::move(shape), DType::kF32}; }

Status RunShapeInference(Graph& graph) {
  std::vector<std::unique_ptr<compiler::Pass>> passes;
  passes.push_back(compiler::MakeShapeInferencePass());
  return RunPassList(graph, std::move(passes));
}

TEST(ShapeInferenceTest, ConsistentGraphPassesAndGetsDefaultAttributes) {
  Graph graph;
  const ValueId a = graph.AddInput("a", F32D({2, 3}), OneCpu(), NdSbp{});
  const ValueId b = graph.AddVariable("b", F32D({3, 4}), OneCpu(), NdSbp{}, {});
  // Added without inference, as a parser or a pass might.
  const NodeId mm = graph.AddNode("matmul", "mm", {a, b}, AttrMap{{"transpose_b", false}}, {F32D({2, 4})},
                                  OneCpu(), NodeRole::kForward);
  graph.AddNode(compiler::kBoxingOp, "box", {graph.node(mm).outputs[0]}, {}, {F32D({2, 4})}, OneCpu(),
                NodeRole::kForward);
  const Status status = RunShapeInference(graph);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_TRUE(graph.node(mm).attrs.Has("transpose_a"));
  EXPECT_EQ(graph.node(mm).attrs.GetFloat("alpha"), 1.0);
}

TEST(ShapeInferenceTest, ContradictedOutputIsAnErrorNamingTheNode) {
  Graph graph;
  const ValueId a = graph.AddInput("a", F32D({2, 3}), OneCpu(), NdSbp{});
  const ValueId b = graph.AddInput("b", F32D({3, 4}), OneCpu(), NdSbp{});
  graph.AddNode("matmul", "fc1/matmul", {a, b}, {}, {F32D({2, 5})}, OneCpu(), NodeRole::kForward);
  const Status status = RunShapeInference(graph);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(
      status.message(),
      "[shape_inference] 'fc1/matmul' (matmul): output 0: expected f32[2, 4] (inferred), found f32[2, 5]");
}

TEST(ShapeInferenceTest, WrongOutputCountIsAnError) {
  Graph graph;
  const ValueId a = graph.AddInput("a", F32D({2, 3}), OneCpu(), NdSbp{});
  graph.AddNode("relu", "act", {a}, {}, {F32D({2, 3}), F32D({2, 3})}, OneCpu(), NodeRole::kForward);
  const Status status = RunShapeInference(graph);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("'act' (relu): outputs: expected 1 (inferred), found 2"), std::string::npos)
      << status.message();
}

TEST(ShapeInferenceTest, InferenceErrorNamesTheNode) {
  Graph graph;
  const ValueId a = graph.AddInput("a", F32D({2, 3}), OneCpu(), NdSbp{});
  graph.AddNode("matmul", "bad_mm", {a, a}, {}, {F32D({2, 3})}, OneCpu(), NodeRole::kForward);
  const Status status = RunShapeInference(graph);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message().rfind("[shape_inference] 'bad_mm' (matmul): [matmul]", 0), 0u)
      << status.message();
}

TEST(ShapeInferenceTest, BoxingMustKeepTheDescription) {
  Graph graph;
  const ValueId a = graph.AddInput("a", F32D({2, 3}), OneCpu(), NdSbp{});
  graph.AddNode(compiler::kBoxingOp, "a.boxing", {a}, {}, {TensorDesc{Shape{2, 3}, DType::kF64}}, OneCpu(),
                NodeRole::kForward);
  const Status status = RunShapeInference(graph);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("'a.boxing' (boxing): output: expected f32[2, 3]"), std::string::npos)
      << status.message();
  EXPECT_NE(status.message().find("found f64[2, 3]"), std::string::npos) << status.message();
}

TEST(ShapeInferenceTest, UnknownOpIsAnError) {
  Graph graph;
  const ValueId a = graph.AddInput("a", F32D({2}), OneCpu(), NdSbp{});
  graph.AddNode("frobnicate", "f", {a}, {}, {F32D({2})}, OneCpu(), NodeRole::kForward);
  const Status status = RunShapeInference(graph);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("'f' (frobnicate)"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("unknown op"), std::string::npos) << status.message();
}

}  // namespace
}  // namespace ofl::testing

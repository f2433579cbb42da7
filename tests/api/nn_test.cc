// nn layers: the graphs they build (node counts, names, shapes, hints) and
// the mistakes they report.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>

#include "api/api.h"

namespace ofl::api {
namespace {

using ::testing::HasSubstr;

std::map<std::string, int> OpCounts(const compiler::Graph& graph) {
  std::map<std::string, int> counts;
  for (compiler::NodeId id : graph.LiveNodes()) ++counts[graph.node(id).op];
  return counts;
}

// The variable named `name`: its shape and hint text ("" for none).
struct VariableInfo {
  Shape shape;
  std::string hint;
};
VariableInfo FindVariable(const compiler::Graph& graph, const std::string& name) {
  const compiler::NodeId id = graph.FindNode(name);
  EXPECT_GE(id, 0) << "no node named " << name;
  if (id < 0) return {};
  const compiler::Node& node = graph.node(id);
  EXPECT_TRUE(node.IsVariable()) << name << " is a " << node.op;
  const compiler::Value& value = graph.value(node.outputs[0]);
  return {value.desc.shape, value.sbp_hint.has_value() ? NdSbpToString(*value.sbp_hint) : ""};
}

TEST(Nn, MlpBuildsLinearLayersWithActivationsBetween) {
  GraphBuilder builder;
  Tensor x = builder.Input("x", Shape{8, 4});
  Tensor y = nn::Mlp(x, {16, 16, 3}, "mlp");
  ASSERT_TRUE(builder.ok()) << builder.status().message();
  EXPECT_EQ(y.shape(), (Shape{8, 3}));
  const compiler::Graph& graph = builder.graph();
  std::map<std::string, int> counts = OpCounts(graph);
  EXPECT_EQ(counts["variable"], 6);
  EXPECT_EQ(counts["matmul"], 3);
  EXPECT_EQ(counts["bias_add"], 3);
  EXPECT_EQ(counts["relu"], 2);  // not after the last layer
  EXPECT_EQ(graph.NumLiveNodes(), 1 + 6 + 3 + 3 + 2);
  EXPECT_EQ(FindVariable(graph, "mlp/fc0.weight").shape, (Shape{4, 16}));
  EXPECT_EQ(FindVariable(graph, "mlp/fc1.weight").shape, (Shape{16, 16}));
  EXPECT_EQ(FindVariable(graph, "mlp/fc2.weight").shape, (Shape{16, 3}));
  EXPECT_EQ(FindVariable(graph, "mlp/fc2.bias").shape, (Shape{3}));
  EXPECT_GE(graph.FindNode("mlp/fc0/matmul"), 0);
  EXPECT_GE(graph.FindNode("mlp/relu_1"), 0);
  EXPECT_EQ(y.name(), "mlp/fc2/bias_add");
  // Weights default to uniform(+-1/sqrt(in)), biases to zeros.
  const compiler::Node& weight = graph.node(graph.FindNode("mlp/fc0.weight"));
  EXPECT_EQ(weight.attrs.GetString("initializer"), "uniform");
  EXPECT_DOUBLE_EQ(weight.attrs.GetFloat("high"), 0.5);
  EXPECT_EQ(graph.node(graph.FindNode("mlp/fc0.bias")).attrs.GetString("initializer"), "zeros");
}

TEST(Nn, LinearFoldsLeadingAxesAndCanDropTheBias) {
  GraphBuilder builder;
  Tensor x = builder.Input("x", Shape{2, 5, 4});
  Tensor y = nn::Linear(x, 6, "proj", {.bias = false});
  ASSERT_TRUE(builder.ok()) << builder.status().message();
  EXPECT_EQ(y.shape(), (Shape{2, 5, 6}));
  std::map<std::string, int> counts = OpCounts(builder.graph());
  EXPECT_EQ(counts["reshape"], 2);
  EXPECT_EQ(counts["bias_add"], 0);
  EXPECT_LT(builder.graph().FindNode("proj.bias"), 0);
}

TEST(Nn, LinearShapeMismatchNamesTheLayer) {
  GraphBuilder builder;
  Tensor x = builder.Input("x", Shape{8, 4});
  Tensor h = nn::Linear(x, 16, "fc1");
  Tensor w = builder.Variable("w", Shape{8, 2});
  Matmul(h, w);
  EXPECT_THAT(builder.status().message(),
              HasSubstr("op 'matmul' (matmul) reading 'fc1/bias_add' f32[8, 16], 'w' f32[8, 2]"));
}

TEST(Nn, MegatronColumnAndRowParallelHints) {
  GraphBuilder builder(Placement::Linear(DeviceType::kCPU, 4));
  Tensor x = builder.Input("x", Shape{8, 16});
  Tensor h = nn::Linear(x, 32, "col", {.parallel = TensorParallel::kColumn});
  Tensor y = nn::Linear(h, 16, "row", {.parallel = TensorParallel::kRow});
  {
    Scope scope(builder, "scoped", {.linear_parallel = TensorParallel::kRow});
    nn::Linear(y, 16, "fc");
  }
  ASSERT_TRUE(builder.ok()) << builder.status().message();
  const compiler::Graph& graph = builder.graph();
  EXPECT_EQ(FindVariable(graph, "col.weight").hint, "S(1)");
  EXPECT_EQ(FindVariable(graph, "col.bias").hint, "S(0)");
  EXPECT_EQ(FindVariable(graph, "row.weight").hint, "S(0)");
  EXPECT_EQ(FindVariable(graph, "row.bias").hint, "B");
  EXPECT_EQ(FindVariable(graph, "scoped/fc.weight").hint, "S(0)");
}

TEST(Nn, LayerNormAndEmbedding) {
  GraphBuilder builder(Placement::Linear(DeviceType::kCPU, 2));
  Tensor tokens = builder.Input("tokens", Shape{4, 8}, DType::kI64);
  Tensor e = nn::Embedding(tokens, 100, 16, "wte", {.vocab_parallel = true});
  Tensor y = nn::LayerNorm(e, "ln");
  ASSERT_TRUE(builder.ok()) << builder.status().message();
  EXPECT_EQ(e.shape(), (Shape{4, 8, 16}));
  EXPECT_EQ(y.shape(), (Shape{4, 8, 16}));
  const compiler::Graph& graph = builder.graph();
  const VariableInfo weight = FindVariable(graph, "wte.weight");
  EXPECT_EQ(weight.shape, (Shape{100, 16}));
  EXPECT_EQ(weight.hint, "S(0)");
  EXPECT_EQ(FindVariable(graph, "ln.weight").shape, (Shape{16}));
  EXPECT_EQ(graph.node(graph.FindNode("ln.weight")).attrs.GetString("initializer"), "ones");
  EXPECT_EQ(graph.node(graph.FindNode("ln.bias")).attrs.GetString("initializer"), "zeros");
  EXPECT_EQ(y.name(), "ln/layer_norm");

  nn::LayerNorm(e, "ln_bad", {.begin_norm_axis = 3});
  EXPECT_THAT(builder.status().message(), HasSubstr("[nn.layer_norm] 'ln_bad': begin_norm_axis: expected an "
                                                    "axis of x 'wte/embedding' f32[4, 8, 16], got 3"));
}

TEST(Nn, TransformerBlockGraph) {
  GraphBuilder builder;
  Tensor x = builder.Input("x", Shape{2, 8, 32});
  Tensor y = nn::TransformerBlock(x, 4, "h0");
  ASSERT_TRUE(builder.ok()) << builder.status().message();
  EXPECT_EQ(y.shape(), (Shape{2, 8, 32}));
  const compiler::Graph& graph = builder.graph();
  std::map<std::string, int> counts = OpCounts(graph);
  EXPECT_EQ(counts["layer_norm"], 2);
  EXPECT_EQ(counts["matmul"], 4);  // qkv, out, fc0, fc1
  EXPECT_EQ(counts["batch_matmul"], 2);
  EXPECT_EQ(counts["causal_softmax"], 1);
  EXPECT_EQ(counts["gelu"], 1);
  EXPECT_EQ(counts["add"], 2);  // the two residuals
  EXPECT_EQ(counts["split"], 1);
  EXPECT_EQ(counts["variable"], 12);
  EXPECT_EQ(FindVariable(graph, "h0/ln1.weight").shape, (Shape{32}));
  EXPECT_EQ(FindVariable(graph, "h0/attn/qkv.weight").shape, (Shape{32, 96}));
  EXPECT_EQ(FindVariable(graph, "h0/attn/out.weight").shape, (Shape{32, 32}));
  EXPECT_EQ(FindVariable(graph, "h0/mlp/fc0.weight").shape, (Shape{32, 128}));
  EXPECT_EQ(FindVariable(graph, "h0/mlp/fc1.weight").shape, (Shape{128, 32}));
  EXPECT_GE(graph.FindNode("h0/attn/causal_softmax"), 0);
  EXPECT_GE(graph.FindNode("h0/mlp/gelu"), 0);
  EXPECT_EQ(y.name(), "h0/add_1");
  // The attention operands are [B, H, T, Dh].
  const compiler::Node& scores = graph.node(graph.FindNode("h0/attn/batch_matmul"));
  EXPECT_EQ(graph.value(scores.inputs[0]).desc.shape, (Shape{2, 4, 8, 8}));
  EXPECT_EQ(graph.value(scores.outputs[0]).desc.shape, (Shape{2, 4, 8, 8}));
}

TEST(Nn, TensorParallelTransformerBlockOnA2x2Mesh) {
  GraphBuilder builder(Placement::Mesh(DeviceType::kCPU, Shape{2, 2}).ValueOrThrow());
  Tensor x = builder.Input("x", Shape{4, 8, 32}).WithSbp("(S(0), B)");
  nn::TransformerBlock(x, 4, "h0", {.fused_qkv = false, .tensor_parallel = true});
  ASSERT_TRUE(builder.ok()) << builder.status().message();
  const compiler::Graph& graph = builder.graph();
  EXPECT_EQ(FindVariable(graph, "h0/attn/q.weight").hint, "(B, S(1))");
  EXPECT_EQ(FindVariable(graph, "h0/attn/v.bias").hint, "(B, S(0))");
  EXPECT_EQ(FindVariable(graph, "h0/attn/out.weight").hint, "(B, S(0))");
  EXPECT_EQ(FindVariable(graph, "h0/attn/out.bias").hint, "(B, B)");
  EXPECT_EQ(FindVariable(graph, "h0/mlp/fc0.weight").hint, "(B, S(1))");
  EXPECT_EQ(FindVariable(graph, "h0/mlp/fc1.weight").hint, "(B, S(0))");
  EXPECT_EQ(FindVariable(graph, "h0/ln1.weight").hint, "");
  EXPECT_EQ(OpCounts(graph)["matmul"], 6);  // q, k, v, out, fc0, fc1
}

TEST(Nn, AttentionRejectsHeadsThatDoNotDivideTheWidth) {
  GraphBuilder builder;
  Tensor x = builder.Input("x", Shape{2, 8, 30});
  Tensor y;
  {
    Scope scope(builder, "h0");
    y = nn::CausalSelfAttention(x, 4, "attn");
  }
  EXPECT_FALSE(y.valid());
  EXPECT_THAT(
      builder.status().message(),
      HasSubstr("[nn.causal_self_attention] 'h0/attn': x 'x' f32[2, 8, 30]: expected the width D=30 to be "
                "divisible by num_heads=4"));

  GraphBuilder rank;
  Tensor flat = rank.Input("flat", Shape{8, 32});
  nn::TransformerBlock(flat, 4, "h0");
  EXPECT_THAT(rank.status().message(), HasSubstr("'h0': x 'flat' f32[8, 32]: expected rank 3 [B, T, D]"));
}

TEST(Nn, SmallCnnBuildsConvPoolAndClassifier) {
  GraphBuilder builder;
  Tensor images = builder.Input("images", Shape{2, 3, 8, 8});
  Tensor h = Relu(nn::Conv2d(images, 4, {3, 3}, "conv1", {.padding = {1, 1}}));
  h = MaxPool2d(h, {.kernel = {2, 2}});
  Tensor logits = nn::Linear(Reshape(h, Shape{2, 4 * 4 * 4}), 10, "fc");
  ASSERT_TRUE(builder.ok()) << builder.status().message();
  EXPECT_EQ(h.shape(), (Shape{2, 4, 4, 4}));
  EXPECT_EQ(logits.shape(), (Shape{2, 10}));
  const compiler::Graph& graph = builder.graph();
  EXPECT_EQ(FindVariable(graph, "conv1.weight").shape, (Shape{4, 3, 3, 3}));
  EXPECT_EQ(FindVariable(graph, "conv1.bias").shape, (Shape{4}));
  const compiler::Node& bias_add = graph.node(graph.FindNode("conv1/bias_add"));
  EXPECT_EQ(bias_add.attrs.GetInt("axis"), 1);
  EXPECT_DOUBLE_EQ(graph.node(graph.FindNode("conv1.weight")).attrs.GetFloat("high"), 1.0 / std::sqrt(27.0));

  nn::Conv2d(images, 4, {3, 3}, "grouped", {.groups = 2});
  EXPECT_THAT(builder.status().message(),
              HasSubstr("[nn.conv2d] 'grouped': x 'images' f32[2, 3, 8, 8]: expected channels C=3 and "
                        "out_channels=4 to be positive multiples of groups=2"));
}

TEST(Nn, LayersOnAnErroredBuilderAddNothing) {
  GraphBuilder builder;
  Tensor x = builder.Input("x", Shape{2, 8, 32});
  Reshape(x, Shape{7});
  const int64_t nodes = builder.graph().NumLiveNodes();
  Tensor y = nn::TransformerBlock(x, 4, "h0");
  EXPECT_FALSE(y.valid());
  EXPECT_EQ(builder.graph().NumLiveNodes(), nodes);
  EXPECT_THAT(builder.status().message(), HasSubstr("'reshape'"));
}

}  // namespace
}  // namespace ofl::api

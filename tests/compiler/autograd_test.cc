// The autograd pass: gradients of small f64 graphs, interpreted, against
// central differences of the loss; the structure of the backward graph (one
// add_n per multiply-used value, zeros for unconsumed outputs, roles and
// names); and its errors.
#include <gtest/gtest.h>

#include "compiler/ir/graph.h"
#include "tests/compiler/pass_grad_helpers.h"

namespace ofl::testing {
namespace {

using compiler::NodeRole;

TensorDesc F64(Shape shape) { return TensorDesc{std::move(shape), DType::kF64}; }

ValueId Input(Graph& graph, const std::string& name, TensorDesc desc) {
  return graph.AddInput(name, std::move(desc), OneCpu(), NdSbp{});
}

// Nodes whose name starts with `prefix`.
std::vector<NodeId> NodesNamed(const Graph& graph, const std::string& prefix) {
  std::vector<NodeId> found;
  for (NodeId id : graph.LiveNodes()) {
    if (graph.node(id).name.rfind(prefix, 0) == 0) found.push_back(id);
  }
  return found;
}

// x [4,3] -> relu(x W1 + b1) = h1 [4,5] -> gelu(h1 W2) + b2 = logits [4,3];
// loss = cross_entropy(logits, labels) + mean(h1 * h1). h1 has three uses.
TEST(AutogradTest, MlpGradientsMatchFiniteDifferences) {
  Graph graph;
  const ValueId x = Input(graph, "x", F64({4, 3}));
  const ValueId labels = Input(graph, "labels", TensorDesc{Shape{4}, DType::kI64});
  const ValueId w1 = NormalVariable(graph, "w1", {3, 5}, 1);
  const ValueId b1 = NormalVariable(graph, "b1", {5}, 2);
  const ValueId w2 = NormalVariable(graph, "w2", {5, 3}, 3);
  const ValueId b2 = NormalVariable(graph, "b2", {3}, 4);
  const ValueId z1 = Op(graph, "matmul", "fc1/matmul", {x, w1})[0];
  const ValueId a1 = Op(graph, "bias_add", "fc1/bias_add", {z1, b1})[0];
  const ValueId h1 = Op(graph, "relu", "fc1/relu", {a1})[0];
  const ValueId z2 = Op(graph, "matmul", "fc2/matmul", {h1, w2})[0];
  const ValueId g2 = Op(graph, "gelu", "fc2/gelu", {z2})[0];
  const ValueId logits = Op(graph, "bias_add", "fc2/bias_add", {g2, b2})[0];
  const ValueId cross_entropy = Op(graph, "sparse_softmax_cross_entropy", "ce", {logits, labels})[0];
  const ValueId squares = Op(graph, "mul", "reg/mul", {h1, h1})[0];
  const ValueId regulariser = Op(graph, "reduce_mean", "reg/mean", {squares})[0];
  const ValueId loss = Op(graph, "add", "loss", {cross_entropy, regulariser})[0];
  graph.SetMinimize(loss, {});
  const int64_t forward_nodes = graph.NumLiveNodes();

  const Status status = RunAutograd(graph);
  ASSERT_TRUE(status.ok()) << status.message();
  ASSERT_EQ(graph.gradients().size(), 4u);
  for (ValueId variable : {w1, b1, w2, b2}) EXPECT_EQ(graph.gradients().count(variable), 1u);

  // h1's three contributions are summed by one add_n, named after h1's node.
  const std::vector<NodeId> sums = NodesOf(graph, "add_n");
  ASSERT_EQ(sums.size(), 1u);
  EXPECT_EQ(graph.node(sums[0]).name, "fc1/relu.grad/add_n");
  EXPECT_EQ(graph.node(sums[0]).inputs.size(), 3u);
  // Every added node is backward, on the forward placement.
  for (NodeId id : graph.LiveNodes()) {
    if (id < forward_nodes) continue;
    EXPECT_EQ(graph.node(id).role, NodeRole::kBackward) << compiler::Describe(graph.node(id));
    EXPECT_EQ(graph.node(id).placement, OneCpu());
  }
  // The seed: d loss / d loss = 1, a [] fill on the loss node.
  const NodeId seed = graph.FindNode("loss.grad/fill");
  ASSERT_GE(seed, 0);
  EXPECT_EQ(graph.node(seed).attrs.GetFloat("value"), 1.0);

  const std::map<std::string, HostTensor> feeds = {
      {"x", RandomTensor(F64({4, 3}), 11)},
      {"labels", HostTensor::FromVector<int64_t>(Shape{4}, {0, 2, 1, 2})}};
  ExpectGradientsMatchFiniteDifferences(graph, feeds);
}

// layer_norm has three outputs; mean and inv_std are unconsumed and get
// zeros; y is used twice.
TEST(AutogradTest, LayerNormGradientsMatchFiniteDifferences) {
  Graph graph;
  const ValueId x = Input(graph, "x", F64({3, 4}));
  const ValueId w = NormalVariable(graph, "w", {4, 4}, 5);
  const ValueId gamma = graph.AddVariable(
      "gamma", F64({4}), OneCpu(), NdSbp{},
      AttrMap{{"initializer", std::string("uniform")}, {"low", 0.5}, {"high", 1.5}, {"seed", int64_t{6}}});
  const ValueId beta = NormalVariable(graph, "beta", {4}, 7);
  const ValueId z = Op(graph, "matmul", "proj", {x, w})[0];
  const std::vector<ValueId> normed = Op(graph, "layer_norm", "ln", {z, gamma, beta});
  ASSERT_EQ(normed.size(), 3u);
  const ValueId t = Op(graph, "tanh", "act", {normed[0]})[0];
  const ValueId product = Op(graph, "mul", "prod", {normed[0], t})[0];
  const ValueId loss = Op(graph, "reduce_mean", "loss", {product})[0];
  graph.SetMinimize(loss, {});

  const Status status = RunAutograd(graph);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(graph.gradients().size(), 3u);
  // Zeros for the two statistics, emitted under the layer_norm's prefix.
  int zero_fills = 0;
  for (NodeId id : NodesNamed(graph, "ln.grad/")) {
    const compiler::Node& node = graph.node(id);
    if (node.op == "fill" && node.attrs.GetFloat("value") == 0.0) ++zero_fills;
  }
  EXPECT_EQ(zero_fills, 2);
  EXPECT_EQ(graph.node(NodesOf(graph, "add_n").at(0)).name, "ln.grad/add_n");

  ExpectGradientsMatchFiniteDifferences(graph, {{"x", RandomTensor(F64({3, 4}), 12)}});
}

// One weight in two matmuls: its gradient is one add_n of both.
TEST(AutogradTest, SharedWeightGradientSumsBothUses) {
  Graph graph;
  const ValueId x = Input(graph, "x", F64({2, 4}));
  const ValueId w = NormalVariable(graph, "w", {4, 4}, 8);
  const ValueId h1 = Op(graph, "tanh", "l1/tanh", {Op(graph, "matmul", "l1/matmul", {x, w})[0]})[0];
  const ValueId h2 = Op(graph, "matmul", "l2/matmul", {h1, w})[0];
  const ValueId loss = Op(graph, "reduce_mean", "loss", {Op(graph, "mul", "sq", {h2, h2})[0]})[0];
  graph.SetMinimize(loss, {});

  const Status status = RunAutograd(graph);
  ASSERT_TRUE(status.ok()) << status.message();
  ASSERT_EQ(graph.gradients().count(w), 1u);
  const compiler::Node& sum = graph.producer(graph.gradients().at(w));
  EXPECT_EQ(sum.op, "add_n");
  EXPECT_EQ(sum.name, "w.grad/add_n");
  EXPECT_EQ(sum.inputs.size(), 2u);

  ExpectGradientsMatchFiniteDifferences(graph, {{"x", RandomTensor(F64({2, 4}), 13)}});
}

// A variable the loss does not depend on, and a frozen one it does, get no
// gradient; nor does any node of the unrelated branch get a rule.
TEST(AutogradTest, OnlyTrainableVariablesOnThePathGetGradients) {
  Graph graph;
  const ValueId x = Input(graph, "x", F64({3, 2}));
  const ValueId w = NormalVariable(graph, "w", {2, 2}, 9);
  const ValueId unrelated = NormalVariable(graph, "unrelated", {2, 2}, 10);
  const ValueId frozen =
      graph.AddVariable("frozen", F64({2, 2}), OneCpu(), NdSbp{},
                        AttrMap{{"initializer", std::string("ones")}, {"trainable", false}});
  const ValueId side = Op(graph, "matmul", "side", {x, unrelated})[0];
  graph.fetches().push_back({"side", side});
  const ValueId h = Op(graph, "matmul", "h", {Op(graph, "matmul", "hf", {x, frozen})[0], w})[0];
  const ValueId loss = Op(graph, "reduce_sum", "loss", {Op(graph, "mul", "sq", {h, h})[0]})[0];
  graph.SetMinimize(loss, {});

  const Status status = RunAutograd(graph);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(graph.gradients().size(), 1u);
  EXPECT_EQ(graph.gradients().count(w), 1u);
  EXPECT_EQ(graph.gradients().count(unrelated), 0u);
  EXPECT_EQ(graph.gradients().count(frozen), 0u);
  EXPECT_TRUE(NodesNamed(graph, "side.grad").empty());
  EXPECT_TRUE(NodesNamed(graph, "hf.grad").empty());  // the frozen branch needs no gradient
  ExpectGradientsMatchFiniteDifferences(graph, {{"x", RandomTensor(F64({3, 2}), 14)}});
}

TEST(AutogradTest, OpWithoutGradientRuleOnThePathIsAnError) {
  const OpSchema* schema = Ops().Find("relu_grad");
  ASSERT_NE(schema, nullptr);
  ASSERT_EQ(schema->grad, nullptr) << "the test needs an op without a gradient rule";
  Graph graph;
  const ValueId x = Input(graph, "x", F64({2, 2}));
  const ValueId w = NormalVariable(graph, "w", {2, 2}, 15);
  const ValueId z = Op(graph, "matmul", "mm", {x, w})[0];
  const ValueId masked = Op(graph, "relu_grad", "mask", {x, z})[0];
  const ValueId loss = Op(graph, "reduce_sum", "loss", {masked})[0];
  graph.SetMinimize(loss, {});

  const Status status = RunAutograd(graph);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message().rfind("[autograd]", 0), 0u) << status.message();
  EXPECT_NE(status.message().find("'mask' (relu_grad)"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("gradient rule"), std::string::npos) << status.message();
}

TEST(AutogradTest, NonScalarLossIsAnError) {
  Graph graph;
  const ValueId x = Input(graph, "x", F64({2, 3}));
  const ValueId w = NormalVariable(graph, "w", {3, 2}, 16);
  const ValueId y = Op(graph, "matmul", "logits", {x, w})[0];
  graph.SetMinimize(y, {});
  const Status status = RunAutograd(graph);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("'logits' (matmul)"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("expected a floating-point scalar"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("f64[2, 2]"), std::string::npos) << status.message();
}

TEST(AutogradTest, LossWithoutTrainableVariablesIsAnError) {
  // Every variable frozen: minimize would compile into a job that never
  // learns, so it is an error naming the loss.
  Graph graph;
  const ValueId x = Input(graph, "x", F64({2, 3}));
  const ValueId w = NormalVariable(graph, "w", {3, 2}, 17);
  graph.mutable_node(graph.value(w).producer).attrs.Set("trainable", false);
  const ValueId y = Op(graph, "matmul", "logits", {x, w})[0];
  const ValueId loss =
      Op(graph, "reduce_mean", "loss", {y}, AttrMap{{"axes", std::vector<int64_t>{0, 1}}})[0];
  graph.SetMinimize(loss, {});
  const Status status = RunAutograd(graph);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("'loss' (reduce_mean)"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("trainable variable"), std::string::npos) << status.message();
}

TEST(AutogradTest, InferenceOnlyOptionsAddNothing) {
  Graph graph;
  const ValueId x = Input(graph, "x", F64({2, 3}));
  const ValueId w = NormalVariable(graph, "w", {3, 2}, 17);
  const ValueId loss = Op(graph, "reduce_mean", "loss", {Op(graph, "matmul", "mm", {x, w})[0]})[0];
  graph.SetMinimize(loss, {});
  const int64_t before = graph.NumLiveNodes();
  std::vector<std::unique_ptr<compiler::Pass>> passes;
  passes.push_back(compiler::MakeAutogradPass());
  compiler::CompileOptions options;
  options.enable_training = false;
  const Status status = RunPassList(graph, std::move(passes), options);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(graph.NumLiveNodes(), before);
  EXPECT_TRUE(graph.gradients().empty());
}

}  // namespace
}  // namespace ofl::testing

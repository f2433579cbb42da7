// The dead_node_elimination pass: unused branches go, whatever fetches,
// the loss and in-place updates need stays, inputs and variables always
// stay, and the gradients map never names a removed value.
#include <gtest/gtest.h>

#include "tests/compiler/pass_grad_helpers.h"

namespace ofl::testing {
namespace {

TensorDesc F64(Shape shape) { return TensorDesc{std::move(shape), DType::kF64}; }

Status RunDce(Graph& graph) {
  std::vector<std::unique_ptr<compiler::Pass>> passes;
  passes.push_back(compiler::MakeDeadNodeEliminationPass());
  return RunPassList(graph, std::move(passes));
}

// Every live node reads only values of live nodes.
void ExpectConsistent(const Graph& graph) {
  for (NodeId id : graph.LiveNodes()) {
    for (ValueId input : graph.node(id).inputs) {
      EXPECT_FALSE(graph.producer(input).removed)
          << compiler::Describe(graph.node(id)) << " reads a value of removed "
          << compiler::Describe(graph.producer(input));
    }
  }
}

bool IsLive(const Graph& graph, const std::string& name) { return graph.FindNode(name) >= 0; }

TEST(DeadNodeEliminationTest, InferenceKeepsWhatFetchesNeed) {
  Graph graph;
  const ValueId x = graph.AddInput("x", F64({2, 3}), OneCpu(), NdSbp{});
  graph.AddInput("unused_input", F64({2}), OneCpu(), NdSbp{});
  const ValueId w = NormalVariable(graph, "w", {3, 3}, 1);
  NormalVariable(graph, "unused_variable", {3}, 2);
  const ValueId y = Op(graph, "matmul", "y", {x, w})[0];
  const ValueId dead1 = Op(graph, "tanh", "dead/tanh", {y})[0];
  Op(graph, "mul", "dead/mul", {dead1, dead1});
  Op(graph, "reduce_sum", "dead/sum", {x});
  graph.fetches().push_back({"y", y});

  const Status status = RunDce(graph);
  ASSERT_TRUE(status.ok()) << status.message();
  for (const std::string& name : {"dead/tanh", "dead/mul", "dead/sum"})
    EXPECT_FALSE(IsLive(graph, name)) << name;
  for (const std::string& name : {"x", "unused_input", "w", "unused_variable", "y"}) {
    EXPECT_TRUE(IsLive(graph, name)) << name;
  }
  EXPECT_EQ(graph.NumLiveNodes(), 5);
  ExpectConsistent(graph);
}

// A training graph: the unused branch goes, the updates, the step counter
// and everything they read stay; the result of a step is unchanged.
TEST(DeadNodeEliminationTest, TrainingKeepsUpdatesAndRemovesUnusedBranch) {
  Graph graph;
  const ValueId x = graph.AddInput("x", F64({4, 3}), OneCpu(), NdSbp{});
  const ValueId w = NormalVariable(graph, "w", {3, 2}, 3);
  const ValueId h = Op(graph, "matmul", "h", {x, w})[0];
  Op(graph, "relu", "unused/relu", {h});
  const ValueId loss = Op(graph, "reduce_mean", "loss", {Op(graph, "mul", "sq", {h, h})[0]})[0];
  graph.SetMinimize(loss,
                    {{"kind", std::string("adam")}, {"learning_rate", 0.1}, {"warmup_steps", int64_t{2}}});
  std::vector<std::unique_ptr<compiler::Pass>> passes;
  passes.push_back(compiler::MakeShapeInferencePass());
  passes.push_back(compiler::MakeAutogradPass());
  passes.push_back(compiler::MakeOptimizerInsertionPass());
  ASSERT_TRUE(RunPassList(graph, std::move(passes)).ok());
  const Graph before = graph;
  const int64_t live_before = graph.NumLiveNodes();

  const Status status = RunDce(graph);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_FALSE(IsLive(graph, "unused/relu"));
  EXPECT_EQ(graph.NumLiveNodes(), live_before - 1);
  EXPECT_EQ(NodesOf(graph, "adam_update").size(), 1u);
  EXPECT_EQ(NodesOf(graph, "increment").size(), 1u);
  EXPECT_EQ(NodesOf(graph, "learning_rate_schedule").size(), 1u);
  EXPECT_TRUE(IsLive(graph, "optimizer.step"));
  EXPECT_TRUE(IsLive(graph, "w.adam_m"));
  ASSERT_EQ(graph.gradients().count(w), 1u);
  EXPECT_FALSE(graph.producer(graph.gradients().at(w)).removed);
  ExpectConsistent(graph);

  // Two steps on both graphs give the same variables.
  std::map<std::string, HostTensor> kept, original;
  GraphInterpreter interpreter;
  for (int step = 0; step < 2; ++step) {
    const std::map<std::string, HostTensor> feeds = {{"x", RandomTensor(F64({4, 3}), 30 + step)}};
    ASSERT_TRUE(interpreter.Run(graph, feeds, kept).ok());
    ASSERT_TRUE(interpreter.Run(before, feeds, original).ok());
  }
  ASSERT_EQ(kept.size(), original.size());
  for (const auto& [name, tensor] : original) {
    EXPECT_EQ(kept.at(name).ToDoubles(), tensor.ToDoubles()) << name;
  }
  EXPECT_EQ(kept.at("optimizer.step").GetAsDouble(0), 2.0);
}

// Gradients nothing reads (no optimizer ran) are removed with their
// backward nodes, and leave the gradients map.
TEST(DeadNodeEliminationTest, UnreadGradientsLeaveTheMap) {
  Graph graph;
  const ValueId x = graph.AddInput("x", F64({2, 3}), OneCpu(), NdSbp{});
  const ValueId w = NormalVariable(graph, "w", {3, 2}, 4);
  const ValueId loss = Op(graph, "reduce_mean", "loss", {Op(graph, "matmul", "mm", {x, w})[0]})[0];
  graph.SetMinimize(loss, {});
  ASSERT_TRUE(RunAutograd(graph).ok());
  ASSERT_EQ(graph.gradients().size(), 1u);
  const Status status = RunDce(graph);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_TRUE(graph.gradients().empty());
  for (NodeId id : graph.LiveNodes()) {
    EXPECT_NE(graph.node(id).role, compiler::NodeRole::kBackward) << compiler::Describe(graph.node(id));
  }
  EXPECT_TRUE(IsLive(graph, "loss"));
  ExpectConsistent(graph);
}

}  // namespace
}  // namespace ofl::testing

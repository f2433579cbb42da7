// The logical IR: building with inference, topological order, uses, and the
// text form (round trip, parse errors that name the line).
#include "compiler/ir/graph.h"

#include <gtest/gtest.h>

#include "compiler/ir/graph_emitter.h"
#include "compiler/ir/graph_text.h"
#include "compiler/passes/pipeline.h"
#include "ops/registry.h"

namespace ofl::compiler {
namespace {

const OpRegistry& Ops() { return DefaultRegistries().ops; }

// A two-layer MLP with a loss, hints, a fetch and an optimizer config.
Graph SmallMlp() {
  Graph graph;
  const Placement four = Placement::Linear(DeviceType::kCPU, 4);
  const ValueId x = graph.AddInput("x", TensorDesc{Shape{8, 4}, DType::kF32}, four, {Sbp::Split(0)});
  const ValueId labels = graph.AddInput("labels", TensorDesc{Shape{8}, DType::kI64}, four, {});
  const ValueId w =
      graph.AddVariable("fc.weight", TensorDesc{Shape{4, 3}, DType::kF32}, four, {Sbp::Broadcast()},
                        AttrMap{{"initializer", std::string("normal")}, {"std", 0.02}, {"seed", int64_t{7}}});
  GraphEmitter emit(graph, Ops(), four, NodeRole::kForward, "fc");
  const ValueRef h = emit.Emit1("matmul", {ValueRef{x}, ValueRef{w}}).ValueOrThrow();
  const ValueRef y = emit.Emit1("relu", {h}).ValueOrThrow();
  const std::vector<ValueRef> loss =
      emit.Emit("sparse_softmax_cross_entropy", {y, ValueRef{labels}}, {}).ValueOrThrow();
  const ValueRef mean =
      emit.Emit1("reduce_mean", {loss[0]}, AttrMap{{"axes", std::vector<int64_t>{}}}).ValueOrThrow();
  graph.fetches().push_back(Fetch{"loss", mean.id});
  graph.SetMinimize(mean.id, AttrMap{{"kind", std::string("adam")},
                                     {"learning_rate", 0.001},
                                     {"betas", std::vector<double>{0.9, 1.0}}});
  return graph;
}

TEST(GraphTest, EmitterInfersAndNamesNodes) {
  Graph graph = SmallMlp();
  EXPECT_EQ(graph.NumLiveNodes(), 7);
  const NodeId matmul = graph.FindNode("fc/matmul");
  ASSERT_GE(matmul, 0);
  EXPECT_EQ(graph.value(graph.node(matmul).outputs[0]).desc, (TensorDesc{Shape{8, 3}, DType::kF32}));
  EXPECT_TRUE(graph.node(matmul).attrs.Has("transpose_a")) << "defaults are filled in";
}

TEST(GraphTest, TopologicalOrderPutsProducersFirst) {
  Graph graph = SmallMlp();
  const std::vector<NodeId> order = graph.TopologicalOrder().ValueOrThrow();
  std::vector<int> position(graph.num_node_slots());
  for (size_t i = 0; i < order.size(); ++i) position[order[i]] = static_cast<int>(i);
  for (NodeId id : order) {
    for (ValueId input : graph.node(id).inputs)
      EXPECT_LT(position[graph.value(input).producer], position[id]);
  }
}

TEST(GraphTest, UsesAndACycleIsAnError) {
  Graph graph = SmallMlp();
  const NodeId matmul = graph.FindNode("fc/matmul");
  const ValueId h = graph.node(matmul).outputs[0];
  std::vector<Uses> uses = graph.ComputeUses();
  ASSERT_EQ(uses[h].size(), 1u);
  EXPECT_EQ(graph.node(uses[h][0].first).op, "relu");
  // h2 = relu(h); replacing every use of h by h2 also rewires h2's own
  // node to read h2: a cycle, which the order must report, not loop on.
  GraphEmitter emit(graph, Ops(), graph.node(matmul).placement, NodeRole::kForward);
  const ValueRef h2 = emit.Emit1("relu", {ValueRef{h}}).ValueOrThrow();
  graph.ReplaceAllUses(h, h2.id);
  StatusOr<std::vector<NodeId>> order = graph.TopologicalOrder();
  ASSERT_FALSE(order.ok());
  EXPECT_NE(order.status().message().find("cycle"), std::string::npos) << order.status().message();
}

TEST(GraphTest, TextRoundTrip) {
  Graph graph = SmallMlp();
  graph.mutable_value(graph.node(graph.FindNode("fc/matmul")).outputs[0]).sbp = NdSbp{Sbp::Split(0)};
  graph.mutable_node(graph.FindNode("fc/matmul")).input_sbps = {NdSbp{Sbp::Split(0)},
                                                                NdSbp{Sbp::Broadcast()}};
  const std::string text = PrintGraph(graph);
  const Graph parsed = ParseGraph(text, Ops()).ValueOrThrow();
  EXPECT_EQ(PrintGraph(parsed), text);
  EXPECT_NE(text.find("sbp S(0)"), std::string::npos) << text;
  EXPECT_NE(text.find("reads (S(0), B)"), std::string::npos) << text;
  EXPECT_NE(text.find("betas=[0.9, 1.0]"), std::string::npos) << text;
  EXPECT_EQ(parsed.fetches().size(), 1u);
  EXPECT_GE(parsed.loss(), 0);
  EXPECT_EQ(parsed.optimizer().GetString("kind"), "adam");
}

TEST(GraphTest, TextRoundTripOnMeshWithMultipleOutputsAndOddNames) {
  Graph graph;
  const Placement mesh = Placement::Mesh(DeviceType::kCPU, Shape{2, 2}).ValueOrThrow();
  const ValueId x = graph.AddInput("in \"quoted\"", TensorDesc{Shape{4, 6}, DType::kF32}, mesh,
                                   {Sbp::Split(0), Sbp::Broadcast()});
  const ValueId gamma = graph.AddVariable("ln.gamma", TensorDesc{Shape{6}, DType::kF32}, mesh, {}, {});
  const ValueId beta = graph.AddVariable("ln.beta", TensorDesc{Shape{6}, DType::kF32}, mesh, {}, {});
  GraphEmitter emit(graph, Ops(), mesh, NodeRole::kBackward);
  const auto outputs =
      emit.Emit("layer_norm", {ValueRef{x}, ValueRef{gamma}, ValueRef{beta}}, {}).ValueOrThrow();
  ASSERT_EQ(outputs.size(), 3u);
  graph.fetches().push_back(Fetch{"y", outputs[0].id});
  const std::string text = PrintGraph(graph);
  EXPECT_NE(text.find("hint (S(0), B)"), std::string::npos) << text;
  EXPECT_NE(text.find("mesh [2, 2]"), std::string::npos) << text;
  const Graph parsed = ParseGraph(text, Ops()).ValueOrThrow();
  EXPECT_EQ(PrintGraph(parsed), text);
  EXPECT_GE(parsed.FindNode("in \"quoted\""), 0);
}

TEST(GraphTest, ParsePlacementWithRanks) {
  const Placement placement = ParsePlacement("cpu:[r1/0,r1/1] mesh [2]").ValueOrThrow();
  EXPECT_EQ(placement.devices()[1].rank, 1);
  EXPECT_EQ(placement.ToString(), "cpu:[r1/0,r1/1] mesh [2]");
  EXPECT_FALSE(ParsePlacement("cpu:[0,1] mesh [3]").ok());
}

void ExpectParseError(const std::string& text, const std::string& fragment) {
  StatusOr<Graph> parsed = ParseGraph(text, Ops());
  ASSERT_FALSE(parsed.ok()) << text;
  EXPECT_NE(parsed.status().message().find(fragment), std::string::npos) << parsed.status().message();
}

TEST(GraphTest, ParseErrorsNameTheLine) {
  const std::string header = "graph {\n  %0 = input() : (f32[2, 3]) on cpu:[0] mesh [1] name \"x\"\n";
  ExpectParseError(header + "  %1 = nosuchop(%0) : (f32[2, 3]) on cpu:[0] mesh [1]\n}\n", "line 3");
  ExpectParseError(header + "  %1 = nosuchop(%0) : (f32[2, 3]) on cpu:[0] mesh [1]\n}\n",
                   "unknown op 'nosuchop'");
  ExpectParseError(header + "  %1 = relu(%5) : (f32[2, 3]) on cpu:[0] mesh [1]\n}\n", "%5 is not defined");
  ExpectParseError(header + "  %1 = relu(%0) : (f32[3, 2]) on cpu:[0] mesh [1]\n}\n", "infers f32[2, 3]");
  ExpectParseError(header + "  %1 = relu(%0) : (f32[2, 3] sbp S(9x)) on cpu:[0] mesh [1]\n}\n", "line 3");
  ExpectParseError(header + "  %1 = matmul(%0, %0) : (f32[2, 3]) on cpu:[0] mesh [1]\n}\n", "[matmul]");
  ExpectParseError(header + "  %1 = input() : (f32[-1, 3]) on cpu:[0] mesh [1] name \"y\"\n}\n",
                   "non-negative extents");
  ExpectParseError(header + "  %1 = relu(%0) : (f32[2, 3]) on cpu:[0] mesh [1] name \"x\"\n}\n",
                   "used twice");
  ExpectParseError(header + "  %1 = relu(%99999999999999999999) : (f32[2, 3]) on cpu:[0] mesh [1]\n}\n",
                   "out of range");
  ExpectParseError(header, "no closing");
  ExpectParseError("%0 = input() : (f32[2]) on cpu:[0] mesh [1]\n", "expected 'graph {'");
}

TEST(GraphTest, BadVariableInitializerIsAnErrorNamingTheVariable) {
  const std::string text =
      "graph {\n"
      "  %0 = variable() {initializer=\"gaussian\"} : (f32[2, 3]) on cpu:[0] mesh [1] name \"w\"\n"
      "  %1 = variable() {initializer=\"uniform\", low=1.0, high=0.5} : (f32[2]) on cpu:[0] mesh [1] name "
      "\"b\"\n"
      "}\n";
  for (const auto& [variable, fragment] :
       std::vector<std::pair<std::string, std::string>>{{"w", "'gaussian'"}, {"b", "expected high > low"}}) {
    Graph graph = ParseGraph(text, Ops()).ValueOrThrow();
    graph.RemoveNode(graph.FindNode(variable == "w" ? "b" : "w"));
    PassContext context{Ops(), {}, {}};
    const Status status = RunPasses(DefaultPipeline(context.options), graph, context);
    ASSERT_FALSE(status.ok()) << variable;
    EXPECT_NE(status.message().find("'" + variable + "' (variable)"), std::string::npos) << status.message();
    EXPECT_NE(status.message().find(fragment), std::string::npos) << status.message();
  }
}

}  // namespace
}  // namespace ofl::compiler

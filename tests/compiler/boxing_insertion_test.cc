// Boxing insertion after SBP deduction: the expected kinds appear where
// layouts disagree, one node serves every consumer that reads a value the
// same way, roles and names follow the contract, fetches are left alone.
#include "compiler/passes/boxing_insertion.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "compiler/ir/graph.h"
#include "compiler/passes/sbp_deduction.h"
#include "ops/registry.h"

namespace ofl::compiler {
namespace {

NdSbp Nd(const std::string& text) { return ParseNdSbp(text).ValueOrThrow(); }
TensorDesc F32(Shape shape) { return TensorDesc{std::move(shape), DType::kF32}; }

class BoxingInsertionTest : public ::testing::Test {
 protected:
  const OpRegistry& ops() const { return DefaultRegistries().ops; }

  NodeId Op(const std::string& op, const std::string& name, std::vector<ValueId> inputs,
            const Placement& placement, NodeRole role = NodeRole::kForward) {
    StatusOr<NodeId> id = graph_.AddOp(ops(), op, name, std::move(inputs), {}, placement, role);
    EXPECT_TRUE(id.ok()) << id.status().message();
    return id.ok() ? id.value() : -1;
  }
  ValueId Out(NodeId id) const { return graph_.node(id).outputs[0]; }
  void Hint(ValueId value, const std::string& sbp) { graph_.mutable_value(value).sbp_hint = Nd(sbp); }

  Status Compile() {
    PassContext context{ops(), {}, {}};
    OFL_RETURN_IF_ERROR(MakeSbpDeductionPass()->Run(graph_, context));
    return MakeBoxingInsertionPass()->Run(graph_, context);
  }

  std::vector<NodeId> BoxingNodes() const {
    std::vector<NodeId> nodes;
    for (NodeId id : graph_.LiveNodes()) {
      if (graph_.node(id).IsBoxing()) nodes.push_back(id);
    }
    return nodes;
  }
  std::map<std::string, int> KindCounts() const {
    std::map<std::string, int> counts;
    for (NodeId id : BoxingNodes()) ++counts[graph_.node(id).attrs.GetString("kind")];
    return counts;
  }
  // The node feeding input `i` of `consumer`.
  const Node& Feeder(NodeId consumer, int i) const {
    return graph_.producer(graph_.node(consumer).inputs[i]);
  }

  // Every edge agrees after the pass: what a node reads is what it gets.
  void ExpectEveryEdgeAgrees() const {
    for (NodeId id : graph_.LiveNodes()) {
      const Node& node = graph_.node(id);
      for (size_t i = 0; i < node.inputs.size(); ++i) {
        const Value& value = graph_.value(node.inputs[i]);
        // A boxing node lies on its target placement and reads its source
        // wherever it lies.
        if (!node.IsBoxing()) {
          EXPECT_EQ(value.placement, node.placement) << Describe(node) << " input " << i;
        }
        EXPECT_EQ(value.sbp, node.input_sbps[i]) << Describe(node) << " input " << i;
      }
    }
  }

  Graph graph_;
  const Placement two_ = Placement::Linear(DeviceType::kCPU, 2);
  const Placement mesh_ = Placement::Mesh(DeviceType::kCPU, Shape{2, 2}).ValueOrThrow();
};

TEST_F(BoxingInsertionTest, DataParallelNeedsNoBoxing) {
  const ValueId x = graph_.AddInput("x", F32({8, 4}), two_, {});
  const ValueId w = graph_.AddVariable("w", F32({4, 6}), two_, {}, {});
  const NodeId mm = Op("matmul", "fc/matmul", {x, w}, two_);
  Op("relu", "fc/relu", {Out(mm)}, two_);
  const int64_t before = graph_.NumLiveNodes();
  ASSERT_TRUE(Compile().ok());
  EXPECT_EQ(graph_.NumLiveNodes(), before);
  EXPECT_TRUE(BoxingNodes().empty());
}

TEST_F(BoxingInsertionTest, RowParallelAllReducesOnceForEveryBroadcastReader) {
  const ValueId x = graph_.AddInput("x", F32({8, 4}), two_, Nd("S(1)"));
  const ValueId w = graph_.AddVariable("w", F32({4, 6}), two_, Nd("S(0)"), {});
  const NodeId mm = Op("matmul", "fc2/matmul", {x, w}, two_);
  const NodeId first = Op("relu", "first", {Out(mm)}, two_);
  const NodeId second = Op("gelu", "second", {Out(mm)}, two_);
  const NodeId third = Op("relu", "third", {Out(mm)}, two_);
  Hint(Out(first), "B");
  Hint(Out(second), "B");
  Hint(Out(third), "S(0)");
  graph_.fetches().push_back(Fetch{"y", Out(mm)});
  ASSERT_TRUE(Compile().ok());
  // The third reader reuses the all-reduce (already paid for) and slices
  // its result locally rather than reduce-scattering the partial sums again.
  EXPECT_EQ(KindCounts(), (std::map<std::string, int>{{"all_reduce", 1}, {"local_slice", 1}}));
  const Node& reduce = Feeder(first, 0);
  ASSERT_TRUE(reduce.IsBoxing());
  EXPECT_EQ(reduce.name, "fc2/matmul.boxing_0");
  EXPECT_EQ(reduce.attrs.GetString("kind"), "all_reduce");
  EXPECT_FALSE(reduce.attrs.Has("mesh_axis")) << "1-D meshes need no axis";
  EXPECT_EQ(reduce.inputs, (std::vector<ValueId>{Out(mm)}));
  EXPECT_EQ(reduce.input_sbps, (std::vector<NdSbp>{Nd("P")}));
  EXPECT_EQ(graph_.value(reduce.outputs[0]).sbp, Nd("B"));
  EXPECT_EQ(reduce.placement, two_);
  EXPECT_EQ(reduce.role, NodeRole::kForward);
  EXPECT_EQ(Feeder(second, 0).id, reduce.id) << "one boxing node per (value, placement, sbp)";
  EXPECT_EQ(Feeder(third, 0).id, reduce.id) << "the all-reduce is shared by every reader";
  const NodeId slice = graph_.FindNode("third.hint");
  ASSERT_GE(slice, 0);
  EXPECT_EQ(graph_.node(slice).attrs.GetString("kind"), "local_slice");
  EXPECT_EQ(graph_.value(graph_.node(slice).outputs[0]).sbp, Nd("S(0)"));
  // The fetch still reads the matmul's own P output; the runtime sums it.
  EXPECT_EQ(graph_.fetches()[0].value, Out(mm));
  ExpectEveryEdgeAgrees();
}

TEST_F(BoxingInsertionTest, GatherSliceAndMoveBetweenPlacements) {
  const Placement upper =
      Placement::Create(DeviceType::kCPU,
                        {DeviceId{DeviceType::kCPU, 0, 2}, DeviceId{DeviceType::kCPU, 0, 3}}, Shape{2})
          .ValueOrThrow();
  const ValueId x = graph_.AddInput("x", F32({8, 4}), two_, {});
  const ValueId w = graph_.AddVariable("w", F32({4, 6}), two_, {}, {});
  const NodeId mm = Op("matmul", "mm", {x, w}, two_);
  Hint(Out(mm), "S(1)");  // cheaper as data parallel + all-to-all than gathering x
  const ValueId r = graph_.AddInput("r", F32({8, 4}), two_, Nd("B"));
  const NodeId sliced = Op("relu", "sliced", {r}, two_);
  Hint(Out(sliced), "S(1)");  // B -> S(1): each device keeps its columns
  const NodeId stage = Op("relu", "stage2", {Out(sliced)}, upper);  // pipeline stage boundary
  const NodeId moved = Op("relu", "moved", {Out(stage)}, two_);
  Hint(Out(moved), "B");
  ASSERT_TRUE(Compile().ok());
  EXPECT_EQ(Feeder(mm, 0).id, graph_.producer(x).id) << "x is read as it lies";
  const NodeId hinted = graph_.FindNode("mm.hint");
  ASSERT_GE(hinted, 0);
  EXPECT_EQ(graph_.node(hinted).attrs.GetString("kind"), "all_to_all");
  EXPECT_EQ(Feeder(sliced, 0).attrs.GetString("kind"), "local_slice");
  EXPECT_EQ(Feeder(stage, 0).attrs.GetString("kind"), "general");
  EXPECT_EQ(Feeder(stage, 0).placement, upper);
  EXPECT_EQ(graph_.value(Feeder(stage, 0).outputs[0]).placement, upper);
  EXPECT_EQ(Feeder(moved, 0).attrs.GetString("kind"), "general");
  EXPECT_EQ(Feeder(moved, 0).placement, two_);
  ExpectEveryEdgeAgrees();
}

TEST_F(BoxingInsertionTest, MeshAxisOnTwoByTwo) {
  const ValueId x = graph_.AddInput("x", F32({8, 4}), mesh_, Nd("(S(0), S(1))"));
  const ValueId w = graph_.AddVariable("w", F32({4, 6}), mesh_, Nd("(B, S(0))"), {});
  const NodeId mm = Op("matmul", "mm", {x, w}, mesh_);  // (S(0), P)
  const NodeId relu = Op("relu", "relu", {Out(mm)}, mesh_);
  Hint(Out(relu), "(S(0), B)");
  ASSERT_TRUE(Compile().ok());
  EXPECT_EQ(graph_.value(Out(mm)).sbp, Nd("(S(0), P)"));
  const Node& boxing = Feeder(relu, 0);
  ASSERT_TRUE(boxing.IsBoxing());
  EXPECT_EQ(boxing.attrs.GetString("kind"), "all_reduce");
  ASSERT_TRUE(boxing.attrs.Has("mesh_axis"));
  EXPECT_EQ(boxing.attrs.GetInt("mesh_axis"), 1);
  ExpectEveryEdgeAgrees();
}

TEST_F(BoxingInsertionTest, SeveralMeshAxesBecomeAChainOfFastPaths) {
  // Row parallel on both mesh axes gives (P, P); the hinted (B, B) value is
  // two all-reduces, one per mesh axis, not one general boxing that sums
  // every addend on every device. (A long contraction and a small output
  // make reducing the output cheaper than gathering the operands.)
  const ValueId x = graph_.AddInput("x", F32({2, 64}), mesh_, Nd("(S(1), S(1))"));
  const ValueId w = graph_.AddVariable("w", F32({64, 2}), mesh_, Nd("(S(0), S(0))"), {});
  const NodeId mm = Op("matmul", "mm", {x, w}, mesh_);
  Hint(Out(mm), "(B, B)");
  const NodeId relu = Op("relu", "relu", {Out(mm)}, mesh_);
  ASSERT_TRUE(Compile().ok());
  ASSERT_EQ(graph_.value(Out(mm)).sbp, Nd("(P, P)"));
  EXPECT_EQ(KindCounts(), (std::map<std::string, int>{{"all_reduce", 2}}));
  const Node& second = Feeder(relu, 0);
  EXPECT_EQ(second.name, "mm.hint_1");
  EXPECT_EQ(second.attrs.GetInt("mesh_axis"), 1);
  EXPECT_EQ(second.input_sbps, (std::vector<NdSbp>{Nd("(B, P)")}));
  EXPECT_EQ(graph_.value(second.outputs[0]).sbp, Nd("(B, B)"));
  const Node& first = graph_.producer(second.inputs[0]);
  EXPECT_EQ(first.name, "mm.hint");
  EXPECT_EQ(first.attrs.GetString("kind"), "all_reduce");
  EXPECT_EQ(first.attrs.GetInt("mesh_axis"), 0);
  EXPECT_EQ(first.inputs, (std::vector<ValueId>{Out(mm)}));
  ExpectEveryEdgeAgrees();
}

TEST_F(BoxingInsertionTest, ChainOrderKeepsEveryStepExact) {
  // (S(0), S(0)) -> (B, B): gathering mesh axis 0 first would interleave
  // rows, so the chain gathers axis 1 first.
  const Placement placement = mesh_;
  const std::vector<NdSbp> steps = BoxingSteps(placement, Nd("(S(0), S(0))"), placement, Nd("(B, B)"));
  EXPECT_EQ(steps, (std::vector<NdSbp>{Nd("(S(0), B)"), Nd("(B, B)")}));
  // One axis, or other placements: a single step.
  EXPECT_EQ(BoxingSteps(placement, Nd("(S(0), P)"), placement, Nd("(S(0), B)")),
            (std::vector<NdSbp>{Nd("(S(0), B)")}));
  const Placement four = Placement::Linear(DeviceType::kCPU, 4);
  EXPECT_EQ(BoxingSteps(four, Nd("P"), placement, Nd("(B, B)")), (std::vector<NdSbp>{Nd("(B, B)")}));
  // No exact order: (S(0), S(1)) -> (S(1), S(0)) stays one general step.
  EXPECT_EQ(BoxingSteps(placement, Nd("(S(0), S(1))"), placement, Nd("(S(1), S(0))")),
            (std::vector<NdSbp>{Nd("(S(1), S(0))")}));
}

TEST_F(BoxingInsertionTest, RoleOfTheEarliestConsumer) {
  const ValueId x = graph_.AddInput("x", F32({8, 4}), two_, {});
  const NodeId backward = Op("relu", "backward_reader", {x}, two_, NodeRole::kBackward);
  const NodeId optimizer = Op("relu", "optimizer_reader", {x}, two_, NodeRole::kOptimizer);
  Hint(Out(backward), "B");
  Hint(Out(optimizer), "B");
  ASSERT_TRUE(Compile().ok());
  ASSERT_EQ(BoxingNodes().size(), 1u);
  EXPECT_EQ(graph_.node(BoxingNodes()[0]).role, NodeRole::kBackward);
  EXPECT_EQ(Feeder(optimizer, 0).id, BoxingNodes()[0]);
}

TEST_F(BoxingInsertionTest, NamesSkipTakenOnes) {
  const ValueId x = graph_.AddInput("x", F32({8, 4}), two_, {});
  graph_.AddInput("x.boxing_0", F32({1}), two_, {});
  const NodeId relu = Op("relu", "relu", {x}, two_);
  Hint(Out(relu), "B");
  ASSERT_TRUE(Compile().ok());
  EXPECT_EQ(Feeder(relu, 0).name, "x.boxing_1");
}

TEST_F(BoxingInsertionTest, RunningTwiceAddsNothing) {
  const ValueId x = graph_.AddInput("x", F32({8, 4}), two_, {});
  const NodeId relu = Op("relu", "relu", {x}, two_);
  Hint(Out(relu), "B");
  ASSERT_TRUE(Compile().ok());
  const int64_t after_first = graph_.NumLiveNodes();
  ASSERT_TRUE(Compile().ok());
  EXPECT_EQ(graph_.NumLiveNodes(), after_first);
  EXPECT_EQ(BoxingNodes().size(), 1u);
}

TEST_F(BoxingInsertionTest, NeedsDeducedLayouts) {
  const ValueId x = graph_.AddInput("x", F32({8, 4}), two_, {});
  Op("relu", "relu", {x}, two_);
  PassContext context{ops(), {}, {}};
  const Status status = MakeBoxingInsertionPass()->Run(graph_, context);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("'relu' (relu)"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("sbp_deduction"), std::string::npos) << status.message();
}

}  // namespace
}  // namespace ofl::compiler

namespace ofl::compiler {
namespace {

// A GPT-like stack (layer_norm, two matmuls, gelu, residual adds, weight
// gradients and in-place SGD updates) of `layers` layers on `placement`.
// Returns the number of nodes before the passes.
int64_t BuildStack(Graph& graph, const OpRegistry& ops, const Placement& placement, int layers) {
  const int64_t rows = 1024, hidden = 256;
  auto op = [&](const std::string& name, const std::string& kind, std::vector<ValueId> inputs,
                AttrMap attrs = {}) {
    return graph.AddOp(ops, kind, name, std::move(inputs), attrs, placement, NodeRole::kForward)
        .ValueOrThrow();
  };
  auto out = [&](NodeId id) { return graph.node(id).outputs[0]; };
  ValueId h = graph.AddInput("tokens", F32({rows, hidden}), placement, {});
  const ValueId lr = graph.AddInput("lr", F32({}), placement, {});
  for (int l = 0; l < layers; ++l) {
    const std::string p = "layer" + std::to_string(l) + "/";
    const ValueId gamma = graph.AddVariable(p + "gamma", F32({hidden}), placement, {}, {});
    const ValueId beta = graph.AddVariable(p + "beta", F32({hidden}), placement, {}, {});
    const ValueId w1 = graph.AddVariable(p + "w1", F32({hidden, 4 * hidden}), placement, {}, {});
    const ValueId b1 = graph.AddVariable(p + "b1", F32({4 * hidden}), placement, {}, {});
    const ValueId w2 = graph.AddVariable(p + "w2", F32({4 * hidden, hidden}), placement, {}, {});
    const ValueId m1 = graph.AddVariable(p + "w1/momentum", F32({hidden, 4 * hidden}), placement, {}, {});
    const ValueId m2 = graph.AddVariable(p + "w2/momentum", F32({4 * hidden, hidden}), placement, {}, {});
    const ValueId ln = out(op(p + "ln", "layer_norm", {h, gamma, beta}));
    const ValueId a1 = out(op(p + "bias", "add", {out(op(p + "fc1", "matmul", {ln, w1})), b1}));
    const ValueId g1 = out(op(p + "gelu", "gelu", {a1}));
    const ValueId y = out(op(p + "fc2", "matmul", {g1, w2}));
    const ValueId next = out(op(p + "residual", "add", {h, y}));
    const ValueId dw2 = out(op(p + "dw2", "matmul", {g1, next}, {{"transpose_a", true}}));
    op(p + "w2/update", "sgd_update", {w2, dw2, m2, lr}, {{"momentum", 0.9}});
    const ValueId dg1 = out(op(p + "dg1", "matmul", {next, w2}, {{"transpose_b", true}}));
    const ValueId dw1 = out(op(p + "dw1", "matmul", {ln, dg1}, {{"transpose_a", true}}));
    op(p + "w1/update", "sgd_update", {w1, dw1, m1, lr}, {{"momentum", 0.9}});
    h = next;
  }
  return graph.NumLiveNodes();
}

TEST(BoxingInsertionScaleTest, LargeStackOn64Devices) {
  const OpRegistry& ops = DefaultRegistries().ops;
  for (const Shape& hierarchy : {Shape{64}, Shape{8, 8}}) {
    Graph graph;
    const Placement placement = Placement::Mesh(DeviceType::kCPU, hierarchy).ValueOrThrow();
    const int64_t nodes = BuildStack(graph, ops, placement, 150);
    PassContext context{ops, {}, {}};
    const auto start = std::chrono::steady_clock::now();
    ASSERT_TRUE(MakeSbpDeductionPass()->Run(graph, context).ok());
    const auto middle = std::chrono::steady_clock::now();
    ASSERT_TRUE(MakeBoxingInsertionPass()->Run(graph, context).ok());
    const auto stop = std::chrono::steady_clock::now();
    std::map<std::string, int> kinds;
    for (NodeId id : graph.LiveNodes()) {
      const Node& node = graph.node(id);
      if (node.IsBoxing()) ++kinds[node.attrs.GetString("kind")];
      for (size_t i = 0; i < node.inputs.size(); ++i) {
        ASSERT_EQ(graph.value(node.inputs[i]).sbp, node.input_sbps[i]) << Describe(node);
      }
    }
    // Data parallel: each weight gradient is all-reduced for its update,
    // once per mesh axis; nothing falls back to the general algorithm.
    EXPECT_GE(kinds["all_reduce"], 2 * 150 * hierarchy.rank()) << hierarchy.ToString();
    EXPECT_EQ(kinds["general"], 0) << hierarchy.ToString();
    std::string summary;
    for (const auto& [kind, count] : kinds) summary += kind + "=" + std::to_string(count) + " ";
    std::printf("%s: %lld nodes, deduction %.1f ms, insertion %.1f ms, boxing: %s\n",
                hierarchy.ToString().c_str(), static_cast<long long>(nodes),
                std::chrono::duration<double, std::milli>(middle - start).count(),
                std::chrono::duration<double, std::milli>(stop - middle).count(), summary.c_str());
  }
}

}  // namespace
}  // namespace ofl::compiler

// SBP deduction on small graphs: defaults (data parallel), hints as
// constraints, least-cost choice, the 2x2 mesh, the in-place rule for
// optimizer updates, and errors that name the node and the hint.
#include "compiler/passes/sbp_deduction.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "compiler/ir/graph.h"
#include "ops/registry.h"

namespace ofl::compiler {
namespace {

NdSbp Nd(const std::string& text) { return ParseNdSbp(text).ValueOrThrow(); }
TensorDesc F32(Shape shape) { return TensorDesc{std::move(shape), DType::kF32}; }

class SbpDeductionTest : public ::testing::Test {
 protected:
  const OpRegistry& ops() const { return DefaultRegistries().ops; }

  NodeId Op(const std::string& op, const std::string& name, std::vector<ValueId> inputs,
            const Placement& placement, AttrMap attrs = {}) {
    StatusOr<NodeId> id =
        graph_.AddOp(ops(), op, name, std::move(inputs), attrs, placement, NodeRole::kForward);
    EXPECT_TRUE(id.ok()) << id.status().message();
    return id.ok() ? id.value() : -1;
  }
  ValueId Out(NodeId id) const { return graph_.node(id).outputs[0]; }
  const NdSbp& SbpOf(ValueId value) const { return graph_.value(value).sbp; }
  void Hint(ValueId value, const std::string& sbp) { graph_.mutable_value(value).sbp_hint = Nd(sbp); }

  Status Deduce() {
    PassContext context{ops(), {}, {}};
    return MakeSbpDeductionPass()->Run(graph_, context);
  }

  Graph graph_;
  const Placement two_ = Placement::Linear(DeviceType::kCPU, 2);
  const Placement mesh_ = Placement::Mesh(DeviceType::kCPU, Shape{2, 2}).ValueOrThrow();
};

TEST_F(SbpDeductionTest, DataParallelMatmulByDefault) {
  const ValueId x = graph_.AddInput("x", F32({8, 4}), two_, {});
  const ValueId w = graph_.AddVariable("w", F32({4, 6}), two_, {}, {});
  const ValueId step = graph_.AddInput("step", TensorDesc{Shape{}, DType::kI64}, two_, {});
  const NodeId mm = Op("matmul", "fc/matmul", {x, w}, two_);
  ASSERT_TRUE(Deduce().ok());
  EXPECT_EQ(SbpOf(x), Nd("S(0)"));
  EXPECT_EQ(SbpOf(w), Nd("B"));
  EXPECT_EQ(SbpOf(step), Nd("B")) << "scalars cannot be split";
  EXPECT_EQ(graph_.node(mm).input_sbps, (std::vector<NdSbp>{Nd("S(0)"), Nd("B")}));
  EXPECT_EQ(SbpOf(Out(mm)), Nd("S(0)"));
  EXPECT_TRUE(graph_.node(graph_.producer(x).id).input_sbps.empty());
}

TEST_F(SbpDeductionTest, ColumnParallelFromWeightHint) {
  // Replicated activations and a column-split weight: y comes out split by
  // columns without moving anything.
  const ValueId x = graph_.AddInput("x", F32({8, 4}), two_, Nd("B"));
  const ValueId w = graph_.AddVariable("w", F32({4, 6}), two_, Nd("S(1)"), {});
  const NodeId mm = Op("matmul", "fc/matmul", {x, w}, two_);
  ASSERT_TRUE(Deduce().ok());
  EXPECT_EQ(SbpOf(w), Nd("S(1)"));
  EXPECT_EQ(graph_.node(mm).input_sbps, (std::vector<NdSbp>{Nd("B"), Nd("S(1)")}));
  EXPECT_EQ(SbpOf(Out(mm)), Nd("S(1)"));
}

TEST_F(SbpDeductionTest, OutputHintIsAConstraintOnTheValue) {
  // The user asked for a column split of y. Running the matmul column
  // parallel would gather x (8x4 floats to every device); running it data
  // parallel and turning S(0) into S(1) moves less, so the matmul runs data
  // parallel and a boxing node gives every reader the hinted S(1) value.
  const ValueId x = graph_.AddInput("x", F32({8, 4}), two_, {});
  const ValueId w = graph_.AddVariable("w", F32({4, 6}), two_, {}, {});
  const NodeId mm = Op("matmul", "fc/matmul", {x, w}, two_);
  const NodeId relu = Op("relu", "fc/relu", {Out(mm)}, two_);
  Hint(Out(mm), "S(1)");
  ASSERT_TRUE(Deduce().ok());
  EXPECT_EQ(SbpOf(Out(mm)), Nd("S(0)"));
  const NodeId hinted = graph_.FindNode("fc/matmul.hint");
  ASSERT_GE(hinted, 0);
  EXPECT_TRUE(graph_.node(hinted).IsBoxing());
  EXPECT_EQ(graph_.node(hinted).attrs.GetString("kind"), "all_to_all");
  EXPECT_EQ(SbpOf(Out(hinted)), Nd("S(1)"));
  EXPECT_EQ(graph_.node(relu).inputs[0], Out(hinted)) << "readers read the hinted value";
  EXPECT_EQ(graph_.node(relu).input_sbps, (std::vector<NdSbp>{Nd("S(1)")}));
}

TEST_F(SbpDeductionTest, OutputHintOnAWeightSplitKeepsTheSignature) {
  // With w already split by columns, column parallel is free and is chosen
  // directly: no boxing after the node.
  const ValueId x = graph_.AddInput("x", F32({8, 4}), two_, Nd("B"));
  const ValueId w = graph_.AddVariable("w", F32({4, 6}), two_, Nd("S(1)"), {});
  const NodeId mm = Op("matmul", "fc/matmul", {x, w}, two_);
  Hint(Out(mm), "S(1)");
  ASSERT_TRUE(Deduce().ok());
  EXPECT_EQ(SbpOf(Out(mm)), Nd("S(1)"));
  EXPECT_EQ(graph_.node(mm).input_sbps, (std::vector<NdSbp>{Nd("B"), Nd("S(1)")}));
  EXPECT_LT(graph_.FindNode("fc/matmul.hint"), 0);
}

TEST_F(SbpDeductionTest, PartialVariableIsAnError) {
  const ValueId w = graph_.AddVariable("w", F32({4, 6}), two_, Nd("P"), {});
  Op("relu", "act", {w}, two_);
  const Status status = Deduce();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("'w' (variable)"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("Partial"), std::string::npos) << status.message();
}

TEST_F(SbpDeductionTest, RowParallelGivesPartialSum) {
  const ValueId x = graph_.AddInput("x", F32({8, 4}), two_, Nd("S(1)"));
  const ValueId w = graph_.AddVariable("w", F32({4, 6}), two_, Nd("S(0)"), {});
  const NodeId mm = Op("matmul", "fc2/matmul", {x, w}, two_);
  const NodeId relu = Op("relu", "fc2/relu", {Out(mm)}, two_);
  Hint(Out(relu), "B");
  ASSERT_TRUE(Deduce().ok());
  EXPECT_EQ(SbpOf(Out(mm)), Nd("P"));
  EXPECT_EQ(graph_.node(mm).input_sbps, (std::vector<NdSbp>{Nd("S(1)"), Nd("S(0)")}));
  EXPECT_EQ(graph_.node(relu).input_sbps, (std::vector<NdSbp>{Nd("B")}))
      << "relu is not linear: P must be reduced";
  EXPECT_EQ(SbpOf(Out(relu)), Nd("B"));
}

TEST_F(SbpDeductionTest, LinearConsumerKeepsPartial) {
  // add is linear in both operands jointly: P + P -> P costs nothing, so the
  // reduction is postponed.
  const ValueId x = graph_.AddInput("x", F32({8, 4}), two_, Nd("S(1)"));
  const ValueId w = graph_.AddVariable("w", F32({4, 6}), two_, Nd("S(0)"), {});
  const NodeId mm = Op("matmul", "fc2/matmul", {x, w}, two_);
  const NodeId sum = Op("add", "fc2/add", {Out(mm), Out(mm)}, two_);
  ASSERT_TRUE(Deduce().ok());
  EXPECT_EQ(graph_.node(sum).input_sbps, (std::vector<NdSbp>{Nd("P"), Nd("P")}));
  EXPECT_EQ(SbpOf(Out(sum)), Nd("P"));
}

TEST_F(SbpDeductionTest, TwoByTwoMesh) {
  // Data parallel on mesh axis 0, column parallel on mesh axis 1.
  const ValueId x = graph_.AddInput("x", F32({8, 4}), mesh_, Nd("(S(0), B)"));
  const ValueId w = graph_.AddVariable("w", F32({4, 6}), mesh_, Nd("(B, S(1))"), {});
  const ValueId b = graph_.AddVariable("b", F32({6}), mesh_, {}, {});
  const ValueId batch = graph_.AddInput("batch", F32({8, 6}), mesh_, {});
  const NodeId relu = Op("relu", "batch/relu", {batch}, mesh_);
  const NodeId mm = Op("matmul", "fc/matmul", {x, w}, mesh_);
  const NodeId bias = Op("add", "fc/bias", {Out(mm), b}, mesh_);
  ASSERT_TRUE(Deduce().ok());
  EXPECT_EQ(SbpOf(b), Nd("(B, B)"));
  EXPECT_EQ(SbpOf(batch), Nd("(S(0), S(0))")) << "inputs split their batch on every mesh axis";
  EXPECT_EQ(graph_.node(mm).input_sbps, (std::vector<NdSbp>{Nd("(S(0), B)"), Nd("(B, S(1))")}));
  EXPECT_EQ(SbpOf(Out(mm)), Nd("(S(0), S(1))"));
  // The bias add follows without boxing: b is B along the split columns.
  EXPECT_EQ(graph_.node(bias).input_sbps, (std::vector<NdSbp>{Nd("(S(0), S(1))"), Nd("(B, S(0))")}));
  EXPECT_EQ(SbpOf(Out(bias)), Nd("(S(0), S(1))"));
  EXPECT_EQ(SbpOf(Out(relu)), Nd("(S(0), S(0))"));
}

TEST_F(SbpDeductionTest, UnsatisfiableHintNamesNodeHintAndSignatures) {
  const ValueId x = graph_.AddInput("x", F32({8, 4}), two_, {});
  const ValueId w = graph_.AddVariable("w", F32({4, 6}), two_, {}, {});
  const NodeId mm = Op("matmul", "fc/matmul", {x, w}, two_);
  Hint(Out(mm), "P(max)");
  const Status status = Deduce();
  ASSERT_FALSE(status.ok());
  const std::string& message = status.message();
  EXPECT_NE(message.find("'fc/matmul' (matmul)"), std::string::npos) << message;
  EXPECT_NE(message.find("P(max)"), std::string::npos) << message;
  EXPECT_NE(message.find("S(0), B -> S(0)"), std::string::npos) << message;
  EXPECT_NE(message.find("S(1), S(0) -> P"), std::string::npos) << message;
}

TEST_F(SbpDeductionTest, BadHintsAreErrors) {
  const ValueId x = graph_.AddInput("x", F32({8, 4}), two_, Nd("S(2)"));
  Status status = Deduce();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("'x' (input)"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("split axis 2"), std::string::npos) << status.message();

  Graph other;
  other.AddVariable("w", F32({4, 6}), mesh_, Nd("S(0)"), {});
  PassContext context{ops(), {}, {}};
  status = MakeSbpDeductionPass()->Run(other, context);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("'w' (variable)"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("one SBP per dimension"), std::string::npos) << status.message();
  (void)x;
}

// sgd_update writes param and momentum_buffer in place.
TEST_F(SbpDeductionTest, InPlaceInputsAreReadAsTheyLie) {
  const ValueId param = graph_.AddVariable("w", F32({4, 6}), two_, {}, {});
  const ValueId momentum = graph_.AddVariable("w/momentum", F32({4, 6}), two_, {}, {});
  const ValueId grad = graph_.AddInput("grad", F32({4, 6}), two_, Nd("S(0)"));
  const ValueId learning_rate = graph_.AddInput("lr", F32({}), two_, {});
  const NodeId update = Op("sgd_update", "w/sgd_update", {param, grad, momentum, learning_rate}, two_);
  ASSERT_TRUE(Deduce().ok());
  // The S(0) signature would cost nothing (grad already S(0), slicing a B
  // param is free) but would update a sliced copy, not the variable.
  EXPECT_EQ(graph_.node(update).input_sbps, (std::vector<NdSbp>{Nd("B"), Nd("B"), Nd("B"), Nd("B")}));
}

TEST_F(SbpDeductionTest, InPlaceInputsFollowShardedVariables) {
  const ValueId param = graph_.AddVariable("w", F32({4, 6}), two_, Nd("S(1)"), {});
  const ValueId momentum = graph_.AddVariable("w/momentum", F32({4, 6}), two_, Nd("S(1)"), {});
  const ValueId grad = graph_.AddInput("grad", F32({4, 6}), two_, Nd("B"));
  const ValueId learning_rate = graph_.AddInput("lr", F32({}), two_, {});
  const NodeId update = Op("sgd_update", "w/sgd_update", {param, grad, momentum, learning_rate}, two_);
  ASSERT_TRUE(Deduce().ok());
  EXPECT_EQ(graph_.node(update).input_sbps,
            (std::vector<NdSbp>{Nd("S(1)"), Nd("S(1)"), Nd("S(1)"), Nd("B")}));
}

TEST_F(SbpDeductionTest, InPlaceConflictIsAnError) {
  // param is split, its momentum whole: no signature updates both in place.
  const ValueId param = graph_.AddVariable("w", F32({4, 6}), two_, Nd("S(0)"), {});
  const ValueId momentum = graph_.AddVariable("w/momentum", F32({4, 6}), two_, {}, {});
  const ValueId grad = graph_.AddInput("grad", F32({4, 6}), two_, {});
  const ValueId learning_rate = graph_.AddInput("lr", F32({}), two_, {});
  Op("sgd_update", "w/sgd_update", {param, grad, momentum, learning_rate}, two_);
  const Status status = Deduce();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("'w/sgd_update' (sgd_update)"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("'momentum_buffer' (updated in place) as B"), std::string::npos)
      << status.message();
  EXPECT_NE(status.message().find("'param' (updated in place) as S(0)"), std::string::npos)
      << status.message();
}

TEST_F(SbpDeductionTest, InPlaceOnAnotherPlacementIsAnError) {
  const Placement other = Placement::Linear(DeviceType::kCPU, 4);
  const ValueId param = graph_.AddVariable("w", F32({4, 6}), two_, {}, {});
  const ValueId momentum = graph_.AddVariable("w/momentum", F32({4, 6}), other, {}, {});
  const ValueId grad = graph_.AddInput("grad", F32({4, 6}), other, {});
  const ValueId learning_rate = graph_.AddInput("lr", F32({}), other, {});
  Op("sgd_update", "w/sgd_update", {param, grad, momentum, learning_rate}, other);
  const Status status = Deduce();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("'param' is updated in place"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("'w' (variable)"), std::string::npos) << status.message();
}

TEST_F(SbpDeductionTest, BoxingNodesKeepTheirLayouts) {
  const ValueId x = graph_.AddInput("x", F32({8, 4}), two_, {});
  const NodeId boxing =
      graph_.AddNode(kBoxingOp, "x.boxing_0", {x}, AttrMap{{"kind", std::string("all_gather")}},
                     {F32({8, 4})}, two_, NodeRole::kForward);
  graph_.mutable_value(Out(boxing)).sbp = Nd("B");
  const NodeId relu = Op("relu", "relu", {Out(boxing)}, two_);
  ASSERT_TRUE(Deduce().ok());
  EXPECT_EQ(SbpOf(Out(boxing)), Nd("B"));
  EXPECT_EQ(graph_.node(boxing).input_sbps, (std::vector<NdSbp>{Nd("S(0)")}));
  EXPECT_EQ(graph_.node(relu).input_sbps, (std::vector<NdSbp>{Nd("B")}));
}

TEST(ChooseSbpCandidateTest, CostThenNoBoxingThenFewerPartialsThenListOrder) {
  auto make = [](double cost, bool boxing, int partials, int index) {
    SbpCandidate candidate;
    candidate.cost = cost;
    candidate.needs_boxing = boxing;
    candidate.partial_outputs = partials;
    candidate.list_index = index;
    return candidate;
  };
  EXPECT_EQ(ChooseSbpCandidate({make(5, false, 0, 0), make(3, true, 1, 1)}), 1u);
  EXPECT_EQ(ChooseSbpCandidate({make(0, true, 0, 0), make(0, false, 1, 1)}), 1u);
  EXPECT_EQ(ChooseSbpCandidate({make(0, true, 1, 0), make(0, true, 0, 1)}), 1u);
  EXPECT_EQ(ChooseSbpCandidate({make(0, true, 0, 2), make(0, true, 0, 1), make(0, true, 0, 3)}), 1u);
  // Rounding noise does not break ties.
  EXPECT_EQ(ChooseSbpCandidate({make(1e6 * (1 + 1e-13), false, 0, 0), make(1e6, true, 0, 1)}), 0u);
}

TEST_F(SbpDeductionTest, CandidatesHonourHintsAndAreCosted) {
  const ValueId x = graph_.AddInput("x", F32({8, 4}), two_, {});
  const ValueId w = graph_.AddVariable("w", F32({4, 6}), two_, {}, {});
  const NodeId mm = Op("matmul", "fc/matmul", {x, w}, two_);
  ASSERT_TRUE(Deduce().ok());
  StatusOr<std::vector<SbpCandidate>> all = LegalSbpCandidates(graph_, graph_.node(mm), ops());
  ASSERT_TRUE(all.ok()) << all.status().message();
  EXPECT_GE(all.value().size(), 4u);
  for (const SbpCandidate& candidate : all.value()) {
    bool boxing = false;
    EXPECT_DOUBLE_EQ(candidate.cost,
                     InputBoxingCost(graph_, graph_.node(mm), candidate.signature.inputs, &boxing));
    EXPECT_EQ(boxing, candidate.needs_boxing);
  }
  Hint(Out(mm), "P");
  StatusOr<std::vector<SbpCandidate>> partial = LegalSbpCandidates(graph_, graph_.node(mm), ops());
  ASSERT_TRUE(partial.ok()) << partial.status().message();
  ASSERT_FALSE(partial.value().empty());
  for (const SbpCandidate& candidate : partial.value()) EXPECT_EQ(candidate.signature.outputs[0], Nd("P"));
}

}  // namespace
}  // namespace ofl::compiler

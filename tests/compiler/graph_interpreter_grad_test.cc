// The GraphInterpreter the training-pass tests rely on: initialisers,
// feeds and their errors, boxing as identity, and in-place writers run
// after every reader of the step.
#include <gtest/gtest.h>

#include "tests/compiler/pass_grad_helpers.h"

namespace ofl::testing {
namespace {

using compiler::NodeRole;

TensorDesc F64(Shape shape) { return TensorDesc{std::move(shape), DType::kF64}; }

TEST(GraphInterpreterTest, InitialisesVariablesFromTheirAttributes) {
  Graph graph;
  graph.AddVariable("zeros", F64({2, 2}), OneCpu(), NdSbp{}, AttrMap{{"initializer", std::string("zeros")}});
  graph.AddVariable("ones", F64({3}), OneCpu(), NdSbp{}, AttrMap{{"initializer", std::string("ones")}});
  graph.AddVariable("constant", TensorDesc{Shape{2}, DType::kF32}, OneCpu(), NdSbp{},
                    AttrMap{{"initializer", std::string("constant")}, {"value", 2.5}});
  graph.AddVariable("counter", TensorDesc{Shape{}, DType::kI64}, OneCpu(), NdSbp{}, {});
  NormalVariable(graph, "normal", {64}, 7);
  std::map<std::string, HostTensor> variables;
  const StatusOr<ValueTensors> result = GraphInterpreter().Run(graph, {}, variables);
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(variables.at("zeros").ToDoubles(), std::vector<double>(4, 0.0));
  EXPECT_EQ(variables.at("ones").ToDoubles(), std::vector<double>(3, 1.0));
  EXPECT_EQ(variables.at("constant").ToDoubles(), std::vector<double>(2, 2.5));
  EXPECT_EQ(variables.at("constant").dtype(), DType::kF32);
  EXPECT_EQ(variables.at("counter").ToDoubles(), std::vector<double>(1, 0.0));
  // normal: the random_normal op's values (std 0.5, seed 7), not all equal.
  const StatusOr<std::vector<HostTensor>> expected =
      EagerExecutor(Ops(), DefaultRegistries().kernels)
          .Run("random_normal", {},
               {{"shape", Shape{64}}, {"dtype", DType::kF64}, {"std", 0.5}, {"seed", int64_t{7}}});
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(variables.at("normal").ToDoubles(), expected.value()[0].ToDoubles());
  EXPECT_NE(variables.at("normal").GetAsDouble(0), variables.at("normal").GetAsDouble(1));
  // A second run reads the map, it does not re-initialise.
  variables.at("ones").SetFromDouble(0, 9.0);
  ASSERT_TRUE(GraphInterpreter().Run(graph, {}, variables).ok());
  EXPECT_EQ(variables.at("ones").GetAsDouble(0), 9.0);
}

TEST(GraphInterpreterTest, FeedErrorsNameTheInput) {
  Graph graph;
  const ValueId x = graph.AddInput("x", F64({2}), OneCpu(), NdSbp{});
  graph.fetches().push_back({"y", Op(graph, "neg", "y", {x})[0]});
  std::map<std::string, HostTensor> variables;
  const StatusOr<ValueTensors> missing = GraphInterpreter().Run(graph, {}, variables);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("input 'x': expected a feed"), std::string::npos)
      << missing.status().message();
  const StatusOr<ValueTensors> wrong =
      GraphInterpreter().Run(graph, {{"x", HostTensor(F64({3}))}}, variables);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("expected a tensor f64[2], got f64[3]"), std::string::npos)
      << wrong.status().message();
  const StatusOr<ValueTensors> fine = GraphInterpreter().Run(
      graph, {{"x", HostTensor::FromVector<double>(Shape{2}, {1.5, -2.0})}}, variables);
  ASSERT_TRUE(fine.ok()) << fine.status().message();
  StatusOr<HostTensor> y = FetchedTensor(graph, fine.value(), "y");
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y.value().ToDoubles(), (std::vector<double>{-1.5, 2.0}));
  EXPECT_FALSE(FetchedTensor(graph, fine.value(), "z").ok());
}

// The writer is created before a reader of the same variable (and reads it
// through a boxing): it must still run after the reader, and write through
// to the variables map; the result shows the value the step read.
TEST(GraphInterpreterTest, WritersRunAfterEveryReaderAndWriteTheVariable) {
  Graph graph;
  const ValueId counter =
      graph.AddVariable("counter", TensorDesc{Shape{2}, DType::kI64}, OneCpu(), NdSbp{},
                        AttrMap{{"initializer", std::string("constant")}, {"value", 5.0}});
  const NodeId boxing = graph.AddNode(compiler::kBoxingOp, "counter.boxing", {counter}, {},
                                      {TensorDesc{Shape{2}, DType::kI64}}, OneCpu(), NodeRole::kForward);
  Op(graph, "increment", "advance", {graph.node(boxing).outputs[0]});
  const ValueId read = Op(graph, "scalar_mul", "read", {counter}, {{"scalar", 10.0}})[0];
  std::map<std::string, HostTensor> variables;
  GraphInterpreter interpreter;
  for (int step = 0; step < 2; ++step) {
    const StatusOr<ValueTensors> result = interpreter.Run(graph, {}, variables);
    ASSERT_TRUE(result.ok()) << result.status().message();
    EXPECT_EQ(result.value().at(read).ToDoubles(), std::vector<double>(2, 10.0 * (5 + step)));
    EXPECT_EQ(result.value().at(counter).ToDoubles(), std::vector<double>(2, 5.0 + step));
    EXPECT_EQ(variables.at("counter").ToDoubles(), std::vector<double>(2, 6.0 + step));
  }
}

}  // namespace
}  // namespace ofl::testing

// GraphBuilder: leaves, naming, scopes, placement, hints, fetches, Minimize,
// and every build-time mistake the issue lists, with its message asserted
// (it must name the user's tensor/op and say what was expected and found).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "api/api.h"
#include "ops/optimizer/clip.h"

namespace ofl::api {
namespace {

using ::testing::HasSubstr;

NdSbp Nd(const std::string& text) { return ParseNdSbp(text).ValueOrThrow(); }

int CountOps(const compiler::Graph& graph, const std::string& op) {
  int count = 0;
  for (compiler::NodeId id : graph.LiveNodes()) count += graph.node(id).op == op ? 1 : 0;
  return count;
}

TEST(GraphBuilder, InputAndVariableCarryShapeNameHintAndInitializer) {
  GraphBuilder builder(Placement::Linear(DeviceType::kCPU, 4));
  Tensor x = builder.Input("x", Shape{8, 4}, DType::kF32, std::nullopt, Nd("S(0)"));
  Tensor w = builder.Variable("w", Shape{4, 16}, Initializer::Normal(0.02));
  ASSERT_TRUE(builder.ok()) << builder.status().message();
  EXPECT_EQ(x.name(), "x");
  EXPECT_EQ(x.shape(), (Shape{8, 4}));
  EXPECT_EQ(x.dtype(), DType::kF32);
  ASSERT_TRUE(x.sbp_hint().has_value());
  EXPECT_EQ(NdSbpToString(*x.sbp_hint()), "S(0)");
  EXPECT_FALSE(w.sbp_hint().has_value());
  EXPECT_EQ(w.placement(), Placement::Linear(DeviceType::kCPU, 4));

  const compiler::Node& variable = builder.graph().producer(w.id());
  EXPECT_TRUE(variable.IsVariable());
  EXPECT_EQ(variable.attrs.GetString("initializer"), "normal");
  EXPECT_DOUBLE_EQ(variable.attrs.GetFloat("std"), 0.02);
  EXPECT_TRUE(variable.attrs.GetBool("trainable"));
  EXPECT_EQ(variable.attrs.GetInt("seed"), builder.DerivedSeed("w"));

  Tensor y = Matmul(x, w);
  ASSERT_TRUE(builder.ok()) << builder.status().message();
  EXPECT_EQ(y.shape(), (Shape{8, 16}));
  EXPECT_EQ(y.name(), "matmul");
  EXPECT_EQ(Relu(y).name(), "relu");
  EXPECT_EQ(Relu(y).name(), "relu_1");
}

TEST(GraphBuilder, VariableSeedsAreDeterministicAndDifferPerVariable) {
  GraphBuilder a(Placement(), {.seed = 1});
  GraphBuilder b(Placement(), {.seed = 1});
  GraphBuilder c(Placement(), {.seed = 2});
  auto seed_of = [](GraphBuilder& builder, const std::string& name) {
    Tensor v = builder.Variable(name, Shape{2}, Initializer::Uniform(-1, 1));
    return builder.graph().producer(v.id()).attrs.GetInt("seed");
  };
  // Creation order does not matter: b creates them the other way round.
  const int64_t a1 = seed_of(a, "fc1.weight");
  const int64_t a2 = seed_of(a, "fc2.weight");
  const int64_t b2 = seed_of(b, "fc2.weight");
  const int64_t b1 = seed_of(b, "fc1.weight");
  EXPECT_EQ(a1, b1);
  EXPECT_EQ(a2, b2);
  EXPECT_NE(a1, a2);
  EXPECT_NE(seed_of(c, "fc1.weight"), a1);
  EXPECT_GE(a1, 0);
  // An explicit seed wins.
  Initializer seeded = Initializer::Normal(1);
  seeded.seed = 42;
  Tensor v = a.Variable("seeded", Shape{2}, seeded);
  EXPECT_EQ(a.graph().producer(v.id()).attrs.GetInt("seed"), 42);
  // Non-random initializers carry no seed.
  Tensor z = a.Variable("zeros", Shape{2});
  EXPECT_FALSE(a.graph().producer(z.id()).attrs.Has("seed"));
}

TEST(GraphBuilder, ShapeMismatchNamesTheOpAndTheTensors) {
  GraphBuilder builder;
  Tensor x = builder.Input("x", Shape{8, 3});
  Tensor w = builder.Variable("fc.weight", Shape{4, 16});
  Tensor y;
  {
    Scope scope(builder, "fc");
    y = Matmul(x, w);
  }
  EXPECT_FALSE(y.valid());
  EXPECT_EQ(y.builder(), &builder);
  StatusOr<compiler::Graph> graph = builder.Build();
  ASSERT_FALSE(graph.ok());
  const std::string message = graph.status().message();
  EXPECT_THAT(message, HasSubstr("[api] op 'fc/matmul' (matmul)"));
  EXPECT_THAT(message, HasSubstr("'x' f32[8, 3]"));
  EXPECT_THAT(message, HasSubstr("'fc.weight' f32[4, 16]"));
  EXPECT_THAT(message, HasSubstr("[matmul]"));
  EXPECT_THAT(message, HasSubstr("3"));
  EXPECT_THAT(message, HasSubstr("4"));
}

TEST(GraphBuilder, FirstErrorIsKeptAndLaterCallsAddNothing) {
  GraphBuilder builder;
  Tensor x = builder.Input("x", Shape{8, 3});
  Tensor bad = Reshape(x, Shape{5, 5});
  ASSERT_FALSE(builder.ok());
  const std::string first = builder.status().message();
  EXPECT_THAT(first, HasSubstr("'reshape'"));
  const int64_t nodes = builder.graph().NumLiveNodes();

  Tensor after = Relu(bad) + x;
  Tensor input = builder.Input("y", Shape{2});
  builder.Fetch("out", x);
  EXPECT_FALSE(after.valid());
  EXPECT_FALSE(input.valid());
  EXPECT_EQ(builder.graph().NumLiveNodes(), nodes);
  EXPECT_TRUE(builder.graph().fetches().empty());
  EXPECT_EQ(builder.status().message(), first);
  EXPECT_EQ(builder.Build().status().message(), first);
  EXPECT_EQ(builder.Compile().status().message(), first);
  // Multi-output wrappers stay safe to unpack on an errored builder.
  LayerNormOutputs outputs = LayerNorm(x, x, x);
  EXPECT_FALSE(outputs.inv_std.valid());
}

TEST(GraphBuilder, SplitAxisOutOfRangeNamesTheTensor) {
  GraphBuilder builder(Placement::Linear(DeviceType::kCPU, 2));
  builder.Input("tokens", Shape{8, 4}, DType::kF32, std::nullopt, Nd("S(2)"));
  ASSERT_FALSE(builder.ok());
  EXPECT_THAT(builder.status().message(), HasSubstr("[api] input 'tokens'"));
  EXPECT_THAT(builder.status().message(), HasSubstr("split axis 2 is out of range"));
  EXPECT_THAT(builder.status().message(), HasSubstr("[8, 4]"));

  GraphBuilder hinted(Placement::Linear(DeviceType::kCPU, 2));
  Tensor x = hinted.Input("x", Shape{8, 4});
  Tensor h = Relu(x).WithSbp("S(3)");
  EXPECT_FALSE(h.valid());
  EXPECT_THAT(hinted.status().message(), HasSubstr("tensor 'relu' hint"));
  EXPECT_THAT(hinted.status().message(), HasSubstr("split axis 3"));

  GraphBuilder variable(Placement::Linear(DeviceType::kCPU, 2));
  variable.Variable("bias", Shape{16}, {}, std::nullopt, Nd("S(1)"));
  EXPECT_THAT(variable.status().message(), HasSubstr("variable 'bias'"));
  EXPECT_THAT(variable.status().message(), HasSubstr("split axis 1 is out of range"));
}

TEST(GraphBuilder, SbpThatDoesNotFitTheHierarchyNamesTheTensor) {
  GraphBuilder builder(Placement::Mesh(DeviceType::kCPU, Shape{2, 2}).ValueOrThrow());
  Tensor x = builder.Input("x", Shape{8, 4});
  x.WithSbp(Nd("S(0)"));
  ASSERT_FALSE(builder.ok());
  const std::string message = builder.status().message();
  EXPECT_THAT(message, HasSubstr("tensor 'x' hint"));
  EXPECT_THAT(message, HasSubstr("hierarchy [2, 2]"));
  EXPECT_THAT(message, HasSubstr("S(0)"));

  GraphBuilder ok_builder(Placement::Mesh(DeviceType::kCPU, Shape{2, 2}).ValueOrThrow());
  Tensor y = ok_builder.Input("y", Shape{8, 4}).WithSbp("(S(0), S(1))");
  ASSERT_TRUE(ok_builder.ok()) << ok_builder.status().message();
  EXPECT_EQ(NdSbpToString(*y.sbp_hint()), "(S(0), S(1))");
}

TEST(GraphBuilder, ConflictingHintsOnOneTensorAreAnError) {
  GraphBuilder builder(Placement::Linear(DeviceType::kCPU, 2));
  Tensor x = builder.Input("x", Shape{8, 4}, DType::kF32, std::nullopt, Nd("S(0)"));
  x.WithSbp("S(0)");  // the same hint again is fine
  ASSERT_TRUE(builder.ok());
  x.WithSbp("B");
  EXPECT_THAT(builder.status().message(),
              HasSubstr("tensor 'x' hint: the tensor already has the hint S(0), got B"));
}

TEST(GraphBuilder, BadSbpTextIsAnErrorNamingTheTensor) {
  GraphBuilder builder;
  Tensor x = builder.Input("x", Shape{8});
  x.WithSbp("Q(7)");
  EXPECT_THAT(builder.status().message(), HasSubstr("[api] tensor 'x'"));
}

TEST(GraphBuilder, ScopesPrefixNamesAndPlaceOps) {
  const Placement stage0 = Placement::Linear(DeviceType::kCPU, 2);
  const Placement stage1 =
      Placement::Create(DeviceType::kCPU,
                        {DeviceId{DeviceType::kCPU, 0, 2}, DeviceId{DeviceType::kCPU, 0, 3}}, Shape{2})
          .ValueOrThrow();
  GraphBuilder builder(stage0);
  Tensor x = builder.Input("x", Shape{8, 4});
  Tensor h;
  Tensor w;
  {
    Scope outer(builder, "stage1", {.placement = stage1, .variable_sbp = Nd("S(0)")});
    {
      Scope inner(builder, "block");
      EXPECT_EQ(builder.current_prefix(), "stage1/block");
      w = builder.Variable("w", Shape{4, 4});
      h = Matmul(x, w);
    }
    EXPECT_EQ(builder.current_prefix(), "stage1");
  }
  Tensor out = Relu(h);
  ASSERT_TRUE(builder.ok()) << builder.status().message();
  EXPECT_EQ(w.name(), "stage1/block/w");
  EXPECT_EQ(w.placement(), stage1);
  EXPECT_EQ(NdSbpToString(*w.sbp_hint()), "S(0)");  // the scope's variable layout
  EXPECT_EQ(h.name(), "stage1/block/matmul");
  EXPECT_EQ(h.placement(), stage1);  // x on stage0 is moved by the compiler
  EXPECT_EQ(out.name(), "relu");
  EXPECT_EQ(out.placement(), stage1);  // outside scopes: the inputs' placement
  EXPECT_EQ(builder.current_prefix(), "");
  EXPECT_EQ(builder.graph().FindNode("stage1/block/matmul"), builder.graph().producer(h.id()).id);
}

TEST(GraphBuilder, ScopesEndedOutOfOrderAreAnErrorNotACrash) {
  GraphBuilder builder;
  auto outer = std::make_unique<Scope>(builder, "outer");
  auto inner = std::make_unique<Scope>(builder, "inner");
  outer.reset();
  EXPECT_THAT(builder.status().message(), HasSubstr("scope 'outer'"));
  inner.reset();
  EXPECT_EQ(builder.current_prefix(), "");
}

TEST(GraphBuilder, CpuPlacementsMixButDeviceTypesNeedAnExplicitMove) {
  const Placement cpu = Placement::Linear(DeviceType::kCPU, 2);
  const Placement cuda = Placement::Linear(DeviceType::kCUDA, 2);
  const Placement other_cpu = Placement::Linear(DeviceType::kCPU, 4);
  {
    GraphBuilder builder(cpu);
    Tensor a = builder.Input("a", Shape{8});
    Tensor b = builder.Input("b", Shape{8}, DType::kF32, other_cpu);
    Tensor sum = a + b;
    ASSERT_TRUE(builder.ok()) << builder.status().message();
    EXPECT_EQ(sum.placement(), cpu);  // inputs disagree: the default placement
  }
  {
    GraphBuilder builder(cpu);
    Tensor a = builder.Input("a", Shape{8});
    Tensor g = builder.Input("g", Shape{8}, DType::kF32, cuda);
    Tensor sum = a + g;
    EXPECT_FALSE(sum.valid());
    const std::string message = builder.status().message();
    EXPECT_THAT(message, HasSubstr("op 'add' (add)"));
    EXPECT_THAT(message, HasSubstr("'a' f32[8] on cpu"));
    EXPECT_THAT(message, HasSubstr("'g' f32[8] on cuda"));
    EXPECT_THAT(message, HasSubstr("different device types (cpu and cuda)"));
  }
  {
    GraphBuilder builder(cpu);
    Tensor g = builder.Input("g", Shape{8}, DType::kF32, cuda);
    Scope scope(builder, "host", {.placement = cpu});
    Relu(g);
    EXPECT_THAT(builder.status().message(), HasSubstr("op 'host/relu' (relu) runs on cpu"));
    EXPECT_THAT(builder.status().message(), HasSubstr("reads 'g' f32[8] on cuda"));
  }
  {
    GraphBuilder builder(cpu);
    Tensor a = builder.Input("a", Shape{8});
    Tensor g = builder.Input("g", Shape{8}, DType::kF32, cuda);
    Tensor moved = g.To(cpu, Nd("S(0)"));
    Tensor sum = a + moved;
    ASSERT_TRUE(builder.ok()) << builder.status().message();
    EXPECT_EQ(moved.placement(), cpu);
    EXPECT_EQ(builder.graph().producer(moved.id()).op, "identity");
    EXPECT_EQ(NdSbpToString(*moved.sbp_hint()), "S(0)");
    EXPECT_EQ(sum.placement(), cpu);
  }
}

TEST(GraphBuilder, TensorsOfAnotherBuilderOrEmptyTensorsAreErrors) {
  GraphBuilder first;
  GraphBuilder second;
  Tensor a = first.Input("a", Shape{4});
  Tensor b = second.Input("b", Shape{4});
  Add(a, b);
  EXPECT_THAT(first.status().message(), HasSubstr("'b' belongs to another GraphBuilder"));

  GraphBuilder third;
  Tensor c = third.Input("c", Shape{4});
  third.Op1("add", {c, Tensor()});
  EXPECT_THAT(third.status().message(), HasSubstr("input 1 is an empty Tensor"));
}

TEST(GraphBuilder, DuplicateNamesAreErrors) {
  GraphBuilder inputs;
  inputs.Input("x", Shape{4});
  inputs.Input("x", Shape{4});
  EXPECT_THAT(inputs.status().message(), HasSubstr("input 'x': the name is already used by 'x' (input)"));

  GraphBuilder variables;
  variables.Variable("w", Shape{4});
  variables.Variable("w", Shape{4});
  EXPECT_THAT(variables.status().message(), HasSubstr("variable 'w': the name is already used"));

  GraphBuilder negative;
  negative.Input("x", Shape{4, -1});
  EXPECT_THAT(negative.status().message(),
              HasSubstr("input 'x': expected non-negative extents, got shape [4, -1]"));

  GraphBuilder init;
  init.Variable("u", Shape{4}, Initializer::Uniform(1, 1));
  EXPECT_THAT(init.status().message(), HasSubstr("variable 'u': initializer uniform: expected high > low"));
}

TEST(GraphBuilder, FetchesAreNamedAndUnique) {
  GraphBuilder builder;
  Tensor x = builder.Input("x", Shape{4});
  Tensor y = Relu(x);
  builder.Fetch("activation", y);
  ASSERT_TRUE(builder.ok());
  ASSERT_EQ(builder.graph().fetches().size(), 1u);
  EXPECT_EQ(builder.graph().fetches()[0].name, "activation");
  EXPECT_EQ(builder.graph().fetches()[0].value, y.id());
  builder.Fetch("activation", x);
  EXPECT_THAT(builder.status().message(), HasSubstr("fetch 'activation': the name already fetches 'relu'"));
}

TEST(GraphBuilder, MinimizeWritesTheOptimizerAndChecksTheLoss) {
  GraphBuilder builder;
  Tensor x = builder.Input("x", Shape{8, 4});
  Tensor w = builder.Variable("w", Shape{4, 2}, Initializer::Normal(0.1));
  Tensor loss = ReduceMean(Matmul(x, w));
  builder.Minimize(loss, Optimizer::AdamW(3e-4).WithClipNorm(1.0).WithWarmupCosine(10, 100, 1e-5));
  ASSERT_TRUE(builder.ok()) << builder.status().message();
  StatusOr<compiler::Graph> graph = builder.Build();
  ASSERT_TRUE(graph.ok());
  EXPECT_EQ(graph.value().loss(), loss.id());
  const AttrMap& attrs = graph.value().optimizer();
  EXPECT_EQ(attrs.GetString("kind"), "adamw");
  EXPECT_DOUBLE_EQ(attrs.GetFloat("learning_rate"), 3e-4);
  EXPECT_DOUBLE_EQ(attrs.GetFloat("weight_decay"), 0.01);
  EXPECT_DOUBLE_EQ(attrs.GetFloat("clip_norm"), 1.0);
  EXPECT_EQ(attrs.GetInt("warmup_steps"), 10);
  EXPECT_EQ(attrs.GetInt("decay_steps"), 100);
  EXPECT_DOUBLE_EQ(attrs.GetFloat("min_learning_rate"), 1e-5);

  builder.Minimize(loss, Optimizer::Sgd(0.1));
  EXPECT_THAT(builder.status().message(), HasSubstr("already minimises 'reduce_mean'"));
}

TEST(GraphBuilder, MinimizeRejectsANonScalarLossAndABadOptimizer) {
  GraphBuilder builder;
  Tensor x = builder.Input("x", Shape{8, 4});
  builder.Minimize(Relu(x), Optimizer::Sgd(0.1));
  EXPECT_THAT(
      builder.status().message(),
      HasSubstr("loss 'relu': expected a floating-point scalar [] (reduce it first, e.g. ReduceMean), got "
                "f32[8, 4]"));

  GraphBuilder other;
  Tensor y = other.Input("y", Shape{8});
  other.Minimize(ReduceSum(y), Optimizer::Adam(1e-3, /*beta1=*/1.0));
  EXPECT_THAT(other.status().message(), HasSubstr("[optimizer] beta1: expected a value in [0, 1), got 1"));
}

TEST(GraphBuilder, GenericOpReachesAnyOpAndNamesUnknownOnes) {
  GraphBuilder builder;
  Tensor x = builder.Input("x", Shape{4, 6});
  std::vector<Tensor> parts =
      builder.Op("split", {x}, {{"axis", int64_t{1}}, {"sizes", std::vector<int64_t>{2, 4}}});
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[1].shape(), (Shape{4, 4}));
  EXPECT_EQ(parts[1].name(), "split:1");
  builder.Op1("no_such_op", {x});
  EXPECT_THAT(builder.status().message(), HasSubstr("no_such_op"));
}

TEST(GraphBuilder, OperatorsEmitElementwiseOps) {
  GraphBuilder builder;
  Tensor a = builder.Input("a", Shape{4, 3});
  Tensor b = builder.Input("b", Shape{3});
  Tensor y = (a + b) * 2.0 - a / b;
  Tensor z = 1.0 - (-y);
  ASSERT_TRUE(builder.ok()) << builder.status().message();
  EXPECT_EQ(z.shape(), (Shape{4, 3}));
  const compiler::Graph& graph = builder.graph();
  EXPECT_EQ(CountOps(graph, "add"), 1);
  EXPECT_EQ(CountOps(graph, "scalar_mul"), 1);
  EXPECT_EQ(CountOps(graph, "div"), 1);
  EXPECT_EQ(CountOps(graph, "sub"), 1);
  EXPECT_EQ(CountOps(graph, "neg"), 2);
  EXPECT_EQ(CountOps(graph, "scalar_add"), 1);
}

TEST(GraphBuilder, CompositesEmitThroughTheCheckedEmitter) {
  GraphBuilder builder;
  Tensor g1 = builder.Input("g1", Shape{4, 3});
  Tensor g2 = builder.Input("g2", Shape{5});
  StatusOr<std::vector<ValueRef>> clipped =
      ClipByGlobalNorm(builder.emitter(), {ValueRef{g1.id()}, ValueRef{g2.id()}}, 1.0);
  ASSERT_TRUE(clipped.ok()) << clipped.status().message();
  ASSERT_EQ(clipped.value().size(), 2u);
  EXPECT_EQ(builder.FromRef(clipped.value()[1]).shape(), (Shape{5}));
  EXPECT_EQ(CountOps(builder.graph(), "clip_scale"), 1);
  // An op the emitter rejects is recorded like any other; what a composite
  // checks itself comes back only as its Status.
  StatusOr<std::vector<ValueRef>> bad = ClipByGlobalNorm(builder.emitter(), {ValueRef{g1.id()}}, -1.0);
  EXPECT_FALSE(bad.ok());
  EXPECT_TRUE(builder.ok());
  StatusOr<ValueRef> product = builder.emitter().Emit1("matmul", {ValueRef{g1.id()}, ValueRef{g2.id()}});
  EXPECT_FALSE(product.ok());
  EXPECT_FALSE(builder.ok());
  EXPECT_THAT(builder.status().message(),
              HasSubstr("op 'matmul' (matmul) reading 'g1' f32[4, 3], 'g2' f32[5]"));
}

}  // namespace
}  // namespace ofl::api

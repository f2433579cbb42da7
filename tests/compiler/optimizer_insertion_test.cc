// The optimizer_insertion pass: the structure it emits (one update per
// trainable variable, state variables, the step counter, roles), config
// errors, and three interpreted training steps of SGD with momentum, Adam
// with a warm-up + cosine schedule and AdamW with clipping against a
// hand-written reference update of a linear model with analytic gradients.
// Also the learning_rate_schedule op's values in a graph.
#include <gtest/gtest.h>

#include <numbers>

#include "tests/compiler/pass_grad_helpers.h"

namespace ofl::testing {
namespace {

using compiler::Node;
using compiler::NodeRole;

TensorDesc F64(Shape shape) { return TensorDesc{std::move(shape), DType::kF64}; }

// y = x w + b, loss = mean((y - t)^2); x [4, 3], t [4, 2].
struct LinearModel {
  Graph graph;
  ValueId w = -1;
  ValueId b = -1;
};

LinearModel BuildLinearModel(const AttrMap& optimizer, const Placement& placement = OneCpu(),
                             const NdSbp& weight_hint = {}) {
  LinearModel model;
  Graph& graph = model.graph;
  const ValueId x = graph.AddInput("x", F64({4, 3}), OneCpu(), NdSbp{});
  const ValueId t = graph.AddInput("t", F64({4, 2}), OneCpu(), NdSbp{});
  model.w =
      graph.AddVariable("w", F64({3, 2}), placement, weight_hint,
                        AttrMap{{"initializer", std::string("normal")}, {"std", 0.5}, {"seed", int64_t{21}}});
  model.b = graph.AddVariable("b", F64({2}), OneCpu(), NdSbp{},
                              AttrMap{{"initializer", std::string("constant")}, {"value", 0.25}});
  const ValueId y = Op(graph, "bias_add", "bias", {Op(graph, "matmul", "mm", {x, model.w})[0], model.b})[0];
  const ValueId loss = Op(graph, "mse_loss", "loss", {y, t})[0];
  graph.SetMinimize(loss, optimizer);
  return model;
}

Status RunTrainingPasses(Graph& graph) {
  std::vector<std::unique_ptr<compiler::Pass>> passes;
  passes.push_back(compiler::MakeShapeInferencePass());
  passes.push_back(compiler::MakeAutogradPass());
  passes.push_back(compiler::MakeOptimizerInsertionPass());
  return RunPassList(graph, std::move(passes));
}

// Plain row-major matrices for the reference.
using Matrix = std::vector<std::vector<double>>;

Matrix ToMatrix(const HostTensor& tensor) {
  const int64_t rows = tensor.shape().rank() == 2 ? tensor.shape()[0] : 1;
  const int64_t cols = tensor.shape()[tensor.shape().rank() - 1];
  Matrix m(rows, std::vector<double>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) m[r][c] = tensor.GetAsDouble(r * cols + c);
  }
  return m;
}

// The analytic gradients of the linear model's loss.
void LinearGradients(const Matrix& x, const Matrix& t, const Matrix& w, const std::vector<double>& b,
                     Matrix* dw, std::vector<double>* db) {
  const size_t n = x.size(), k = w.size(), m = b.size();
  *dw = Matrix(k, std::vector<double>(m, 0.0));
  *db = std::vector<double>(m, 0.0);
  for (size_t r = 0; r < n; ++r) {
    for (size_t c = 0; c < m; ++c) {
      double y = b[c];
      for (size_t i = 0; i < k; ++i) y += x[r][i] * w[i][c];
      const double dy = 2.0 * (y - t[r][c]) / static_cast<double>(n * m);
      (*db)[c] += dy;
      for (size_t i = 0; i < k; ++i) (*dw)[i][c] += x[r][i] * dy;
    }
  }
}

// One parameter of the reference optimizer, flattened.
struct ReferenceParam {
  std::vector<double> value, state1, state2;
};

std::vector<double> Flatten(const Matrix& m) {
  std::vector<double> flat;
  for (const auto& row : m) flat.insert(flat.end(), row.begin(), row.end());
  return flat;
}

// The reference: the PyTorch update rules written out.
struct ReferenceConfig {
  std::string kind;
  double momentum = 0, beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8, weight_decay = 0, clip_norm = 0;
};

void ReferenceStep(const ReferenceConfig& config, double lr, int64_t step, std::vector<double> grad,
                   ReferenceParam& p) {
  for (size_t i = 0; i < grad.size(); ++i) {
    if (config.kind == "sgd") {
      const double g = grad[i] + config.weight_decay * p.value[i];
      p.state1[i] = config.momentum * p.state1[i] + g;
      p.value[i] -= lr * p.state1[i];
      continue;
    }
    double g = grad[i];
    if (config.kind == "adamw") {
      p.value[i] *= 1 - lr * config.weight_decay;
    } else {
      g += config.weight_decay * p.value[i];
    }
    p.state1[i] = config.beta1 * p.state1[i] + (1 - config.beta1) * g;
    p.state2[i] = config.beta2 * p.state2[i] + (1 - config.beta2) * g * g;
    const double m_hat = p.state1[i] / (1 - std::pow(config.beta1, static_cast<double>(step)));
    const double v_hat = p.state2[i] / (1 - std::pow(config.beta2, static_cast<double>(step)));
    p.value[i] -= lr * m_hat / (std::sqrt(v_hat) + config.epsilon);
  }
}

void ExpectAllNear(const HostTensor& actual, const std::vector<double>& expected, const std::string& what) {
  ASSERT_EQ(actual.NumElements(), static_cast<int64_t>(expected.size())) << what;
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(actual.GetAsDouble(static_cast<int64_t>(i)), expected[i],
                1e-12 * std::max(1.0, std::abs(expected[i])))
        << what << "[" << i << "]";
  }
}

// Runs three steps of `optimizer` on the linear model and compares every
// parameter and state after each step with the reference; `rates` are the
// learning rates of steps 1..3 written out by hand.
void CheckThreeSteps(const AttrMap& optimizer, const ReferenceConfig& config,
                     const std::vector<double>& rates, bool expect_clipping = false) {
  LinearModel model = BuildLinearModel(optimizer);
  const Status status = RunTrainingPasses(model.graph);
  ASSERT_TRUE(status.ok()) << status.message();
  const Graph& graph = model.graph;

  std::map<std::string, HostTensor> variables;
  GraphInterpreter interpreter;
  ReferenceParam w, b;
  bool clipped = false;
  for (int64_t step = 1; step <= 3; ++step) {
    const std::map<std::string, HostTensor> feeds = {{"x", RandomTensor(F64({4, 3}), 100 + step)},
                                                     {"t", RandomTensor(F64({4, 2}), 200 + step)}};
    if (step == 1) {
      // The reference starts from the interpreter's initial values.
      StatusOr<HostTensor> w0 = interpreter.InitialValue(graph.producer(model.w), graph.value(model.w).desc);
      StatusOr<HostTensor> b0 = interpreter.InitialValue(graph.producer(model.b), graph.value(model.b).desc);
      ASSERT_TRUE(w0.ok() && b0.ok());
      w.value = w0.value().ToDoubles();
      b.value = b0.value().ToDoubles();
      EXPECT_EQ(b.value, std::vector<double>(2, 0.25));
      for (ReferenceParam* p : {&w, &b}) {
        p->state1.assign(p->value.size(), 0.0);
        p->state2.assign(p->value.size(), 0.0);
      }
    }
    StatusOr<ValueTensors> result = interpreter.Run(graph, feeds, variables);
    ASSERT_TRUE(result.ok()) << result.status().message();

    Matrix dw;
    std::vector<double> db;
    const Matrix w_matrix = [&] {
      Matrix m(3, std::vector<double>(2));
      for (int i = 0; i < 6; ++i) m[i / 2][i % 2] = w.value[i];
      return m;
    }();
    LinearGradients(ToMatrix(feeds.at("x")), ToMatrix(feeds.at("t")), w_matrix, b.value, &dw, &db);
    std::vector<double> gw = Flatten(dw), gb = db;
    // The raw gradients the graph computed agree with the analytic ones.
    ExpectAllNear(result.value().at(graph.gradients().at(model.w)), gw, "gradient of w");
    ExpectAllNear(result.value().at(graph.gradients().at(model.b)), gb, "gradient of b");
    if (config.clip_norm > 0) {
      double sum = 0;
      for (double g : gw) sum += g * g;
      for (double g : gb) sum += g * g;
      const double scale = std::min(1.0, config.clip_norm / (std::sqrt(sum) + 1e-6));
      clipped = clipped || scale < 1.0;
      for (double& g : gw) g *= scale;
      for (double& g : gb) g *= scale;
    }
    ReferenceStep(config, rates[step - 1], step, gw, w);
    ReferenceStep(config, rates[step - 1], step, gb, b);

    const std::string tag = " after step " + std::to_string(step);
    ExpectAllNear(variables.at("w"), w.value, "w" + tag);
    ExpectAllNear(variables.at("b"), b.value, "b" + tag);
    if (config.kind == "sgd") {
      ExpectAllNear(variables.at("w.momentum"), w.state1, "w.momentum" + tag);
    } else {
      ExpectAllNear(variables.at("w.adam_m"), w.state1, "w.adam_m" + tag);
      ExpectAllNear(variables.at("b.adam_v"), b.state2, "b.adam_v" + tag);
    }
    EXPECT_EQ(variables.at("optimizer.step").GetAsDouble(0), static_cast<double>(step)) << tag;
  }
  EXPECT_EQ(clipped, expect_clipping)
      << "the test's clip_norm should " << (expect_clipping ? "" : "not ") << "clip";
}

TEST(OptimizerInsertionTest, SgdMomentumThreeStepsMatchReference) {
  CheckThreeSteps(
      {{"kind", std::string("sgd")}, {"learning_rate", 0.1}, {"momentum", 0.9}, {"weight_decay", 0.01}},
      ReferenceConfig{.kind = "sgd", .momentum = 0.9, .weight_decay = 0.01}, {0.1, 0.1, 0.1});
}

TEST(OptimizerInsertionTest, AdamWithWarmupCosineThreeStepsMatchReference) {
  // warm-up 2, cosine over 4 from 0.1 to 0.02: step 1: 0.05, 2: 0.1,
  // 3: 0.02 + 0.08 (1 + cos(pi / 4)) / 2.
  const double third = 0.02 + 0.08 * (1 + std::cos(std::numbers::pi / 4)) / 2;
  CheckThreeSteps({{"kind", std::string("adam")},
                   {"learning_rate", 0.1},
                   {"beta1", 0.8},
                   {"beta2", 0.95},
                   {"weight_decay", 0.05},
                   {"warmup_steps", int64_t{2}},
                   {"decay_steps", int64_t{4}},
                   {"min_learning_rate", 0.02}},
                  ReferenceConfig{.kind = "adam", .beta1 = 0.8, .beta2 = 0.95, .weight_decay = 0.05},
                  {0.05, 0.1, third});
}

TEST(OptimizerInsertionTest, AdamWWithClippingThreeStepsMatchReference) {
  CheckThreeSteps({{"kind", std::string("adamw")},
                   {"learning_rate", 0.01},
                   {"weight_decay", 0.1},
                   {"epsilon", 1e-6},
                   {"clip_norm", 0.05}},
                  ReferenceConfig{.kind = "adamw", .epsilon = 1e-6, .weight_decay = 0.1, .clip_norm = 0.05},
                  {0.01, 0.01, 0.01}, /*expect_clipping=*/true);
}

TEST(OptimizerInsertionTest, EmitsOneUpdatePerVariableWithStateBesideIt) {
  const Placement two = Placement::Linear(DeviceType::kCPU, 2);
  LinearModel model =
      BuildLinearModel({{"kind", std::string("adam")}, {"learning_rate", 0.01}}, two, NdSbp{Sbp::Split(1)});
  const int64_t before = model.graph.num_node_slots();
  const Status status = RunTrainingPasses(model.graph);
  ASSERT_TRUE(status.ok()) << status.message();
  const Graph& graph = model.graph;

  const std::vector<NodeId> updates = NodesOf(graph, "adam_update");
  ASSERT_EQ(updates.size(), 2u);
  EXPECT_TRUE(NodesOf(graph, "sgd_update").empty());
  const Node& w_update =
      graph.node(updates[0]).inputs[0] == model.w ? graph.node(updates[0]) : graph.node(updates[1]);
  ASSERT_EQ(w_update.inputs[0], model.w);
  EXPECT_EQ(w_update.inputs[1], graph.gradients().at(model.w));
  EXPECT_EQ(w_update.placement, two);
  EXPECT_FALSE(w_update.attrs.GetBool("decoupled_weight_decay"));
  for (const std::string& state : {"w.adam_m", "w.adam_v"}) {
    const NodeId id = graph.FindNode(state);
    ASSERT_GE(id, 0) << state;
    const Node& node = graph.node(id);
    EXPECT_TRUE(node.IsVariable());
    EXPECT_FALSE(node.attrs.GetBool("trainable")) << state;
    EXPECT_EQ(node.attrs.GetString("initializer"), "zeros") << state;
    EXPECT_EQ(node.placement, two) << state;
    ASSERT_TRUE(graph.value(node.outputs[0]).sbp_hint.has_value()) << state;
    EXPECT_EQ(*graph.value(node.outputs[0]).sbp_hint, NdSbp{Sbp::Split(1)}) << state;
  }
  EXPECT_EQ(w_update.inputs[2], graph.node(graph.FindNode("w.adam_m")).outputs[0]);
  EXPECT_EQ(w_update.inputs[3], graph.node(graph.FindNode("w.adam_v")).outputs[0]);
  EXPECT_GE(graph.FindNode("b.adam_m"), 0);
  EXPECT_FALSE(graph.value(graph.node(graph.FindNode("b.adam_m")).outputs[0]).sbp_hint.has_value());

  // The step: a counter on the first variable's placement, read as step + 1
  // by the update, and advanced by the last node added.
  const NodeId step = graph.FindNode("optimizer.step");
  ASSERT_GE(step, 0);
  EXPECT_EQ(graph.value(graph.node(step).outputs[0]).desc, (TensorDesc{Shape{}, DType::kI64}));
  EXPECT_EQ(graph.node(step).placement, two);
  const Node& step1 = graph.producer(w_update.inputs[5]);
  EXPECT_EQ(step1.op, "scalar_add");
  EXPECT_EQ(step1.inputs[0], graph.node(step).outputs[0]);
  const Node& last = graph.node(graph.num_node_slots() - 1);
  EXPECT_EQ(last.op, "increment");
  EXPECT_EQ(last.inputs[0], graph.node(step).outputs[0]);
  // No schedule keys: a constant learning rate.
  const Node& rate = graph.producer(w_update.inputs[4]);
  EXPECT_EQ(rate.op, "fill");
  EXPECT_EQ(rate.attrs.GetFloat("value"), 0.01);
  EXPECT_TRUE(NodesOf(graph, "learning_rate_schedule").empty());

  for (NodeId id = before; id < graph.num_node_slots(); ++id) {
    if (graph.node(id).role != NodeRole::kOptimizer) {
      // Everything else the passes added is autograd's.
      EXPECT_EQ(graph.node(id).role, NodeRole::kBackward) << compiler::Describe(graph.node(id));
      EXPECT_NE(graph.node(id).name.find(".grad/"), std::string::npos) << compiler::Describe(graph.node(id));
    }
  }
  int optimizer_nodes = 0;
  for (NodeId id : graph.LiveNodes()) optimizer_nodes += graph.node(id).role == NodeRole::kOptimizer ? 1 : 0;
  // step, step1, lr, 4 state variables, 2 updates, increment.
  EXPECT_EQ(optimizer_nodes, 10);
}

TEST(OptimizerInsertionTest, SgdGetsMomentumBuffersAndAdamWDecouples) {
  LinearModel sgd = BuildLinearModel({{"kind", std::string("sgd")}, {"learning_rate", 0.1}});
  ASSERT_TRUE(RunTrainingPasses(sgd.graph).ok());
  EXPECT_EQ(NodesOf(sgd.graph, "sgd_update").size(), 2u);
  EXPECT_GE(sgd.graph.FindNode("w.momentum"), 0);
  EXPECT_GE(sgd.graph.FindNode("b.momentum"), 0);
  EXPECT_LT(sgd.graph.FindNode("w.adam_m"), 0);

  LinearModel adamw = BuildLinearModel({{"kind", std::string("adamw")}, {"warmup_steps", int64_t{10}}});
  ASSERT_TRUE(RunTrainingPasses(adamw.graph).ok());
  const std::vector<NodeId> updates = NodesOf(adamw.graph, "adam_update");
  ASSERT_EQ(updates.size(), 2u);
  EXPECT_TRUE(adamw.graph.node(updates[0]).attrs.GetBool("decoupled_weight_decay"));
  // One schedule for the one parameter dtype, with the defaults filled in.
  const std::vector<NodeId> schedules = NodesOf(adamw.graph, "learning_rate_schedule");
  ASSERT_EQ(schedules.size(), 1u);
  EXPECT_EQ(adamw.graph.node(schedules[0]).attrs.GetFloat("learning_rate"), 0.001);
  EXPECT_EQ(adamw.graph.node(schedules[0]).attrs.GetInt("warmup_steps"), 10);
  EXPECT_EQ(adamw.graph.node(schedules[0]).attrs.GetDType("dtype"), DType::kF64);
}

TEST(OptimizerInsertionTest, RunsOnce) {
  LinearModel model = BuildLinearModel({{"kind", std::string("sgd")}});
  ASSERT_TRUE(RunTrainingPasses(model.graph).ok());
  const int64_t nodes = model.graph.NumLiveNodes();
  ASSERT_TRUE(RunTrainingPasses(model.graph).ok());
  EXPECT_EQ(model.graph.NumLiveNodes(), nodes);
}

void ExpectConfigError(const AttrMap& optimizer, const std::string& expected) {
  LinearModel model = BuildLinearModel(optimizer);
  const Status status = RunTrainingPasses(model.graph);
  ASSERT_FALSE(status.ok()) << "expected an error containing '" << expected << "'";
  EXPECT_EQ(status.message().rfind("[optimizer_insertion]", 0), 0u) << status.message();
  EXPECT_NE(status.message().find(expected), std::string::npos) << status.message();
}

TEST(OptimizerInsertionTest, BadConfigurationsNameTheKey) {
  ExpectConfigError({{"kind", std::string("rmsprop")}},
                    "optimizer kind: expected sgd|adam|adamw, got 'rmsprop'");
  ExpectConfigError({{"kind", int64_t{3}}}, "optimizer kind: expected a string");
  ExpectConfigError({{"learning_rate", -0.1}},
                    "optimizer learning_rate: expected a value in (0, inf), got -0.1");
  ExpectConfigError({{"lr", 0.1}}, "got unknown key 'lr'");
  ExpectConfigError({{"kind", std::string("adam")}, {"beta1", 1.0}},
                    "optimizer beta1: expected a value in [0, 1)");
  ExpectConfigError({{"warmup_steps", 2.5}}, "optimizer warmup_steps: expected an integer >= 0");
  ExpectConfigError({{"learning_rate", 0.1}, {"min_learning_rate", 0.2}},
                    "optimizer min_learning_rate: expected a value in [0, 0.1]");
  ExpectConfigError({{"clip_norm", std::string("big")}},
                    "optimizer clip_norm: expected a number, got string");
}

// learning_rate_schedule in a graph, interpreted at several steps.
TEST(ScheduleOpTest, ValuesAtSeveralSteps) {
  Graph graph;
  const ValueId step = graph.AddInput("step", TensorDesc{Shape{}, DType::kI64}, OneCpu(), NdSbp{});
  const ValueId rate = Op(graph, "learning_rate_schedule", "lr", {step},
                          {{"learning_rate", 1.0},
                           {"warmup_steps", int64_t{2}},
                           {"decay_steps", int64_t{4}},
                           {"min_learning_rate", 0.0},
                           {"dtype", DType::kF64}})[0];
  graph.fetches().push_back({"lr", rate});
  // t = 1, 2: warm-up; 3..5: 0.5 (1 + cos(pi (t - 2) / 4)); 6 on: 0.
  const std::map<int64_t, double> expected = {
      {1, 0.5}, {2, 1.0}, {3, 0.8535533905932737}, {4, 0.5}, {5, 0.14644660940672627}, {6, 0.0}, {50, 0.0}};
  GraphInterpreter interpreter;
  for (const auto& [t, value] : expected) {
    std::map<std::string, HostTensor> variables;
    StatusOr<ValueTensors> result =
        interpreter.Run(graph, {{"step", HostTensor::FromVector<int64_t>(Shape{}, {t})}}, variables);
    ASSERT_TRUE(result.ok()) << result.status().message();
    StatusOr<HostTensor> fetched = FetchedTensor(graph, result.value(), "lr");
    ASSERT_TRUE(fetched.ok()) << fetched.status().message();
    EXPECT_NEAR(fetched.value().GetAsDouble(0), value, 1e-15) << "step " << t;
  }
  std::map<std::string, HostTensor> variables;
  StatusOr<ValueTensors> zero =
      interpreter.Run(graph, {{"step", HostTensor::FromVector<int64_t>(Shape{}, {0})}}, variables);
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.status().message().find("step: expected a 1-based step >= 1, got 0"), std::string::npos)
      << zero.status().message();
}

// The schedule inserted by the pass sees steps 1, 2, 3 on three runs.
TEST(ScheduleOpTest, InsertedScheduleAdvancesWithTheStep) {
  LinearModel model =
      BuildLinearModel({{"kind", std::string("sgd")}, {"learning_rate", 0.3}, {"warmup_steps", int64_t{3}}});
  ASSERT_TRUE(RunTrainingPasses(model.graph).ok());
  const std::vector<NodeId> schedules = NodesOf(model.graph, "learning_rate_schedule");
  ASSERT_EQ(schedules.size(), 1u);
  const ValueId rate = model.graph.node(schedules[0]).outputs[0];
  std::map<std::string, HostTensor> variables;
  GraphInterpreter interpreter;
  for (int step = 1; step <= 4; ++step) {
    StatusOr<ValueTensors> result = interpreter.Run(
        model.graph, {{"x", RandomTensor(F64({4, 3}), 1)}, {"t", RandomTensor(F64({4, 2}), 2)}}, variables);
    ASSERT_TRUE(result.ok()) << result.status().message();
    EXPECT_NEAR(result.value().at(rate).GetAsDouble(0), 0.1 * std::min(step, 3), 1e-15) << "step " << step;
  }
}

}  // namespace
}  // namespace ofl::testing

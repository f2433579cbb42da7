// Session end to end: an MLP trained with Adam on 1 device, data parallel on
// 2 and 4 devices and Megatron tensor parallel on 2 devices gives the same
// losses and weights; the same layout run twice is bitwise identical.
#include "api/session.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "api/nn.h"
#include "api/ops.h"
#include "api/optimizer.h"
#include "tests/testing/graph_interpreter.h"

namespace ofl::testing {
namespace {

using api::GraphBuilder;
using api::Session;
using api::Tensor;

constexpr int kSteps = 20;

enum class Layout { kSingle, kData2, kData4, kTensor2 };

std::string LayoutName(Layout layout) {
  switch (layout) {
    case Layout::kSingle:
      return "1 device";
    case Layout::kData2:
      return "data parallel x2";
    case Layout::kData4:
      return "data parallel x4";
    case Layout::kTensor2:
      return "tensor parallel x2";
  }
  return "?";
}

// x [16, 8] -> 32 -> relu -> 4, sparse softmax cross entropy, Adam.
std::unique_ptr<Session> MlpSession(Layout layout) {
  const int devices = layout == Layout::kSingle ? 1 : layout == Layout::kData4 ? 4 : 2;
  GraphBuilder builder(Placement::Linear(DeviceType::kCPU, devices), {.seed = 3});
  Tensor x = builder.Input("x", Shape{16, 8});
  Tensor labels = builder.Input("labels", Shape{16}, DType::kI64);
  if (layout == Layout::kData2 || layout == Layout::kData4) {
    x = x.WithSbp("S(0)");
    labels = labels.WithSbp("S(0)");
  }
  Tensor logits = api::nn::Mlp(x, {32, 4}, "mlp", {.tensor_parallel = layout == Layout::kTensor2});
  Tensor loss = api::SparseSoftmaxCrossEntropy(logits, labels).loss;
  builder.Fetch("loss", loss);
  builder.Minimize(loss, api::Optimizer::Adam(0.01));
  EXPECT_TRUE(builder.ok()) << builder.status().message();
  StatusOr<std::unique_ptr<Session>> session = Session::Create(builder);
  EXPECT_TRUE(session.ok()) << LayoutName(layout) << ": " << session.status().message();
  return session.ok() ? std::move(session).value() : nullptr;
}

// Fixed feeds: the same batch every step, so the loss must fall.
StatusOr<runtime::TensorMap> Batch(int64_t /*step*/) {
  HostTensor x(TensorDesc{Shape{16, 8}, DType::kF32});
  HostTensor labels(TensorDesc{Shape{16}, DType::kI64});
  for (int64_t i = 0; i < 16 * 8; ++i) x.data<float>()[i] = static_cast<float>(std::sin(0.37 * i));
  for (int64_t i = 0; i < 16; ++i) labels.data<int64_t>()[i] = (i * 7) % 4;
  return runtime::TensorMap{{"x", x}, {"labels", labels}};
}

struct Trained {
  std::vector<double> losses;
  std::map<std::string, std::vector<double>> variables;
};

Trained Train(Layout layout) {
  Trained trained;
  std::unique_ptr<Session> session = MlpSession(layout);
  if (session == nullptr) return trained;
  // The parallel layouts really are parallel: gradients (data parallel) or
  // activations (tensor parallel) meet in collectives, and tensor parallel
  // splits fc0's weight into two different pieces.
  const Plan& plan = session->compiled().plan;
  const bool collectives = std::any_of(plan.actors.begin(), plan.actors.end(), [](const Actor& actor) {
    return actor.kind == ActorKind::kCollective;
  });
  EXPECT_EQ(collectives, layout != Layout::kSingle);
  for (const VariableDesc& variable : plan.variables) {
    if (variable.name != "mlp/fc0.weight") continue;
    EXPECT_EQ(variable.pieces.size(), layout == Layout::kSingle ? 1u : layout == Layout::kData4 ? 4u : 2u);
    EXPECT_EQ(variable.pieces.front().region == variable.pieces.back().region, layout != Layout::kTensor2);
  }
  StatusOr<std::vector<runtime::TensorMap>> fetched = session->Run(kSteps, Batch);
  EXPECT_TRUE(fetched.ok()) << LayoutName(layout) << ": " << fetched.status().message();
  if (!fetched.ok()) return trained;
  for (const runtime::TensorMap& step : fetched.value())
    trained.losses.push_back(step.at("loss").GetAsDouble(0));
  for (const std::string& name : session->runtime().VariableNames()) {
    StatusOr<HostTensor> value = session->ReadVariable(name);
    EXPECT_TRUE(value.ok()) << value.status().message();
    if (value.ok()) trained.variables[name] = value.value().ToDoubles();
  }
  return trained;
}

// |a - b| <= 1e-5 relative to the largest magnitude of the expected tensor
// (elements near zero are compared at the tensor's scale).
void ExpectClose(const std::vector<double>& actual, const std::vector<double>& expected,
                 const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  double scale = 0;
  for (double value : expected) scale = std::max(scale, std::abs(value));
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_LE(std::abs(actual[i] - expected[i]), 1e-5 * std::max(scale, 1e-3))
        << what << " element " << i << ": " << actual[i] << " vs " << expected[i];
  }
}

TEST(SessionTest, SingleDeviceTrainingLowersTheLoss) {
  const Trained single = Train(Layout::kSingle);
  ASSERT_EQ(single.losses.size(), static_cast<size_t>(kSteps));
  EXPECT_LT(single.losses.back(), 0.8 * single.losses.front());
  std::string trajectory;
  for (double loss : single.losses) trajectory += std::to_string(loss) + " ";
  std::printf("losses: %s\n", trajectory.c_str());
  EXPECT_EQ(single.variables.at("optimizer.step"), std::vector<double>{kSteps});
  EXPECT_TRUE(single.variables.count("mlp/fc0.weight"));
  EXPECT_TRUE(single.variables.count("mlp/fc1.weight.adam_m"));
}

TEST(SessionTest, LayoutsMatchTheSingleDeviceRun) {
  const Trained single = Train(Layout::kSingle);
  ASSERT_EQ(single.losses.size(), static_cast<size_t>(kSteps));
  for (Layout layout : {Layout::kData2, Layout::kData4, Layout::kTensor2}) {
    SCOPED_TRACE(LayoutName(layout));
    const Trained other = Train(layout);
    ExpectClose(other.losses, single.losses, "losses");
    ASSERT_EQ(other.variables.size(), single.variables.size());
    for (const auto& [name, value] : single.variables) {
      ASSERT_TRUE(other.variables.count(name)) << name;
      ExpectClose(other.variables.at(name), value, name);
    }
  }
}

// The runtime's single-device run against the whole-tensor interpreter on
// the compiled logical graph (same kernels, no actors).
TEST(SessionTest, SingleDeviceMatchesTheGraphInterpreter) {
  const Trained single = Train(Layout::kSingle);
  ASSERT_EQ(single.losses.size(), static_cast<size_t>(kSteps));
  std::unique_ptr<Session> session = MlpSession(Layout::kSingle);
  ASSERT_NE(session, nullptr);
  const compiler::Graph& graph = session->compiled().graph;
  GraphInterpreter interpreter;
  std::map<std::string, HostTensor> variables;
  std::vector<double> losses;
  for (int step = 0; step < kSteps; ++step) {
    StatusOr<ValueTensors> result = interpreter.Run(graph, Batch(step).value(), variables);
    ASSERT_TRUE(result.ok()) << result.status().message();
    StatusOr<HostTensor> loss = FetchedTensor(graph, result.value(), "loss");
    ASSERT_TRUE(loss.ok()) << loss.status().message();
    losses.push_back(loss.value().GetAsDouble(0));
  }
  ExpectClose(losses, single.losses, "losses");
  for (const auto& [name, value] : single.variables) {
    ASSERT_TRUE(variables.count(name)) << name;
    ExpectClose(variables.at(name).ToDoubles(), value, name);
  }
}

TEST(SessionTest, SameLayoutTwiceIsBitwiseIdentical) {
  for (Layout layout : {Layout::kData2, Layout::kTensor2}) {
    SCOPED_TRACE(LayoutName(layout));
    const Trained first = Train(layout);
    const Trained second = Train(layout);
    ASSERT_EQ(first.losses.size(), static_cast<size_t>(kSteps));
    EXPECT_EQ(first.losses, second.losses);
    EXPECT_EQ(first.variables, second.variables);
  }
}

TEST(SessionTest, StepByStepRunsAndVariableWrites) {
  std::unique_ptr<Session> session = MlpSession(Layout::kData2);
  ASSERT_NE(session, nullptr);
  StatusOr<runtime::TensorMap> feeds = Batch(0);
  StatusOr<runtime::TensorMap> first = session->Run(feeds.value());
  ASSERT_TRUE(first.ok()) << first.status().message();
  // A written variable is what the next step computes with.
  StatusOr<HostTensor> weight = session->ReadVariable("mlp/fc0.weight");
  ASSERT_TRUE(weight.ok());
  HostTensor zeros(weight.value().desc());
  ASSERT_TRUE(session->WriteVariable("mlp/fc0.weight", zeros).ok());
  EXPECT_EQ(session->ReadVariable("mlp/fc0.weight").value().ToDoubles(), zeros.ToDoubles());
  StatusOr<runtime::TensorMap> second = session->Run(feeds.value());
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_NE(second.value().at("loss").GetAsDouble(0), first.value().at("loss").GetAsDouble(0));
  // Errors: a bad feed names the feed and the input actor; a bad write names
  // the variable.
  runtime::TensorMap bad = feeds.value();
  bad["x"] = HostTensor(TensorDesc{Shape{16, 9}, DType::kF32});
  StatusOr<runtime::TensorMap> failed = session->Run(bad);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("feed 'x': expected f32[16, 8], got f32[16, 9]"),
            std::string::npos)
      << failed.status().message();
  Status write = session->WriteVariable("mlp/fc0.weight", HostTensor(TensorDesc{Shape{2}, DType::kF32}));
  EXPECT_FALSE(write.ok());
  EXPECT_NE(write.message().find("mlp/fc0.weight"), std::string::npos) << write.message();
}

}  // namespace
}  // namespace ofl::testing

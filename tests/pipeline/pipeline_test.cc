// Gradient accumulation and pipeline parallelism (issue 6), end to end
// through api::Session:
//   - equivalence: an MLP (4 linear layers) and a small transformer
//     (embedding, 2 blocks, head) trained 20 steps with S = 2, 4 stages and M = 1, S, 2S, 8
//     micro-batches (M < S included), with accumulation alone (1 stage,
//     M = 4), with 2 stages x [2, 2] meshes (pipeline x data x tensor on 8
//     devices) and with a skip connection across three stages, match the
//     1-device full-batch run (losses and every variable, relative 1e-5);
//   - the plan: actors inside the micro-batch region act M times per step,
//     gradients are accumulated once per step, stage s keeps S - s copies of
//     its activations (max_in_flight overrides), stage-crossing registers
//     get distance + 1;
//   - bounded memory: on the act trace, the micro-batches whose activations
//     are alive at once on stage s never exceed the configured bound;
//   - stage mistakes give errors naming the ops and stages.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "api/nn.h"
#include "api/ops.h"
#include "api/optimizer.h"
#include "api/session.h"
#include "runtime/trace_summary.h"
#include "tests/testing/training_fixtures.h"

namespace ofl::testing {
namespace {

using api::GraphBuilder;
using api::Session;
using api::Tensor;

constexpr int kSteps = 20;
constexpr int64_t kMlpIn = 8;
constexpr int64_t kMlpClasses = 4;
constexpr int64_t kMlpBatch = 16;
constexpr int kLayers = 4;
constexpr int64_t kTime = 6;
constexpr int64_t kVocab = 11;
constexpr int64_t kWidth = 16;
constexpr int64_t kHeads = 4;
constexpr int64_t kTokenClasses = 5;
constexpr int64_t kTransformerBatch = 8;

enum class Model { kMlp, kTransformer };

struct Config {
  Model model = Model::kMlp;
  int stages = 1;
  int64_t micro_batches = 1;
  /// Devices of each stage: {1} (one device) or {2, 2} (data x tensor).
  Shape stage_mesh = Shape{1};
  /// MLP only: the output of layer 0 is added to the input of layer 3.
  bool skip = false;
  int64_t max_in_flight = 0;
  /// Microseconds each layer's forward (and backward) sleeps (a delay op).
  int64_t delay_us = 0;
};

std::string Name(const Config& c) {
  std::string name = (c.model == Model::kMlp ? "mlp" : "transformer");
  name += "_s" + std::to_string(c.stages) + "_m" + std::to_string(c.micro_batches);
  if (c.stage_mesh.NumElements() > 1) name += "_mesh" + std::to_string(c.stage_mesh.NumElements());
  if (c.skip) name += "_skip";
  if (c.max_in_flight > 0) name += "_inflight" + std::to_string(c.max_in_flight);
  return name;
}

Placement StagePlacement(const Config& c, int stage) {
  const int per_stage = static_cast<int>(c.stage_mesh.NumElements());
  std::vector<DeviceId> devices;
  for (int d = 0; d < per_stage; ++d) devices.push_back(DeviceId{DeviceType::kCPU, 0, stage * per_stage + d});
  return Placement::Create(DeviceType::kCPU, devices, c.stage_mesh).value();
}

// The stage of layer `layer` of kLayers.
int StageOf(const Config& c, int layer) { return layer * c.stages / kLayers; }

api::ScopeOptions StageScope(const Config& c, int stage) {
  api::ScopeOptions options;
  if (c.stages > 1) {
    options.placement = StagePlacement(c, stage);
    options.pipeline_stage = stage;
  }
  return options;
}

StatusOr<std::unique_ptr<Session>> MakeSession(const Config& c) {
  GraphBuilder builder(StagePlacement(c, 0), {.seed = 11});
  const bool meshed = c.stage_mesh.rank() == 2;
  const std::string sbp = meshed ? "(S(0), B)" : "S(0)";
  const int last = c.stages - 1;
  Tensor loss;
  if (c.model == Model::kMlp) {
    Tensor h, skip;
    {
      api::Scope scope(builder, "", StageScope(c, 0));
      h = builder.Input("x", Shape{kMlpBatch, kMlpIn}).WithSbp(sbp);
    }
    for (int layer = 0; layer < kLayers; ++layer) {
      api::Scope scope(builder, "", StageScope(c, StageOf(c, layer)));
      if (c.skip && layer == kLayers - 1) h = h + skip;
      h = api::nn::Linear(h, layer + 1 < kLayers ? 32 : kMlpClasses, "mlp/fc" + std::to_string(layer));
      if (c.delay_us > 0) h = api::Delay(h, c.delay_us);
      if (layer + 1 < kLayers) h = api::Relu(h);
      if (layer == 0) skip = h;
    }
    api::Scope scope(builder, "", StageScope(c, last));
    Tensor labels = builder.Input("labels", Shape{kMlpBatch}, DType::kI64).WithSbp(sbp);
    loss = api::SparseSoftmaxCrossEntropy(h, labels).loss;
  } else {
    // Four layers: the embedding, two blocks, the head (with the loss).
    Tensor h;
    {
      api::Scope scope(builder, "", StageScope(c, StageOf(c, 0)));
      Tensor tokens = builder.Input("tokens", Shape{kTransformerBatch, kTime}, DType::kI64).WithSbp(sbp);
      h = api::nn::Embedding(tokens, kVocab, kWidth, "embed");
    }
    for (int block = 0; block < 2; ++block) {
      api::Scope scope(builder, "", StageScope(c, StageOf(c, block + 1)));
      h = api::nn::TransformerBlock(h, kHeads, "block" + std::to_string(block),
                                    {.mlp_ratio = 2, .tensor_parallel = meshed});
    }
    api::Scope scope(builder, "", StageScope(c, last));
    Tensor labels = builder.Input("labels", Shape{kTransformerBatch, kTime}, DType::kI64).WithSbp(sbp);
    h = api::nn::LayerNorm(h, "ln_f");
    Tensor logits = api::Reshape(api::nn::Linear(h, kTokenClasses, "head"),
                                 Shape{kTransformerBatch * kTime, kTokenClasses});
    loss =
        api::SparseSoftmaxCrossEntropy(logits, api::Reshape(labels, Shape{kTransformerBatch * kTime})).loss;
  }
  builder.Fetch("loss", loss);
  builder.Minimize(loss, api::Optimizer::Adam(0.01).WithMicroBatches(c.micro_batches, c.max_in_flight));
  if (!builder.ok()) return builder.status();
  return Session::Create(builder);
}

runtime::TensorMap Batch(const Config& c, int64_t step) {
  if (c.model == Model::kMlp) return TeacherBatch(kMlpBatch, kMlpIn, kMlpClasses, step);
  return NextTokenBatch(kTransformerBatch, kTime, kVocab, kTokenClasses, step, /*labels_per_sequence=*/true);
}

struct Trained {
  std::vector<double> losses;
  std::map<std::string, std::vector<double>> variables;
  std::vector<runtime::ActEvent> trace;
};

Trained Train(const Config& c, int steps = kSteps, bool trace = false) {
  Trained trained;
  StatusOr<std::unique_ptr<Session>> session = MakeSession(c);
  EXPECT_TRUE(session.ok()) << Name(c) << ": " << session.status().message();
  if (!session.ok()) return trained;
  session.value()->runtime().SetTraceEnabled(trace);
  StatusOr<std::vector<runtime::TensorMap>> fetched = session.value()->Run(
      steps, [&](int64_t step) -> StatusOr<runtime::TensorMap> { return Batch(c, step); });
  EXPECT_TRUE(fetched.ok()) << Name(c) << ": " << fetched.status().message();
  if (!fetched.ok()) return trained;
  for (const runtime::TensorMap& step : fetched.value())
    trained.losses.push_back(step.at("loss").GetAsDouble(0));
  for (const std::string& name : session.value()->runtime().VariableNames()) {
    StatusOr<HostTensor> value = session.value()->ReadVariable(name);
    EXPECT_TRUE(value.ok()) << name << ": " << value.status().message();
    if (value.ok()) trained.variables[name] = value.value().ToDoubles();
  }
  if (trace) trained.trace = session.value()->runtime().TakeTrace();
  return trained;
}

std::vector<double> WithoutKeyBiases(const std::string& name, const std::vector<double>& values) {
  for (int layer = 0; layer < kLayers; ++layer) {
    const std::string bias = "block" + std::to_string(layer) + "/attn/qkv.bias";
    if (name == bias) return WithoutKeyBias(name, values, bias, kWidth / kHeads);
  }
  return values;
}

class PipelineEquivalence : public ::testing::TestWithParam<Config> {};

TEST_P(PipelineEquivalence, MatchesOneDeviceFullBatch) {
  const Config c = GetParam();
  Config reference_config;
  reference_config.model = c.model;
  reference_config.skip = c.skip;
  static std::map<std::pair<Model, bool>, Trained> references;
  auto found = references.find({c.model, c.skip});
  if (found == references.end())
    found = references.emplace(std::make_pair(c.model, c.skip), Train(reference_config)).first;
  const Trained& reference = found->second;
  ASSERT_EQ(reference.losses.size(), static_cast<size_t>(kSteps));
  EXPECT_LT(reference.losses.back(), reference.losses.front()) << "the reference does not learn";

  const Trained trained = Train(c);
  ASSERT_EQ(trained.losses.size(), static_cast<size_t>(kSteps));
  const double loss_diff = ExpectClose(trained.losses, reference.losses, Name(c) + " losses", true);
  double weight_diff = 0;
  EXPECT_EQ(trained.variables.size(), reference.variables.size());
  for (const auto& [name, value] : reference.variables) {
    auto other = trained.variables.find(name);
    if (other == trained.variables.end()) {
      ADD_FAILURE() << "variable " << name << " missing";
      continue;
    }
    weight_diff = std::max(weight_diff, ExpectClose(WithoutKeyBiases(name, other->second),
                                                    WithoutKeyBiases(name, value), Name(c) + " " + name));
  }
  std::printf("[pipeline] %-26s loss %.2e  weights %.2e\n", Name(c).c_str(), loss_diff, weight_diff);
}

std::vector<Config> EquivalenceConfigs() {
  std::vector<Config> configs;
  for (Model model : {Model::kMlp, Model::kTransformer}) {
    configs.push_back({.model = model, .stages = 1, .micro_batches = 4});  // accumulation alone
    for (int stages : {2, 4}) {
      // M = 1 < S, S, 2S and 8 (each once).
      for (int64_t micro : std::set<int64_t>{1, stages, 2 * stages, 8}) {
        configs.push_back({.model = model, .stages = stages, .micro_batches = micro});
      }
    }
  }
  configs.push_back({.model = Model::kMlp, .stages = 4, .micro_batches = 2});  // 1 < M < S
  configs.push_back({.model = Model::kMlp, .stages = 2, .micro_batches = 2, .max_in_flight = 1});
  configs.push_back({.model = Model::kMlp, .stages = 4, .micro_batches = 8, .skip = true});
  configs.push_back(
      {.model = Model::kTransformer, .stages = 2, .micro_batches = 4, .stage_mesh = Shape{2, 2}});
  return configs;
}

INSTANTIATE_TEST_SUITE_P(Pipelines, PipelineEquivalence, ::testing::ValuesIn(EquivalenceConfigs()),
                         [](const ::testing::TestParamInfo<Config>& info) { return Name(info.param); });

// Per stage (one device each), the largest count of a register that the
// stage's forward writes per micro-batch, its backward reads and no other
// stage reads (the activations kept for backward).
std::map<int, int> KeptCounts(const Plan& plan) {
  std::map<int, int> counts;
  for (const RegisterDesc& reg : plan.registers) {
    if (!runtime::IsKeptActivation(plan, reg)) continue;
    counts[reg.device.index] = std::max(counts[reg.device.index], reg.count);
  }
  return counts;
}

// The largest count of a register read on another device than its producer's.
int MaxCrossingCount(const Plan& plan) {
  int count = 0;
  for (const RegisterDesc& reg : plan.registers) {
    for (ActorId consumer : reg.consumers) {
      if (plan.actors[consumer].device != plan.actors[reg.producer].device)
        count = std::max(count, reg.count);
    }
  }
  return count;
}

// The plan of a 4-stage MLP with 8 micro-batches: the region acts 8 times
// per step, the optimizer once, gradients are accumulated, stage s keeps
// 4 - s copies of the activations its backward reads and stage-crossing
// registers have distance + 1 copies (the skip from stage 0 to 3: 4).
TEST(PipelinePlan, RatesAndRegisterCounts) {
  const Config c{.model = Model::kMlp, .stages = 4, .micro_batches = 8, .skip = true};
  StatusOr<std::unique_ptr<Session>> session = MakeSession(c);
  ASSERT_TRUE(session.ok()) << session.status().message();
  const Plan& plan = session.value()->compiled().plan;
  std::map<std::string, std::set<int>> acts_by_role;
  for (const Actor& actor : plan.actors) {
    if (actor.kind == ActorKind::kCompute)
      acts_by_role[plan.nodes[actor.node].role].insert(actor.acts_per_step);
  }
  int accumulated = 0;
  for (const RegisterDesc& reg : plan.registers) accumulated += reg.accumulated ? 1 : 0;
  EXPECT_EQ(acts_by_role["optimizer"], (std::set<int>{1}));
  EXPECT_TRUE(acts_by_role["forward"].count(8)) << "no forward actor acts per micro-batch";
  EXPECT_TRUE(acts_by_role["backward"].count(8)) << "no backward actor acts per micro-batch";
  EXPECT_GE(accumulated, 9) << "expected accumulated gradients of the 8 parameters and the loss";
  EXPECT_EQ(KeptCounts(plan), (std::map<int, int>{{0, 4}, {1, 3}, {2, 2}, {3, 1}}));
  EXPECT_EQ(MaxCrossingCount(plan), 4) << "the skip from stage 0 to stage 3 needs 4 copies";

  // max_in_flight bounds every stage's kept activations.
  Config bounded = c;
  bounded.max_in_flight = 2;
  session = MakeSession(bounded);
  ASSERT_TRUE(session.ok()) << session.status().message();
  EXPECT_EQ(KeptCounts(session.value()->compiled().plan),
            (std::map<int, int>{{0, 2}, {1, 2}, {2, 2}, {3, 2}}));
}

// Per stage (one device each), the peak kept activations in micro-batches.
std::vector<double> PeakInFlight(const Plan& plan, const std::vector<runtime::ActEvent>& trace, int stages) {
  const std::map<DeviceId, double> by_device = runtime::PeakKeptActivations(plan, trace);
  std::vector<double> peak(stages, 0);
  for (const auto& [device, value] : by_device) peak.at(device.index) = value;
  return peak;
}

// 1F1B bound: stage s of S keeps the activations of at most S - s
// micro-batches; GPipe-like (max_in_flight = M) lets stage 0 keep more;
// max_in_flight = 1 keeps one.
TEST(PipelineMemory, InFlightActivationsStayWithinTheBound) {
  for (int64_t max_in_flight : {int64_t{0}, int64_t{1}, int64_t{8}}) {
    const Config c{.model = Model::kMlp,
                   .stages = 4,
                   .micro_batches = 8,
                   .max_in_flight = max_in_flight,
                   .delay_us = 300};
    StatusOr<std::unique_ptr<Session>> session = MakeSession(c);
    ASSERT_TRUE(session.ok()) << session.status().message();
    const Trained trained = Train(c, /*steps=*/2, /*trace=*/true);
    ASSERT_FALSE(trained.trace.empty());
    const std::vector<double> peak = PeakInFlight(session.value()->compiled().plan, trained.trace, c.stages);
    std::printf(
        "[pipeline] max_in_flight %lld: peak kept activations per stage (micro-batches) %.2f %.2f %.2f "
        "%.2f\n",
        static_cast<long long>(max_in_flight), peak[0], peak[1], peak[2], peak[3]);
    for (int stage = 0; stage < c.stages; ++stage) {
      const int bound = max_in_flight > 0 ? static_cast<int>(max_in_flight) : c.stages - stage;
      EXPECT_GE(peak[stage], 0.99) << "stage " << stage;
      EXPECT_LE(peak[stage], bound + 1e-9) << "stage " << stage << " with max_in_flight " << max_in_flight;
    }
    if (max_in_flight == 0) {
      EXPECT_GT(peak[0], 2) << "stage 0 never ran ahead: no pipelining";
    }
    if (max_in_flight == 8) {
      EXPECT_GT(peak[0], c.stages) << "max_in_flight 8 should let stage 0 run ahead";
    }
  }
}

// ---- stage mistakes -----------------------------------------------------------------

Placement Devices(int first, int count) {
  std::vector<DeviceId> devices;
  for (int d = 0; d < count; ++d) devices.push_back(DeviceId{DeviceType::kCPU, 0, first + d});
  return Placement::Create(DeviceType::kCPU, devices, Shape{count}).value();
}

std::string CompileError(const std::function<void(GraphBuilder&)>& build) {
  GraphBuilder builder;
  build(builder);
  if (!builder.ok()) return builder.status().message();
  StatusOr<compiler::CompileResult> compiled = builder.Compile();
  return compiled.ok() ? std::string() : compiled.status().message();
}

TEST(PipelineStages, MistakesGiveNamedErrors) {
  // Stage 1 missing.
  std::string error = CompileError([](GraphBuilder& b) {
    Tensor x;
    {
      api::Scope s(b, "a", {.placement = Devices(0, 1), .pipeline_stage = 0});
      x = api::nn::Linear(b.Input("x", Shape{4, 3}), 3, "fc0");
    }
    api::Scope s(b, "b", {.placement = Devices(1, 1), .pipeline_stage = 2});
    b.Minimize(api::ReduceMean(api::nn::Linear(x, 2, "fc1"), {}),
               api::Optimizer::Sgd(0.1).WithMicroBatches(2));
  });
  EXPECT_NE(error.find("pipeline stage 1 is empty"), std::string::npos) << error;

  // Stage 0 reads stage 1 in forward.
  error = CompileError([](GraphBuilder& b) {
    Tensor x = b.Input("x", Shape{4, 3}, DType::kF32, Devices(0, 1));
    Tensor late;
    {
      api::Scope s(b, "late", {.placement = Devices(1, 1), .pipeline_stage = 1});
      late = api::nn::Linear(x, 3, "fc1");
    }
    api::Scope s(b, "early", {.placement = Devices(0, 1), .pipeline_stage = 0});
    b.Minimize(api::ReduceMean(api::nn::Linear(late, 2, "fc0"), {}), api::Optimizer::Sgd(0.1));
  });
  EXPECT_NE(error.find("in stage 0 reads a value computed in stage 1"), std::string::npos) << error;
  EXPECT_NE(error.find("early/fc0"), std::string::npos) << error;

  // Two stages on one device.
  error = CompileError([](GraphBuilder& b) {
    Tensor x;
    {
      api::Scope s(b, "a", {.placement = Devices(0, 2), .pipeline_stage = 0});
      x = api::nn::Linear(b.Input("x", Shape{4, 3}), 3, "fc0");
    }
    api::Scope s(b, "b", {.placement = Devices(1, 2), .pipeline_stage = 1});
    b.Minimize(api::ReduceMean(api::nn::Linear(x, 2, "fc1"), {}), api::Optimizer::Sgd(0.1));
  });
  EXPECT_NE(error.find("both use device"), std::string::npos) << error;

  // A stage without a placement.
  error = CompileError([](GraphBuilder& b) { api::Scope s(b, "a", {.pipeline_stage = 0}); });
  EXPECT_NE(error.find("pipeline_stage 0 without a placement"), std::string::npos) << error;

  // A batch the micro-batches do not divide.
  error = CompileError([](GraphBuilder& b) {
    Tensor x = b.Input("x", Shape{6, 3});
    b.Minimize(api::ReduceMean(api::nn::Linear(x, 2, "fc"), {}),
               api::Optimizer::Sgd(0.1).WithMicroBatches(4));
  });
  EXPECT_NE(error.find("input 'x' f32[6, 3]: expected a batch axis (axis 0) divisible by micro_batches=4"),
            std::string::npos)
      << error;

  // micro_batches must be >= 1.
  error = CompileError([](GraphBuilder& b) {
    Tensor x = b.Input("x", Shape{6, 3});
    b.Minimize(api::ReduceMean(api::nn::Linear(x, 2, "fc"), {}),
               api::Optimizer::Sgd(0.1).WithMicroBatches(0));
  });
  EXPECT_NE(error.find("micro_batches: expected a count >= 1, got 0"), std::string::npos) << error;
}

}  // namespace
}  // namespace ofl::testing

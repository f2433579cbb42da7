// The runtime's micro-batch rules (runtime/plan.h, "Micro-batches") on
// hand-built plans: acts per step, held inputs, accumulated registers,
// KernelContext::micro_batch, collectives and boxing copies acting per
// micro-batch, the in-place rule across held readers, register counts that
// let pipeline stages overlap (checked on the act trace), errors naming the
// micro-batch, and ValidatePlan's micro-batch checks.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include "runtime/runtime.h"
#include "tests/runtime/plan_builder.h"

namespace ofl::testing {
namespace {

using runtime::ActEvent;
using runtime::Runtime;
using runtime::TensorMap;

TensorDesc F32(Shape shape) { return TensorDesc{std::move(shape), DType::kF32}; }

ActorInput In(RegisterId reg, bool mutated = false) { return ActorInput{reg, 0, mutated}; }

// What the kernels saw, across threads: per node name, one entry per call.
struct SeenLog {
  struct Call {
    int64_t micro_batch = 0;
    int64_t micro_batches = 0;
    float value = 0;  // kernel-specific: mul logs its second input's first element
  };
  std::mutex mutex;
  std::map<std::string, std::vector<Call>> calls;
  void Add(const std::string& node, const Call& call) {
    std::lock_guard<std::mutex> lock(mutex);
    calls[node].push_back(call);
  }
};

// Test kernels (f32, whole tensors):
//   unpack: out = slice micro_batch of in(0) (out's size per slice)
//   mul:    out[i] = in(0)[i] * in(1)[i]
//   acc:    micro_batch 0 copies in(0) into out, later ones add it
//   pack:   writes in(0) into slice micro_batch of out
//   value:  out[i] = attr base + micro_batch (a source)
//   sleep:  sleeps attr sleep_us; copies in(0) to out when both exist
//   add_inplace: in(0) += 1
// Each logs its call; attr fail_at fails the call with that number.
class MicroKernel final : public Kernel {
 public:
  MicroKernel(std::string op, SeenLog* log) : op_(std::move(op)), log_(log) {}
  Status Compute(KernelContext& ctx) override {
    const int64_t call = calls_++;
    if (ctx.attr().Has("fail_at") && call == ctx.attr().GetInt("fail_at")) {
      return Status::Error("[" + op_ + "] " + ctx.op_name + ": failing on purpose at call " +
                           std::to_string(call));
    }
    if (ctx.attr().Has("sleep_us"))
      std::this_thread::sleep_for(std::chrono::microseconds(ctx.attr().GetInt("sleep_us")));
    const int64_t mb = ctx.micro_batch;
    float logged = 0;
    if (op_ == "unpack") {
      const int64_t n = ctx.out(0).NumElements();
      std::memcpy(ctx.out(0).data, ctx.in(0).As<float>() + mb * n, n * sizeof(float));
    } else if (op_ == "mul") {
      for (int64_t i = 0; i < ctx.out(0).NumElements(); ++i)
        ctx.out(0).As<float>()[i] = ctx.in(0).As<float>()[i] * ctx.in(1).As<float>()[i];
      logged = ctx.in(1).As<float>()[0];
    } else if (op_ == "acc") {
      for (int64_t i = 0; i < ctx.out(0).NumElements(); ++i)
        ctx.out(0).As<float>()[i] = (mb == 0 ? 0.0f : ctx.out(0).As<float>()[i]) + ctx.in(0).As<float>()[i];
    } else if (op_ == "pack") {
      const int64_t n = ctx.in(0).NumElements();
      std::memcpy(ctx.out(0).As<float>() + mb * n, ctx.in(0).data, n * sizeof(float));
    } else if (op_ == "value") {
      for (int64_t i = 0; i < ctx.out(0).NumElements(); ++i)
        ctx.out(0).As<float>()[i] = static_cast<float>(ctx.attr().GetFloat("base") + mb);
    } else if (op_ == "add_inplace") {
      for (int64_t i = 0; i < ctx.in(0).NumElements(); ++i) ctx.in(0).As<float>()[i] += 1;
    } else if (op_ == "sleep" && !ctx.inputs.empty() && !ctx.outputs.empty()) {
      std::memcpy(ctx.out(0).data, ctx.in(0).data, ctx.out(0).ByteSize());
    }
    log_->Add(ctx.op_name, SeenLog::Call{mb, ctx.micro_batches, logged});
    return Status::Ok();
  }

 private:
  std::string op_;
  SeenLog* log_;
  int64_t calls_ = 0;
};

KernelRegistry MicroKernels(SeenLog* log) {
  KernelRegistry kernels;
  for (const char* op : {"unpack", "mul", "acc", "pack", "value", "sleep", "add_inplace"}) {
    const std::string name = op;
    EXPECT_TRUE(kernels
                    .Register(KernelKey{name, DeviceType::kCPU, DType::kF32},
                              [name, log] { return std::make_unique<MicroKernel>(name, log); })
                    .ok());
  }
  return kernels;
}

std::unique_ptr<Runtime> Load(Plan plan, const KernelRegistry& kernels) {
  StatusOr<std::unique_ptr<Runtime>> runtime = Runtime::Load(std::move(plan), kernels);
  EXPECT_TRUE(runtime.ok()) << runtime.status().message();
  return runtime.ok() ? std::move(runtime).value() : nullptr;
}

constexpr int kMicroBatches = 4;

// Gradient accumulation in miniature, M = 4 on three devices:
//   x f32[8] (a0) -> unpack (a2, acts 4, reads x held) -> mul (a3, acts 4,
//   reads the variable v held) -> acc (a4, acts 4, accumulated) -> y (a6)
//   v f32[2] = 1 (a1) <- update (a5, acts 1, adds 1 in place)
// y of step s = v_s * (sum of x's four slices), v_s = 1 + s.
struct AccumulationPlan {
  Plan plan;
  ActorId x, v, unpack, mul, acc, update, y;
};
AccumulationPlan MakeAccumulationPlan(AttrMap unpack_attrs = {}) {
  PlanBuilder b;
  AccumulationPlan p;
  p.x = b.AddActor(ActorKind::kInput, b.Node("x", "input"), 0, {}, {{F32({8})}});
  p.v = b.AddActor(ActorKind::kVariable, b.Node("v", "variable"), 0, {}, {{F32({2})}});
  p.unpack = b.AddActor(ActorKind::kCompute, b.Node("unpack", "unpack", unpack_attrs), 0, {In(b.Out(p.x))},
                        {{F32({2})}}, /*count=*/2);
  p.mul = b.AddActor(ActorKind::kCompute, b.Node("mul", "mul", {{"sleep_us", int64_t{300}}}), 1,
                     {In(b.Out(p.unpack)), In(b.Out(p.v))}, {{F32({2})}}, /*count=*/2);
  p.acc = b.AddActor(ActorKind::kCompute, b.Node("acc", "acc"), 2, {In(b.Out(p.mul))}, {{F32({2})}});
  p.update = b.AddActor(ActorKind::kCompute, b.Node("update", "add_inplace"), 0, {In(b.Out(p.v), true)}, {});
  p.y = b.AddActor(ActorKind::kOutput, b.Node("y", "output"), 2, {In(b.Out(p.acc))}, {});
  for (ActorId actor : {p.unpack, p.mul, p.acc}) b.plan().actors[actor].acts_per_step = kMicroBatches;
  b.plan().registers[b.Out(p.acc)].accumulated = true;
  b.plan().feeds.push_back(FeedDesc{"x", F32({8}), {b.Piece(p.x)}});
  b.plan().fetches.push_back(FetchDesc{"y", F32({2}), CombineMode::kCopy, {b.Piece(p.y)}});
  b.plan().variables.push_back(VariableDesc{
      "v", F32({2}), AttrMap{{"initializer", std::string("constant")}, {"value", 1.0}}, {b.Piece(p.v)}});
  p.plan = b.Finish();
  return p;
}

// x of step s: x[i] = s + i.
StatusOr<TensorMap> RampFeed(int64_t step) {
  std::vector<float> values(8);
  for (int i = 0; i < 8; ++i) values[i] = static_cast<float>(step + i);
  return TensorMap{{"x", HostTensor::FromVector<float>(Shape{8}, values)}};
}

TEST(MicroBatchRuntimeTest, AccumulatesMicroBatchesAndHoldsTheVariable) {
  SeenLog log;
  const KernelRegistry kernels = MicroKernels(&log);
  AccumulationPlan p = MakeAccumulationPlan();
  std::unique_ptr<Runtime> rt = Load(p.plan, kernels);
  ASSERT_NE(rt, nullptr);
  rt->SetTraceEnabled(true);
  const int steps = 5;
  StatusOr<std::vector<TensorMap>> fetched = rt->Run(steps, RampFeed);
  ASSERT_TRUE(fetched.ok()) << fetched.status().message();
  for (int s = 0; s < steps; ++s) {
    // Slices j, 2 + j, 4 + j, 6 + j of the ramp sum to 4s + 12 + 4j.
    const double v = 1 + s;
    EXPECT_EQ(fetched.value()[s].at("y").ToDoubles(),
              (std::vector<double>{v * (4 * s + 12), v * (4 * s + 16)}))
        << "step " << s;
  }
  StatusOr<HostTensor> v = rt->ReadVariable("v");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v.value().ToDoubles(), (std::vector<double>{1.0 + steps, 1.0 + steps}));

  // Every kernel of the region saw micro-batches 0..3 of 4 in order; mul saw
  // the step's old variable value in all four acts.
  for (const char* node : {"unpack", "mul", "acc"}) {
    const std::vector<SeenLog::Call>& calls = log.calls[node];
    ASSERT_EQ(calls.size(), static_cast<size_t>(steps * kMicroBatches)) << node;
    for (size_t c = 0; c < calls.size(); ++c) {
      EXPECT_EQ(calls[c].micro_batch, static_cast<int64_t>(c % kMicroBatches)) << node << " call " << c;
      EXPECT_EQ(calls[c].micro_batches, kMicroBatches) << node;
    }
  }
  for (size_t c = 0; c < log.calls["mul"].size(); ++c) {
    EXPECT_EQ(log.calls["mul"][c].value, 1.0f + static_cast<float>(c / kMicroBatches)) << "mul call " << c;
  }
  ASSERT_EQ(log.calls["update"].size(), static_cast<size_t>(steps));
  EXPECT_EQ(log.calls["update"][0].micro_batches, 1);

  // The trace has one event per act, numbered by step and micro-batch, and
  // each update starts after the last mul act of its step has ended.
  const std::vector<ActEvent> trace = rt->TakeTrace();
  std::map<ActorId, std::vector<ActEvent>> by_actor;
  for (const ActEvent& event : trace) {
    EXPECT_LE(event.start_ns, event.end_ns);
    by_actor[event.actor].push_back(event);
  }
  for (ActorId actor : {p.x, p.v, p.update, p.y}) EXPECT_EQ(by_actor[actor].size(), size_t{steps});
  for (ActorId actor : {p.unpack, p.mul, p.acc}) {
    ASSERT_EQ(by_actor[actor].size(), static_cast<size_t>(steps * kMicroBatches)) << "actor " << actor;
    for (size_t i = 0; i < by_actor[actor].size(); ++i) {
      EXPECT_EQ(by_actor[actor][i].step, static_cast<int64_t>(i / kMicroBatches));
      EXPECT_EQ(by_actor[actor][i].micro_batch, static_cast<int64_t>(i % kMicroBatches));
    }
  }
  for (int s = 0; s < steps; ++s) {
    EXPECT_GE(by_actor[p.update][s].start_ns, by_actor[p.mul][s * kMicroBatches + 3].end_ns) << "step " << s;
  }
  EXPECT_TRUE(rt->TakeTrace().empty()) << "TakeTrace hands the events over once";
  rt->SetTraceEnabled(false);
  ASSERT_TRUE(rt->Run(1, RampFeed).ok());
  EXPECT_TRUE(rt->TakeTrace().empty()) << "nothing is recorded while disabled";
}

// pack: acts 4, each writing slice micro_batch of one accumulated f32[8]
// register; the output sees the whole tensor once per step.
TEST(MicroBatchRuntimeTest, PackWritesSlicesOfAnAccumulatedRegister) {
  SeenLog log;
  const KernelRegistry kernels = MicroKernels(&log);
  PlanBuilder b;
  const ActorId x = b.AddActor(ActorKind::kInput, b.Node("x", "input"), 0, {}, {{F32({8})}});
  const ActorId unpack =
      b.AddActor(ActorKind::kCompute, b.Node("unpack", "unpack"), 1, {In(b.Out(x))}, {{F32({2})}});
  const ActorId pack =
      b.AddActor(ActorKind::kCompute, b.Node("pack", "pack"), 0, {In(b.Out(unpack))}, {{F32({8})}}, 2);
  const ActorId y = b.AddActor(ActorKind::kOutput, b.Node("y", "output"), 0, {In(b.Out(pack))}, {});
  b.plan().actors[unpack].acts_per_step = kMicroBatches;
  b.plan().actors[pack].acts_per_step = kMicroBatches;
  b.plan().registers[b.Out(pack)].accumulated = true;
  b.plan().feeds.push_back(FeedDesc{"x", F32({8}), {b.Piece(x)}});
  b.plan().fetches.push_back(FetchDesc{"y", F32({8}), CombineMode::kCopy, {b.Piece(y)}});
  std::unique_ptr<Runtime> rt = Load(b.Finish(), kernels);
  ASSERT_NE(rt, nullptr);
  const int steps = 6;
  StatusOr<std::vector<TensorMap>> fetched = rt->Run(steps, RampFeed);
  ASSERT_TRUE(fetched.ok()) << fetched.status().message();
  for (int s = 0; s < steps; ++s) {
    EXPECT_EQ(fetched.value()[s].at("y").ToDoubles(), RampFeed(s).value().at("x").ToDoubles())
        << "step " << s;
  }
  EXPECT_EQ(log.calls["pack"].size(), static_cast<size_t>(steps * kMicroBatches));
}

// Collective and boxing-copy actors act once per micro-batch: two sources
// (acts 4) -> all_reduce group (acts 4) -> on cpu:0 acc; on cpu:1 a boxing
// copy (acts 4) of cpu:0's sum -> acc. Every step: sum over micro-batches
// of (10 + mb) + (20 + mb) = 4 * 30 + 2 * 6 = 132.
TEST(MicroBatchRuntimeTest, CollectivesAndBoxingCopiesActPerMicroBatch) {
  SeenLog log;
  const KernelRegistry kernels = MicroKernels(&log);
  PlanBuilder b;
  const ActorId s0 =
      b.AddActor(ActorKind::kCompute, b.Node("s0", "value", {{"base", 10.0}}), 0, {}, {{F32({2})}});
  const ActorId s1 =
      b.AddActor(ActorKind::kCompute, b.Node("s1", "value", {{"base", 20.0}}), 1, {}, {{F32({2})}});
  const int64_t ar_node = b.Node("ar", "boxing", {{"kind", std::string("all_reduce")}});
  std::vector<ActorId> group;
  for (int d = 0; d < 2; ++d) {
    group.push_back(b.AddActor(ActorKind::kCollective, ar_node, d, {In(b.Out(s0)), In(b.Out(s1))},
                               {{F32({2})}}, 1, StreamKind::kComm));
  }
  for (int d = 0; d < 2; ++d) {
    b.plan().actors[group[d]].boxing =
        BoxingProgram{CombineMode::kSum, {}, CollectiveKind::kAllReduce, 0, group, d};
  }
  const ActorId copy = b.AddActor(ActorKind::kBoxingCopy, b.Node("copy", "boxing"), 1, {In(b.Out(group[0]))},
                                  {{F32({2})}}, 1, StreamKind::kCopy);
  b.plan().actors[copy].boxing.transfers = {Transfer{0, b.RegionOf(group[0]), CombineMode::kCopy}};
  const ActorId acc0 =
      b.AddActor(ActorKind::kCompute, b.Node("acc0", "acc"), 0, {In(b.Out(group[0]))}, {{F32({2})}});
  const ActorId acc1 =
      b.AddActor(ActorKind::kCompute, b.Node("acc1", "acc"), 1, {In(b.Out(copy))}, {{F32({2})}});
  const ActorId y0 = b.AddActor(ActorKind::kOutput, b.Node("y0", "output"), 0, {In(b.Out(acc0))}, {});
  const ActorId y1 = b.AddActor(ActorKind::kOutput, b.Node("y1", "output"), 1, {In(b.Out(acc1))}, {});
  for (ActorId actor : {s0, s1, group[0], group[1], copy, acc0, acc1}) {
    b.plan().actors[actor].acts_per_step = kMicroBatches;
  }
  b.plan().registers[b.Out(acc0)].accumulated = true;
  b.plan().registers[b.Out(acc1)].accumulated = true;
  b.plan().fetches.push_back(FetchDesc{"y0", F32({2}), CombineMode::kCopy, {b.Piece(y0)}});
  b.plan().fetches.push_back(FetchDesc{"y1", F32({2}), CombineMode::kCopy, {b.Piece(y1)}});
  std::unique_ptr<Runtime> rt = Load(b.Finish(), kernels);
  ASSERT_NE(rt, nullptr);
  rt->SetTraceEnabled(true);
  const int steps = 4;
  StatusOr<std::vector<TensorMap>> fetched = rt->Run(steps, nullptr);
  ASSERT_TRUE(fetched.ok()) << fetched.status().message();
  for (int s = 0; s < steps; ++s) {
    EXPECT_EQ(fetched.value()[s].at("y0").ToDoubles(), (std::vector<double>{132, 132})) << "step " << s;
    EXPECT_EQ(fetched.value()[s].at("y1").ToDoubles(), (std::vector<double>{132, 132})) << "step " << s;
  }
  std::map<ActorId, int> acts;
  for (const ActEvent& event : rt->TakeTrace()) acts[event.actor]++;
  for (ActorId actor : {group[0], group[1], copy}) EXPECT_EQ(acts[actor], steps * kMicroBatches) << actor;
}

// Two pipeline stages, A on cpu:0 -> B on cpu:1, 2 ms per act, 8 acts per
// step. With count 1 on A's register, A's act k + 1 needs the copy B frees
// after its act k, so no act of A overlaps an act of B (the step takes about
// 2 * M * 2 ms); with count 2, A runs one act ahead and the stages overlap
// (about (M + 1) * 2 ms). Asserted on the trace's order, not on wall time.
TEST(MicroBatchRuntimeTest, RegisterCountsLetPipelineStagesOverlap) {
  constexpr int kActs = 8;
  constexpr int kSteps = 3;
  std::map<int, int64_t> run_ns;
  for (int count : {1, 2}) {
    SCOPED_TRACE("count " + std::to_string(count));
    SeenLog log;
    const KernelRegistry kernels = MicroKernels(&log);
    PlanBuilder b;
    const AttrMap sleep{{"sleep_us", int64_t{2000}}};
    const ActorId a =
        b.AddActor(ActorKind::kCompute, b.Node("A", "sleep", sleep), 0, {}, {{F32({1})}}, count);
    const ActorId stage_b =
        b.AddActor(ActorKind::kCompute, b.Node("B", "sleep", sleep), 1, {In(b.Out(a))}, {});
    b.plan().actors[a].acts_per_step = kActs;
    b.plan().actors[stage_b].acts_per_step = kActs;
    std::unique_ptr<Runtime> rt = Load(b.Finish(), kernels);
    ASSERT_NE(rt, nullptr);
    rt->SetTraceEnabled(true);
    ASSERT_TRUE(rt->Run(kSteps, nullptr).ok());
    std::vector<ActEvent> a_acts, b_acts;
    int64_t end = 0;
    for (const ActEvent& event : rt->TakeTrace()) {
      (event.actor == a ? a_acts : b_acts).push_back(event);
      end = std::max(end, event.end_ns);
    }
    ASSERT_EQ(a_acts.size(), size_t{kActs * kSteps});
    ASSERT_EQ(b_acts.size(), size_t{kActs * kSteps});
    int overlaps = 0;
    for (const ActEvent& x : a_acts) {
      for (const ActEvent& y : b_acts) overlaps += x.start_ns < y.end_ns && y.start_ns < x.end_ns ? 1 : 0;
    }
    // A's act k + 1 never starts before B's act k - count + 1 has ended.
    for (size_t k = count; k < a_acts.size(); ++k) {
      EXPECT_GE(a_acts[k].start_ns, b_acts[k - count].end_ns) << "A act " << k;
    }
    if (count == 1) {
      EXPECT_EQ(overlaps, 0) << "with one copy the stages must alternate";
    } else {
      EXPECT_GT(overlaps, 0) << "with two copies A must run ahead of B";
    }
    run_ns[count] = end;
  }
  // For the record (wall time is noisy, so not asserted): ideal 96 ms vs 54 ms.
  std::cout << "[ pipeline ] " << kSteps << " steps of " << kActs << " acts x 2 ms: count 1 "
            << run_ns[1] / 1000000.0 << " ms, count 2 " << run_ns[2] / 1000000.0 << " ms\n";
}

// A kernel error in the middle of a step stops the run and names the
// micro-batch; the runtime stays usable.
TEST(MicroBatchRuntimeTest, KernelErrorNamesTheMicroBatch) {
  SeenLog log;
  const KernelRegistry kernels = MicroKernels(&log);
  AccumulationPlan p = MakeAccumulationPlan({{"fail_at", int64_t{6}}});  // step 1, micro-batch 2
  std::unique_ptr<Runtime> rt = Load(p.plan, kernels);
  ASSERT_NE(rt, nullptr);
  StatusOr<std::vector<TensorMap>> fetched = rt->Run(4, RampFeed);
  ASSERT_FALSE(fetched.ok());
  const std::string message = fetched.status().message();
  EXPECT_NE(message.find("'unpack'"), std::string::npos) << message;
  EXPECT_NE(message.find("step 1, micro-batch 2 of 4"), std::string::npos) << message;
  EXPECT_NE(message.find("failing on purpose"), std::string::npos) << message;
}

// A plan whose micro-batch counts cannot meet is rejected by Load, naming
// the actors and registers.
TEST(MicroBatchRuntimeTest, ValidatePlanRejectsBadMicroBatchCombinations) {
  const AccumulationPlan base = MakeAccumulationPlan();
  ASSERT_TRUE(ValidatePlan(base.plan).ok()) << ValidatePlan(base.plan).message();
  struct Case {
    std::string name;
    std::function<void(Plan&)> edit;
    std::vector<std::string> expected;  // substrings of the error
  };
  const RegisterId acc_out = base.plan.actors[base.acc].produced;
  const RegisterId mul_out = base.plan.actors[base.mul].produced;
  const std::string acc = "a" + std::to_string(base.acc), mul = "a" + std::to_string(base.mul);
  const std::vector<Case> cases = {
      {"zero acts",
       [&](Plan& plan) { plan.actors[base.mul].acts_per_step = 0; },
       {"actor " + mul, "acts_per_step must be >= 1, got 0"}},
      {"input acting per micro-batch",
       [&](Plan& plan) { plan.actors[base.x].acts_per_step = 4; },
       {"actor a" + std::to_string(base.x), "(input) must act once per step", "4"}},
      {"variable acting per micro-batch",
       [&](Plan& plan) { plan.actors[base.v].acts_per_step = 4; },
       {"actor a" + std::to_string(base.v), "(variable) must act once per step"}},
      {"consumer acting less often than its register is written",
       [&](Plan& plan) { plan.actors[base.acc].acts_per_step = 2; },
       {"actor " + acc + " acts 2 times per step", "register r" + std::to_string(mul_out),
        "written 4 times"}},
      {"register written per micro-batch read once per step",
       [&](Plan& plan) { plan.registers[acc_out].accumulated = false; },
       {"actor a" + std::to_string(base.y) + " (output)", "register r" + std::to_string(acc_out),
        "written 4 times"}},
      {"persistent and accumulated",
       [&](Plan& plan) { plan.registers[plan.actors[base.v].produced].accumulated = true; },
       {"register r" + std::to_string(base.plan.actors[base.v].produced), "persistent and accumulated"}},
  };
  for (const Case& c : cases) {
    Plan plan = base.plan;
    c.edit(plan);
    const Status status = ValidatePlan(plan);
    ASSERT_FALSE(status.ok()) << c.name;
    EXPECT_EQ(status.message().rfind("[plan]", 0), 0u) << status.message();
    for (const std::string& expected : c.expected) {
      EXPECT_NE(status.message().find(expected), std::string::npos) << c.name << ": " << status.message();
    }
    SeenLog log;
    const KernelRegistry kernels = MicroKernels(&log);
    EXPECT_FALSE(Runtime::Load(plan, kernels).ok()) << c.name;
  }
  // An accumulated register of a producer acting once per step is fine (M = 1).
  Plan single = base.plan;
  for (ActorId actor : {base.unpack, base.mul, base.acc}) single.actors[actor].acts_per_step = 1;
  EXPECT_TRUE(ValidatePlan(single).ok()) << ValidatePlan(single).message();

  // Collective members must agree on their acts per step.
  PlanBuilder b;
  const ActorId s0 = b.AddActor(ActorKind::kCompute, b.Node("s0", "value"), 0, {}, {{F32({2})}});
  const ActorId s1 = b.AddActor(ActorKind::kCompute, b.Node("s1", "value"), 1, {}, {{F32({2})}});
  const int64_t node = b.Node("ar", "boxing");
  std::vector<ActorId> group;
  for (int d = 0; d < 2; ++d) {
    group.push_back(
        b.AddActor(ActorKind::kCollective, node, d, {In(b.Out(s0)), In(b.Out(s1))}, {{F32({2})}}));
  }
  for (int d = 0; d < 2; ++d) {
    b.plan().actors[group[d]].boxing =
        BoxingProgram{CombineMode::kSum, {}, CollectiveKind::kAllReduce, 0, group, d};
  }
  Plan collective = b.Finish();
  ASSERT_TRUE(ValidatePlan(collective).ok()) << ValidatePlan(collective).message();
  for (ActorId actor : {s0, s1, group[0]}) collective.actors[actor].acts_per_step = 4;
  const Status status = ValidatePlan(collective);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("group member a" + std::to_string(group[1])), std::string::npos)
      << status.message();
}

}  // namespace
}  // namespace ofl::testing

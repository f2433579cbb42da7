// The actor runtime on hand-built plans (no compiler): the credit protocol,
// back-pressure by register counts, the in-place rule, copy programs,
// variables, clean shutdown and errors that stop every actor.
#include "runtime/runtime.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>

#include "ops/registry.h"
#include "tests/runtime/plan_builder.h"

namespace ofl::testing {
namespace {

using runtime::Runtime;
using runtime::TensorMap;

TensorDesc F32(Shape shape) { return TensorDesc{std::move(shape), DType::kF32}; }

// What the test kernels did, in order, across threads.
struct EventLog {
  std::mutex mutex;
  std::vector<std::string> events;
  void Add(const std::string& event) {
    std::lock_guard<std::mutex> lock(mutex);
    events.push_back(event);
  }
  std::vector<std::string> Snapshot() {
    std::lock_guard<std::mutex> lock(mutex);
    return events;
  }
};

// A kernel with a call counter, logging "<node>:<call>".
class TestKernel final : public Kernel {
 public:
  TestKernel(std::string op, EventLog* log) : op_(std::move(op)), log_(log) {}
  Status Compute(KernelContext& ctx) override {
    const int64_t call = calls_++;
    if (ctx.attr().Has("sleep_us"))
      std::this_thread::sleep_for(std::chrono::microseconds(ctx.attr().GetInt("sleep_us")));
    if (op_ == "fail" && call == ctx.attr().GetInt("fail_at")) {
      return Status::Error("[fail] " + ctx.op_name + ": failing on purpose at call " + std::to_string(call));
    }
    log_->Add(ctx.op_name + ":" + std::to_string(call));
    if (op_ == "counter") {
      ctx.out(0).As<float>()[0] = static_cast<float>(call);
    } else if (op_ == "add_one") {
      for (int64_t i = 0; i < ctx.in(0).NumElements(); ++i)
        ctx.out(0).As<float>()[i] = ctx.in(0).As<float>()[i] + 1;
    } else if (op_ == "add_inplace") {
      for (int64_t i = 0; i < ctx.in(0).NumElements(); ++i) ctx.in(0).As<float>()[i] += 1;
    } else if (!ctx.outputs.empty()) {  // copy, slow_copy, fail
      std::memcpy(ctx.out(0).data, ctx.in(0).data, ctx.out(0).ByteSize());
    }
    return Status::Ok();
  }

 private:
  std::string op_;
  EventLog* log_;
  int64_t calls_ = 0;
};

KernelRegistry TestKernels(EventLog* log) {
  KernelRegistry kernels;
  for (const char* op : {"counter", "add_one", "add_inplace", "copy", "fail"}) {
    const std::string name = op;
    EXPECT_TRUE(kernels
                    .Register(KernelKey{name, DeviceType::kCPU, DType::kF32},
                              [name, log] { return std::make_unique<TestKernel>(name, log); })
                    .ok());
  }
  return kernels;
}

ActorInput In(RegisterId reg, bool mutated = false) { return ActorInput{reg, 0, mutated}; }

HostTensor Vec(std::vector<float> values) {
  return HostTensor::FromVector<float>(Shape{static_cast<int64_t>(values.size())}, values);
}

// input x (f32[3]) on cpu:0 -> add_one on cpu:`device` -> output y.
Plan ChainPlan(int device, const std::string& op = "add_one", AttrMap attrs = {}) {
  PlanBuilder b;
  const ActorId x = b.AddActor(ActorKind::kInput, b.Node("x", "input"), 0, {}, {{F32({3})}});
  const ActorId f =
      b.AddActor(ActorKind::kCompute, b.Node("f", op, attrs), device, {In(b.Out(x))}, {{F32({3})}});
  const ActorId y = b.AddActor(ActorKind::kOutput, b.Node("y", "output"), device, {In(b.Out(f))}, {});
  b.plan().feeds.push_back(FeedDesc{"x", F32({3}), {b.Piece(x)}});
  b.plan().fetches.push_back(FetchDesc{"y", F32({3}), CombineMode::kCopy, {b.Piece(y)}});
  return b.Finish();
}

std::unique_ptr<Runtime> Load(Plan plan, const KernelRegistry& kernels) {
  StatusOr<std::unique_ptr<Runtime>> runtime = Runtime::Load(std::move(plan), kernels);
  EXPECT_TRUE(runtime.ok()) << runtime.status().message();
  return runtime.ok() ? std::move(runtime).value() : nullptr;
}

TEST(RuntimeTest, ChainPreservesStepOrderAcrossDevices) {
  EventLog log;
  const KernelRegistry kernels = TestKernels(&log);
  std::unique_ptr<Runtime> rt = Load(ChainPlan(1), kernels);
  ASSERT_NE(rt, nullptr);
  auto feeds = [](int64_t step) -> StatusOr<TensorMap> {
    return TensorMap{{"x", Vec({float(step), float(2 * step), -1})}};
  };
  StatusOr<std::vector<TensorMap>> fetched = rt->Run(20, feeds);
  ASSERT_TRUE(fetched.ok()) << fetched.status().message();
  ASSERT_EQ(fetched.value().size(), 20u);
  for (int step = 0; step < 20; ++step) {
    EXPECT_EQ(fetched.value()[step].at("y").ToDoubles(), (std::vector<double>{step + 1.0, 2 * step + 1.0, 0}))
        << "step " << step;
  }
  // A second run continues with the same actors' kernels; RunStep is one step.
  StatusOr<TensorMap> one = rt->RunStep({{"x", Vec({5, 6, 7})}});
  ASSERT_TRUE(one.ok()) << one.status().message();
  EXPECT_EQ(one.value().at("y").ToDoubles(), (std::vector<double>{6, 7, 8}));
  EXPECT_EQ(log.Snapshot().size(), 21u);
  // Zero steps run nothing.
  StatusOr<std::vector<TensorMap>> none = rt->Run(0, feeds);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none.value().empty());
}

// A fast producer (register count K) feeding a slow consumer on another
// thread never gets more than K steps ahead of it.
TEST(RuntimeTest, ProducerRunsAtMostRegisterCountAhead) {
  for (int count : {1, 2, 3}) {
    SCOPED_TRACE("count " + std::to_string(count));
    EventLog log;
    const KernelRegistry kernels = TestKernels(&log);
    PlanBuilder b;
    const ActorId p = b.AddActor(ActorKind::kCompute, b.Node("P", "counter"), 0, {}, {{F32({1})}}, count);
    const ActorId c = b.AddActor(ActorKind::kCompute, b.Node("C", "copy", {{"sleep_us", int64_t{2000}}}), 1,
                                 {In(b.Out(p))}, {{F32({1})}});
    const ActorId y = b.AddActor(ActorKind::kOutput, b.Node("y", "output"), 1, {In(b.Out(c))}, {});
    b.plan().fetches.push_back(FetchDesc{"y", F32({1}), CombineMode::kCopy, {b.Piece(y)}});
    std::unique_ptr<Runtime> rt = Load(b.Finish(), kernels);
    ASSERT_NE(rt, nullptr);
    const int steps = 12;
    StatusOr<std::vector<TensorMap>> fetched = rt->Run(steps, nullptr);
    ASSERT_TRUE(fetched.ok()) << fetched.status().message();
    for (int step = 0; step < steps; ++step) EXPECT_EQ(fetched.value()[step].at("y").GetAsDouble(0), step);
    int produced = 0, consumed = 0, max_lead = 0;
    for (const std::string& event : log.Snapshot()) {
      if (event[0] == 'P') {
        // P writing step n reuses the copy C frees after finishing step n -
        // count, so C has finished at least n - count + 1 steps.
        EXPECT_LE(produced - consumed, count - 1)
            << "P ran step " << produced << " when C had finished " << consumed;
        max_lead = std::max(max_lead, produced - consumed);
        ++produced;
      } else {
        ++consumed;
      }
    }
    EXPECT_EQ(produced, steps);
    EXPECT_EQ(consumed, steps);
    // With a consumer this slow the producer does use all its copies.
    EXPECT_EQ(max_lead, count - 1);
  }
}

// Readers of a variable see this step's old value; the in-place writer runs
// after them, and the next step sees the new value.
TEST(RuntimeTest, InPlaceUpdateWaitsForEveryReader) {
  EventLog log;
  const KernelRegistry kernels = TestKernels(&log);
  PlanBuilder b;
  const ActorId v = b.AddActor(ActorKind::kVariable, b.Node("v", "variable"), 0, {}, {{F32({2})}});
  const ActorId r1 =
      b.AddActor(ActorKind::kCompute, b.Node("slow_reader", "copy", {{"sleep_us", int64_t{1500}}}), 1,
                 {In(b.Out(v))}, {{F32({2})}});
  const ActorId r2 =
      b.AddActor(ActorKind::kCompute, b.Node("reader", "copy"), 2, {In(b.Out(v))}, {{F32({2})}});
  b.AddActor(ActorKind::kCompute, b.Node("update", "add_inplace"), 0, {In(b.Out(v), true)}, {});
  const ActorId y1 = b.AddActor(ActorKind::kOutput, b.Node("y1", "output"), 1, {In(b.Out(r1))}, {});
  const ActorId y2 = b.AddActor(ActorKind::kOutput, b.Node("y2", "output"), 2, {In(b.Out(r2))}, {});
  b.plan().variables.push_back(VariableDesc{
      "v", F32({2}), AttrMap{{"initializer", std::string("constant")}, {"value", 10.0}}, {b.Piece(v)}});
  b.plan().fetches.push_back(FetchDesc{"y1", F32({2}), CombineMode::kCopy, {b.Piece(y1)}});
  b.plan().fetches.push_back(FetchDesc{"y2", F32({2}), CombineMode::kCopy, {b.Piece(y2)}});
  std::unique_ptr<Runtime> rt = Load(b.Finish(), kernels);
  ASSERT_NE(rt, nullptr);
  StatusOr<std::vector<TensorMap>> fetched = rt->Run(8, nullptr);
  ASSERT_TRUE(fetched.ok()) << fetched.status().message();
  for (int step = 0; step < 8; ++step) {
    EXPECT_EQ(fetched.value()[step].at("y1").ToDoubles(), (std::vector<double>{10.0 + step, 10.0 + step}));
    EXPECT_EQ(fetched.value()[step].at("y2").ToDoubles(), (std::vector<double>{10.0 + step, 10.0 + step}));
  }
  StatusOr<HostTensor> value = rt->ReadVariable("v");
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(value.value().ToDoubles(), (std::vector<double>{18, 18}));
  // Every update comes after both reads of its step.
  int reads = 0, updates = 0;
  for (const std::string& event : log.Snapshot()) {
    if (event.rfind("update", 0) == 0) {
      EXPECT_EQ(reads, 2 * (updates + 1)) << "update " << updates << " ran before both reads of its step";
      ++updates;
    } else if (event.rfind("y", 0) != 0) {
      ++reads;
    }
  }
  EXPECT_EQ(updates, 8);
}

// Collectives run as copy programs over their group's inputs; boxing copy
// actors fill with the identity and apply their transfers.
TEST(RuntimeTest, CollectiveAndBoxingCopyPrograms) {
  EventLog log;
  const KernelRegistry kernels = TestKernels(&log);
  PlanBuilder b;
  const int64_t x_node = b.Node("x", "input");
  // x f32[4] split over two devices.
  const ActorId x0 = b.AddActor(ActorKind::kInput, x_node, 0, {}, {{F32({2}), Shape{4}, {0}}});
  const ActorId x1 = b.AddActor(ActorKind::kInput, x_node, 1, {}, {{F32({2}), Shape{4}, {2}}});
  // all_gather to B on both devices.
  const int64_t gather = b.Node("gather", "boxing", {{"kind", std::string("all_gather")}});
  const ActorId g0 = b.AddActor(ActorKind::kCollective, gather, 0, {In(b.Out(x0)), In(b.Out(x1))},
                                {{F32({4})}}, 1, StreamKind::kComm);
  const ActorId g1 = b.AddActor(ActorKind::kCollective, gather, 1, {In(b.Out(x0)), In(b.Out(x1))},
                                {{F32({4})}}, 1, StreamKind::kComm);
  for (ActorId g : {g0, g1}) {
    BoxingProgram& program = b.plan().actors[g].boxing;
    program.collective = CollectiveKind::kAllGather;
    program.mesh_axis = 0;
    program.group = {g0, g1};
    program.group_rank = g == g0 ? 0 : 1;
  }
  // A max-combining copy actor on cpu:1: max of both gathered copies and a -inf
  // fill = the gathered tensor.
  const ActorId m = b.AddActor(ActorKind::kBoxingCopy, b.Node("maxed", "boxing"), 1,
                               {In(b.Out(g0)), In(b.Out(g1))}, {{F32({4})}}, 1, StreamKind::kCopy);
  b.plan().actors[m].boxing.fill = CombineMode::kMax;
  b.plan().actors[m].boxing.transfers = {Transfer{0, Region{{0}, {3}}, CombineMode::kMax},
                                         Transfer{1, Region{{1}, {4}}, CombineMode::kMax}};
  // A sum of the two halves' pieces into one [4] (fill 0, sum transfers).
  const ActorId s = b.AddActor(ActorKind::kBoxingCopy, b.Node("summed", "boxing"), 0,
                               {In(b.Out(g0)), In(b.Out(g1))}, {{F32({4})}}, 1, StreamKind::kCopy);
  b.plan().actors[s].boxing.fill = CombineMode::kSum;
  b.plan().actors[s].boxing.transfers = {Transfer{0, Region{{0}, {4}}, CombineMode::kSum},
                                         Transfer{1, Region{{2}, {4}}, CombineMode::kSum}};
  const ActorId ym = b.AddActor(ActorKind::kOutput, b.Node("ym", "output"), 1, {In(b.Out(m))}, {});
  const ActorId ys = b.AddActor(ActorKind::kOutput, b.Node("ys", "output"), 0, {In(b.Out(s))}, {});
  const ActorId yg = b.AddActor(ActorKind::kOutput, b.Node("yg", "output"), 1, {In(b.Out(g1))}, {});
  b.plan().feeds.push_back(FeedDesc{"x", F32({4}), {b.Piece(x0), b.Piece(x1)}});
  b.plan().fetches.push_back(FetchDesc{"gathered", F32({4}), CombineMode::kCopy, {b.Piece(yg)}});
  b.plan().fetches.push_back(FetchDesc{"maxed", F32({4}), CombineMode::kCopy, {b.Piece(ym)}});
  b.plan().fetches.push_back(FetchDesc{"summed", F32({4}), CombineMode::kCopy, {b.Piece(ys)}});
  std::unique_ptr<Runtime> rt = Load(b.Finish(), kernels);
  ASSERT_NE(rt, nullptr);
  StatusOr<std::vector<TensorMap>> fetched = rt->Run(3, [](int64_t step) -> StatusOr<TensorMap> {
    return TensorMap{{"x", Vec({1, -2, 3, float(step)})}};
  });
  ASSERT_TRUE(fetched.ok()) << fetched.status().message();
  for (int step = 0; step < 3; ++step) {
    const TensorMap& f = fetched.value()[step];
    EXPECT_EQ(f.at("gathered").ToDoubles(), (std::vector<double>{1, -2, 3, double(step)}));
    EXPECT_EQ(f.at("maxed").ToDoubles(), (std::vector<double>{1, -2, 3, double(step)}));
    EXPECT_EQ(f.at("summed").ToDoubles(), (std::vector<double>{1, -2, 6, 2.0 * step}));
  }
}

TEST(RuntimeTest, KernelErrorStopsEveryActorAndNamesTheActor) {
  EventLog log;
  const KernelRegistry kernels = TestKernels(&log);
  PlanBuilder b;
  // A failing chain on cpu:1 next to an independent chain on cpu:0 that would
  // run forever-ish.
  const ActorId p = b.AddActor(ActorKind::kCompute, b.Node("P", "counter"), 0, {}, {{F32({1})}});
  const ActorId bad = b.AddActor(ActorKind::kCompute, b.Node("block1/bad", "fail", {{"fail_at", int64_t{3}}}),
                                 1, {In(b.Out(p))}, {{F32({1})}});
  const ActorId q = b.AddActor(ActorKind::kCompute, b.Node("Q", "counter"), 2, {}, {{F32({1})}});
  const ActorId c = b.AddActor(ActorKind::kCompute, b.Node("C", "copy", {{"sleep_us", int64_t{200}}}), 2,
                               {In(b.Out(q))}, {{F32({1})}});
  b.AddActor(ActorKind::kOutput, b.Node("y", "output"), 1, {In(b.Out(bad))}, {});
  b.AddActor(ActorKind::kOutput, b.Node("z", "output"), 2, {In(b.Out(c))}, {});
  std::unique_ptr<Runtime> rt = Load(b.Finish(), kernels);
  ASSERT_NE(rt, nullptr);
  const auto start = std::chrono::steady_clock::now();
  StatusOr<std::vector<TensorMap>> fetched = rt->Run(100000, nullptr);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_FALSE(fetched.ok());
  const std::string message = fetched.status().message();
  EXPECT_NE(message.find("[runtime] actor a1 'block1/bad' (op fail) on cpu:1, step 3"), std::string::npos)
      << message;
  EXPECT_NE(message.find("failing on purpose"), std::string::npos) << message;
  // The other chain stopped too (it would take ~20 s to finish 100000 steps).
  EXPECT_LT(seconds, 10.0);
  int other = 0;
  for (const std::string& event : log.Snapshot()) other += event[0] == 'C';
  EXPECT_LT(other, 100000);
}

TEST(RuntimeTest, BadFeedsAreErrorsNamingTheFeed) {
  EventLog log;
  const KernelRegistry kernels = TestKernels(&log);
  std::unique_ptr<Runtime> rt = Load(ChainPlan(1), kernels);
  ASSERT_NE(rt, nullptr);
  struct Case {
    TensorMap feeds;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{{"x", HostTensor::FromVector<float>(Shape{4}, {1, 2, 3, 4})}},
       "feed 'x': expected f32[3], got f32[4]"},
      {{{"x", HostTensor::FromVector<int32_t>(Shape{3}, {1, 2, 3})}},
       "feed 'x': expected f32[3], got i32[3]"},
      {{}, "feed 'x' is missing"},
      {{{"x", Vec({1, 2, 3})}, {"typo", Vec({1})}}, "feed 'typo' is not an input of the plan"},
  };
  for (const Case& c : cases) {
    StatusOr<TensorMap> fetched = rt->RunStep(c.feeds);
    ASSERT_FALSE(fetched.ok()) << c.expected;
    EXPECT_NE(fetched.status().message().find(c.expected), std::string::npos) << fetched.status().message();
    EXPECT_NE(fetched.status().message().find("actor a0 'x' (op input) on cpu:0, step 0"), std::string::npos)
        << fetched.status().message();
  }
  // A feed function failing at step 2 stops the run mid-way.
  StatusOr<std::vector<TensorMap>> fetched = rt->Run(5, [](int64_t step) -> StatusOr<TensorMap> {
    if (step == 2) return Status::Error("no more data");
    return TensorMap{{"x", Vec({1, 2, 3})}};
  });
  ASSERT_FALSE(fetched.ok());
  EXPECT_NE(fetched.status().message().find("step 2: the feed function failed: no more data"),
            std::string::npos)
      << fetched.status().message();
  // The runtime still works afterwards.
  StatusOr<TensorMap> good = rt->RunStep({{"x", Vec({1, 2, 3})}});
  ASSERT_TRUE(good.ok()) << good.status().message();
  EXPECT_EQ(good.value().at("y").ToDoubles(), (std::vector<double>{2, 3, 4}));
}

TEST(RuntimeTest, CancelStopsARunningJob) {
  EventLog log;
  const KernelRegistry kernels = TestKernels(&log);
  std::unique_ptr<Runtime> rt = Load(ChainPlan(1, "copy", {{"sleep_us", int64_t{100}}}), kernels);
  ASSERT_NE(rt, nullptr);
  // Cancel is a no-op while no run is in progress: keep trying until Run
  // returns.
  std::atomic<bool> returned{false};
  std::thread canceller([&] {
    while (!returned.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      rt->Cancel();
    }
  });
  StatusOr<std::vector<TensorMap>> fetched = rt->Run(1000000, [](int64_t) -> StatusOr<TensorMap> {
    return TensorMap{{"x", Vec({1, 2, 3})}};
  });
  returned.store(true);
  canceller.join();
  ASSERT_FALSE(fetched.ok());
  EXPECT_NE(fetched.status().message().find("cancelled"), std::string::npos) << fetched.status().message();
}

TEST(RuntimeTest, DeadlockedPlanIsAnErrorNotAHang) {
  EventLog log;
  const KernelRegistry kernels = TestKernels(&log);
  PlanBuilder b;
  const ActorId p = b.AddActor(ActorKind::kCompute, b.Node("P", "counter"), 0, {}, {{F32({1})}});
  b.AddActor(ActorKind::kOutput, b.Node("y", "output"), 0, {In(b.Out(p))}, {});
  // Two actors waiting for each other.
  const ActorId a = b.AddActor(ActorKind::kCompute, b.Node("A", "copy"), 1, {}, {{F32({1})}});
  const ActorId c = b.AddActor(ActorKind::kCompute, b.Node("B", "copy"), 1, {In(b.Out(a))}, {{F32({1})}});
  b.plan().actors[a].inputs = {In(b.Out(c))};
  std::unique_ptr<Runtime> rt = Load(b.Finish(), kernels);
  ASSERT_NE(rt, nullptr);
  StatusOr<std::vector<TensorMap>> fetched = rt->Run(3, nullptr);
  ASSERT_FALSE(fetched.ok());
  EXPECT_NE(fetched.status().message().find("deadlock"), std::string::npos) << fetched.status().message();
  EXPECT_NE(fetched.status().message().find("'A' (op copy)"), std::string::npos)
      << fetched.status().message();
}

TEST(RuntimeTest, LoadErrors) {
  EventLog log;
  const KernelRegistry kernels = TestKernels(&log);
  Plan plan = ChainPlan(1, "no_such_op");
  StatusOr<std::unique_ptr<Runtime>> rt = Runtime::Load(plan, kernels);
  ASSERT_FALSE(rt.ok());
  EXPECT_NE(rt.status().message().find("[runtime] actor a1 'f' (op no_such_op) on cpu:1"), std::string::npos)
      << rt.status().message();
  plan = ChainPlan(1);
  plan.registers[0].consumers.clear();  // invalid: the plan is validated first
  rt = Runtime::Load(plan, kernels);
  ASSERT_FALSE(rt.ok());
  EXPECT_EQ(rt.status().message().rfind("[plan]", 0), 0u) << rt.status().message();
}

// Variables: exact fills, seeded random initialisers equal piecewise to a
// single-device run, reads and writes through the pieces.
TEST(RuntimeTest, VariablesInitialiseReadAndWrite) {
  const KernelRegistry& kernels = DefaultRegistries().kernels;
  auto plan_with = [](const AttrMap& init, int pieces, bool partial = false) {
    PlanBuilder b;
    const int64_t node = b.Node("w", "variable", init);
    std::vector<TensorPiece> list;
    for (int p = 0; p < pieces; ++p) {
      const int64_t rows = partial ? 6 : 6 / pieces;
      const ActorId v = b.AddActor(ActorKind::kVariable, node, p, {},
                                   {{F32({rows, 5}), Shape{6, 5}, {partial ? 0 : rows * p, 0}}});
      list.push_back(b.Piece(v, partial && p > 0));
    }
    b.plan().variables.push_back(VariableDesc{"w", F32({6, 5}), init, list});
    return b.Finish();
  };
  for (const AttrMap& init :
       {AttrMap{{"initializer", std::string("normal")}, {"mean", 1.0}, {"std", 2.0}, {"seed", int64_t{7}}},
        AttrMap{{"initializer", std::string("uniform")}, {"low", -1.0}, {"high", 3.0}, {"seed", int64_t{9}}},
        AttrMap{{"initializer", std::string("constant")}, {"value", 0.25}},
        AttrMap{{"initializer", std::string("ones")}}}) {
    SCOPED_TRACE(init.ToString());
    std::unique_ptr<Runtime> one = Load(plan_with(init, 1), kernels);
    std::unique_ptr<Runtime> three = Load(plan_with(init, 3), kernels);
    ASSERT_NE(one, nullptr);
    ASSERT_NE(three, nullptr);
    const std::vector<double> a = one->ReadVariable("w").value().ToDoubles();
    EXPECT_EQ(a, three->ReadVariable("w").value().ToDoubles());
    const std::string kind = init.GetString("initializer");
    if (kind == "constant") {
      EXPECT_EQ(a, std::vector<double>(30, 0.25));
    } else if (kind == "ones") {
      EXPECT_EQ(a, std::vector<double>(30, 1.0));
    } else if (kind == "uniform") {
      for (double value : a) EXPECT_TRUE(value >= -1 && value < 3) << value;
    } else {
      EXPECT_NE(a[0], a[1]);
    }
  }
  // Partial-sum pieces: the first holds the value, the others zeros.
  std::unique_ptr<Runtime> partial =
      Load(plan_with(AttrMap{{"initializer", std::string("ones")}}, 2, true), kernels);
  ASSERT_NE(partial, nullptr);
  EXPECT_EQ(partial->ReadVariable("w").value().ToDoubles(), std::vector<double>(30, 1.0));

  std::unique_ptr<Runtime> three = Load(plan_with(AttrMap{}, 3), kernels);
  ASSERT_NE(three, nullptr);
  EXPECT_EQ(three->ReadVariable("w").value().ToDoubles(), std::vector<double>(30, 0.0));  // zeros by default
  std::vector<float> values(30);
  for (int i = 0; i < 30; ++i) values[i] = 0.5f * i;
  const HostTensor value = HostTensor::FromVector<float>(Shape{6, 5}, values);
  ASSERT_TRUE(three->WriteVariable("w", value).ok());
  EXPECT_EQ(three->ReadVariable("w").value().ToDoubles(), value.ToDoubles());
  EXPECT_FALSE(three->WriteVariable("w", Vec({1})).ok());
  EXPECT_FALSE(three->ReadVariable("nope").ok());
  StatusOr<std::unique_ptr<Runtime>> bad =
      Runtime::Load(plan_with(AttrMap{{"initializer", std::string("normal")}}, 1), kernels);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("variable 'w': a normal initializer needs a seed"), std::string::npos)
      << bad.status().message();
  // Memory: three pieces of 2x5 f32 (40 bytes, one 64-byte aligned copy each).
  const std::vector<runtime::DeviceAllocation> memory = three->Allocations();
  ASSERT_EQ(memory.size(), 3u);
  EXPECT_EQ(memory[1].bytes, 64);
  EXPECT_EQ(memory[1].persistent_bytes, 64);
}

}  // namespace
}  // namespace ofl::testing

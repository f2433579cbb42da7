// Runtime overhead benchmark (issue 4): what the actor runtime itself costs,
// with kernels that do (almost) nothing.
//
//   chain-1thread   1,000 compute actors in a chain (each copies one float,
//                   register count 2) on cpu:0: per-hop cost in us =
//                   time / (steps x hops). Goal: under 2 us.
//   chain-2threads  the same chain alternating cpu:0 / cpu:1, so every hop
//                   crosses threads. Goal: under 10 us.
//   plan-1000       the per-step time the 1,000-actor plan adds: pipelined
//                   (Run(steps) / steps) and one step at a time (RunStep, the
//                   latency a host loop sees, thread start-up included).
//                   Goal: under 2 ms per step (pipelined).
//   mlp-1dev/4dev   steps per second of a tiny compiled graph through
//                   api::Session: x[16,8] -> 8 -> relu -> 4, sparse
//                   softmax cross entropy, SGD; 1 device and data parallel 4.
//
//   runtime_bench [--json FILE] [--quick]
//
// --quick: fewer steps (a CI smoke run). Every time is the median of 3 runs
// (1 with --quick) after one warm-up run. Wall clock on a possibly shared
// machine: noisy; the ratio column is measured / goal (below 1 meets it).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "api/api.h"
#include "api/session.h"
#include "oneflow_like/kernel.h"
#include "runtime/runtime.h"
#include "tests/runtime/plan_builder.h"

namespace ofl::bench {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// One result line: `value` in `unit`; goal <= 0 means "no goal, informative".
struct Row {
  std::string name;
  std::string metric;
  double value = 0;
  std::string unit;
  double goal = 0;
  std::string error;
};

// The kernel of every chain actor: copy the input (if any) to the output.
KernelRegistry TinyKernels() {
  KernelRegistry kernels;
  Status status = kernels.Register(KernelKey{"tiny_copy", DeviceType::kCPU, DType::kF32},
                                   MakeFunctionKernel([](KernelContext& ctx) {
                                     if (!ctx.outputs.empty()) {
                                       if (ctx.inputs.empty())
                                         ctx.out(0).As<float>()[0] = 1;
                                       else
                                         std::memcpy(ctx.out(0).data, ctx.in(0).data, ctx.out(0).ByteSize());
                                     }
                                     return Status::Ok();
                                   }));
  if (!status.ok()) std::fprintf(stderr, "%s\n", status.message().c_str());
  return kernels;
}

// `actors` tiny_copy actors in a chain (the first a source), the last fetched
// as "y"; actor i runs on cpu:(i % devices).
Plan ChainPlan(int actors, int devices) {
  testing::PlanBuilder b;
  const TensorDesc desc{Shape{1}, DType::kF32};
  ActorId previous = -1;
  for (int i = 0; i < actors; ++i) {
    std::vector<ActorInput> inputs;
    if (previous >= 0) inputs.push_back(ActorInput{b.Out(previous), 0, false});
    previous = b.AddActor(ActorKind::kCompute, b.Node("a" + std::to_string(i), "tiny_copy"), i % devices,
                          inputs, {{desc}}, /*count=*/2);
  }
  const ActorId y = b.AddActor(ActorKind::kOutput, b.Node("y", "output"), (actors - 1) % devices,
                               {ActorInput{b.Out(previous), 0, false}}, {});
  b.plan().fetches.push_back(FetchDesc{"y", desc, CombineMode::kCopy, {b.Piece(y)}});
  return b.Finish();
}

// Median seconds of `runs` calls of `body` (after one warm-up call); an
// error stops and is returned in `error`.
double TimeRuns(int runs, const std::function<Status()>& body, std::string& error) {
  Status warm = body();
  if (!warm.ok()) {
    error = warm.message();
    return 0;
  }
  std::vector<double> seconds;
  for (int r = 0; r < runs; ++r) {
    const Clock::time_point start = Clock::now();
    Status status = body();
    seconds.push_back(SecondsSince(start));
    if (!status.ok()) {
      error = status.message();
      return 0;
    }
  }
  return Median(seconds);
}

void ChainRows(bool quick, int runs, std::vector<Row>& rows) {
  const KernelRegistry kernels = TinyKernels();
  constexpr int kActors = 1000;
  const int steps = quick ? 20 : 200;
  const runtime::FeedFunction no_feeds = [](int64_t) -> StatusOr<runtime::TensorMap> {
    return runtime::TensorMap{};
  };
  for (int devices : {1, 2}) {
    Row row{devices == 1 ? "chain-1thread" : "chain-2threads", "per hop", 0, "us", devices == 1 ? 2.0 : 10.0};
    StatusOr<std::unique_ptr<runtime::Runtime>> loaded =
        runtime::Runtime::Load(ChainPlan(kActors, devices), kernels);
    if (!loaded.ok()) {
      row.error = loaded.status().message();
      rows.push_back(row);
      continue;
    }
    runtime::Runtime& rt = *loaded.value();
    const double seconds = TimeRuns(
        runs, [&] { return rt.Run(steps, no_feeds).status(); }, row.error);
    // Hops: actor -> actor edges plus the last one into the output actor.
    row.value = seconds * 1e6 / (static_cast<double>(steps) * kActors);
    rows.push_back(row);
    if (devices != 1) continue;
    Row pipelined{"plan-1000", "per step, pipelined", seconds * 1e3 / steps, "ms", 2.0, row.error};
    rows.push_back(pipelined);
    Row single{"plan-1000", "per step, RunStep", 0, "ms", 0};
    const int single_steps = quick ? 5 : 50;
    const double total = TimeRuns(
        runs,
        [&]() -> Status {
          for (int s = 0; s < single_steps; ++s) OFL_RETURN_IF_ERROR(rt.RunStep({}).status());
          return Status::Ok();
        },
        single.error);
    single.value = total * 1e3 / single_steps;
    rows.push_back(single);
  }
}

void MlpRows(bool quick, int runs, std::vector<Row>& rows) {
  const int steps = quick ? 20 : 200;
  for (int devices : {1, 4}) {
    Row row{"mlp-" + std::to_string(devices) + "dev", "steps/s", 0, "1/s", 0};
    api::GraphBuilder builder(Placement::Linear(DeviceType::kCPU, devices), {.seed = 1});
    api::Tensor x = builder.Input("x", Shape{16, 8});
    api::Tensor labels = builder.Input("labels", Shape{16}, DType::kI64);
    if (devices > 1) {
      x = x.WithSbp("S(0)");
      labels = labels.WithSbp("S(0)");
    }
    api::Tensor logits = api::nn::Mlp(x, {8, 4}, "mlp");
    api::Tensor loss = api::SparseSoftmaxCrossEntropy(logits, labels).loss;
    builder.Fetch("loss", loss);
    builder.Minimize(loss, api::Optimizer::Sgd(0.1));
    StatusOr<std::unique_ptr<api::Session>> session = api::Session::Create(builder);
    if (!session.ok()) {
      row.error = session.status().message();
      rows.push_back(row);
      continue;
    }
    HostTensor xs(TensorDesc{Shape{16, 8}, DType::kF32});
    HostTensor ys(TensorDesc{Shape{16}, DType::kI64});
    for (int64_t i = 0; i < 16 * 8; ++i) xs.data<float>()[i] = static_cast<float>(std::sin(0.37 * i));
    for (int64_t i = 0; i < 16; ++i) ys.data<int64_t>()[i] = i % 4;
    const runtime::TensorMap batch{{"x", xs}, {"labels", ys}};
    const double seconds = TimeRuns(
        runs,
        [&] {
          return session.value()
              ->Run(steps, [&](int64_t) -> StatusOr<runtime::TensorMap> { return batch; })
              .status();
        },
        row.error);
    row.value = seconds > 0 ? steps / seconds : 0;
    rows.push_back(row);
    Row actors{"mlp-" + std::to_string(devices) + "dev", "actors", 0, "", 0};
    actors.value = static_cast<double>(session.value()->compiled().plan.actors.size());
    rows.push_back(actors);
  }
}

std::string JsonString(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20)
      out += ' ';
    else
      out += c;
  }
  return out + "\"";
}

int Main(int argc, char** argv) {
  std::string json_path;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--json" && i + 1 < argc) {
      json_path = argv[++i];
    } else if (arg == "--quick") {
      quick = true;
    } else {
      std::fprintf(stderr, "usage: runtime_bench [--json FILE] [--quick]\n");
      return 2;
    }
  }
  const int runs = quick ? 1 : 3;
  std::vector<Row> rows;
  ChainRows(quick, runs, rows);
  MlpRows(quick, runs, rows);

  bool failed = false;
  std::printf("%-16s %-22s %12s %-4s %8s %8s\n", "case", "metric", "value", "unit", "goal", "ratio");
  for (const Row& row : rows) {
    if (!row.error.empty()) {
      std::printf("%-16s %-22s error: %s\n", row.name.c_str(), row.metric.c_str(), row.error.c_str());
      failed = true;
      continue;
    }
    if (row.goal > 0) {
      std::printf("%-16s %-22s %12.3f %-4s %8.3g %8.2f%s\n", row.name.c_str(), row.metric.c_str(), row.value,
                  row.unit.c_str(), row.goal, row.value / row.goal, row.value > row.goal ? "  MISSED" : "");
    } else {
      std::printf("%-16s %-22s %12.3f %-4s %8s %8s\n", row.name.c_str(), row.metric.c_str(), row.value,
                  row.unit.c_str(), "-", "-");
    }
  }
  if (!json_path.empty()) {
    std::string json =
        "{\"benchmark\": \"runtime\", \"quick\": " + std::string(quick ? "true" : "false") + ", \"rows\": [";
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& row = rows[i];
      json += std::string(i == 0 ? "" : ",\n  ") + "{\"case\": " + JsonString(row.name) +
              ", \"metric\": " + JsonString(row.metric) + ", \"unit\": " + JsonString(row.unit);
      if (!row.error.empty()) {
        json += ", \"error\": " + JsonString(row.error) + "}";
        continue;
      }
      char number[64];
      std::snprintf(number, sizeof(number), "%.6g", row.value);
      json += ", \"value\": " + std::string(number);
      if (row.goal > 0) {
        std::snprintf(number, sizeof(number), "%.6g", row.value / row.goal);
        json += ", \"goal\": " + std::to_string(row.goal) + ", \"ratio\": " + number;
      }
      json += "}";
    }
    json += "]}\n";
    std::ofstream(json_path) << json;
    std::printf("wrote %s\n", json_path.c_str());
  }
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace ofl::bench

int main(int argc, char** argv) { return ofl::bench::Main(argc, argv); }

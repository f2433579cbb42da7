// Pipeline benchmark (issue 6): how close the schedule that emerges from
// register counts comes to the ideal pipeline, and what it keeps in memory.
//
// The model: S stages on S virtual CPU devices, each a tiny Linear [4 -> 4]
// followed by a delay op that sleeps `delay` microseconds in forward and in
// backward (so stages take a known time without competing for the 2 cores),
// trained with SGD on a batch of M rows split into M micro-batches. One
// micro-batch costs about 2 x delay per stage; t is measured on the act
// trace (the slowest stage's compute time in the micro-batch region / M:
// the delays as they really slept, which overshoot by tens of
// microseconds, plus the small kernels), and the ideal step is
// (M + S - 1) x t (fill and drain of the pipeline once per step, as the
// optimizer waits for every micro-batch). For each S in --stages and M in
// --micro it prints the measured step time (median of --runs runs of
// --steps steps, after a warm-up run), the efficiency ideal / measured, and
// the peak activations kept for backward on stage 0 (in micro-batches, from
// the act trace: runtime/trace_summary.h) with the 1F1B counts (stage s
// keeps S - s) and with a GPipe order (every stage may keep M: all
// forwards, then all backwards).
//
//   pipeline_bench [--stages 2,4,8] [--micro 1,2,4,8,16,32] [--delay 2000]
//                  [--steps 5] [--runs 3] [--json FILE] [--quick]
//
// Goal: efficiency >= 95% for M >= 4S, and stage 0's peak at most S (1F1B)
// where GPipe's is M.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "api/api.h"
#include "api/session.h"
#include "runtime/trace_summary.h"

namespace ofl::bench {
namespace {

using api::GraphBuilder;
using api::Session;
using api::Tensor;

constexpr int64_t kWidth = 4;

struct Options {
  std::vector<int> stages = {2, 4, 8};
  std::vector<int> micro = {1, 2, 4, 8, 16, 32};
  int64_t delay_us = 2000;
  int steps = 5;
  int runs = 3;
  std::string json;
};

struct Row {
  int stages = 0;
  int micro = 0;
  double micro_ms = 0;  // t: per micro-batch, slowest stage, as measured
  double ideal_ms = 0;  // (M + S - 1) t
  double measured_ms = 0;
  double efficiency = 0;
  double peak_1f1b = 0;   // stage 0, micro-batches
  double peak_gpipe = 0;  // stage 0, micro-batches
};

Placement Device(int index) {
  return Placement::Create(DeviceType::kCPU, {DeviceId{DeviceType::kCPU, 0, index}}, Shape{1}).value();
}

StatusOr<std::unique_ptr<Session>> MakeSession(int stages, int micro, int64_t delay_us,
                                               int64_t max_in_flight) {
  GraphBuilder builder(Device(0), {.seed = 5});
  Tensor h;
  for (int stage = 0; stage < stages; ++stage) {
    api::Scope scope(builder, "stage" + std::to_string(stage),
                     {.placement = Device(stage), .pipeline_stage = stage});
    if (stage == 0) h = builder.Input("x", Shape{micro, kWidth});
    h = api::Delay(api::nn::Linear(h, kWidth, "fc"), delay_us);
    if (stage == stages - 1) {
      Tensor loss = api::ReduceMean(h * h);
      builder.Fetch("loss", loss);
      builder.Minimize(loss, api::Optimizer::Sgd(0.01).WithMicroBatches(micro, max_in_flight));
    }
  }
  if (!builder.ok()) return builder.status();
  return Session::Create(builder);
}

runtime::TensorMap Feed(int micro) {
  HostTensor x(TensorDesc{Shape{micro, kWidth}, DType::kF32});
  for (int64_t i = 0; i < x.NumElements(); ++i) x.data<float>()[i] = 0.01f * static_cast<float>(i % 7);
  return {{"x", x}};
}

// Runs `steps` steps with the trace on; returns the wall time and the trace.
StatusOr<std::pair<double, std::vector<runtime::ActEvent>>> TracedRun(Session& session, int micro,
                                                                      int steps) {
  const runtime::TensorMap feed = Feed(micro);
  session.runtime().SetTraceEnabled(true);
  const auto start = std::chrono::steady_clock::now();
  const Status status =
      session.Run(steps, [&](int64_t) -> StatusOr<runtime::TensorMap> { return feed; }).status();
  const double milliseconds =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  session.runtime().SetTraceEnabled(false);
  std::vector<runtime::ActEvent> trace = session.runtime().TakeTrace();
  OFL_RETURN_IF_ERROR(status);
  return std::make_pair(milliseconds, std::move(trace));
}

// Stage 0's peak kept activations in `trace`.
double PeakOnStageZero(const Plan& plan, const std::vector<runtime::ActEvent>& trace) {
  const std::map<DeviceId, double> peak = runtime::PeakKeptActivations(plan, trace);
  auto found = peak.find(DeviceId{DeviceType::kCPU, 0, 0});
  return found == peak.end() ? 0.0 : found->second;
}

// The per-micro-batch time of the slowest stage in `trace` of `steps`
// steps: the time its compute thread spends in forward and backward acts,
// divided by M x steps (the delays as they really slept, plus the small
// kernels; the optimizer's acts, once per step, are left out).
double MicroBatchMilliseconds(const Plan& plan, const std::vector<runtime::ActEvent>& trace, int micro,
                              int steps) {
  std::map<DeviceId, double> busy_ns;
  for (const runtime::ActEvent& event : trace) {
    const Actor& actor = plan.actors[event.actor];
    if (actor.stream != StreamKind::kCompute || plan.nodes[actor.node].role == "optimizer") continue;
    if (actor.kind != ActorKind::kCompute) continue;
    busy_ns[actor.device] += static_cast<double>(event.end_ns - event.start_ns);
  }
  double slowest = 0;
  for (const auto& [device, ns] : busy_ns) slowest = std::max(slowest, ns);
  return slowest / 1e6 / micro / steps;
}

// One row: `runs` traced runs of `steps` steps after a warm-up run; each run
// gives a step time and a t, the row reports the run of median efficiency.
StatusOr<Row> Measure(const Options& options, int stages, int micro) {
  OFL_ASSIGN_OR_RETURN(std::unique_ptr<Session> one_f_one_b, MakeSession(stages, micro, options.delay_us, 0));
  const Plan& plan = one_f_one_b->compiled().plan;
  OFL_RETURN_IF_ERROR(TracedRun(*one_f_one_b, micro, 1).status());
  std::vector<Row> runs;
  for (int run = 0; run < options.runs; ++run) {
    OFL_ASSIGN_OR_RETURN(auto traced, TracedRun(*one_f_one_b, micro, options.steps));
    Row row;
    row.stages = stages;
    row.micro = micro;
    row.measured_ms = traced.first / options.steps;
    row.micro_ms = MicroBatchMilliseconds(plan, traced.second, micro, options.steps);
    row.ideal_ms = static_cast<double>(micro + stages - 1) * row.micro_ms;
    row.efficiency = row.ideal_ms / row.measured_ms;
    row.peak_1f1b = PeakOnStageZero(plan, traced.second);
    runs.push_back(row);
  }
  std::sort(runs.begin(), runs.end(), [](const Row& a, const Row& b) { return a.efficiency < b.efficiency; });
  Row row = runs[runs.size() / 2];
  OFL_ASSIGN_OR_RETURN(std::unique_ptr<Session> gpipe, MakeSession(stages, micro, options.delay_us, micro));
  OFL_ASSIGN_OR_RETURN(auto gpipe_traced, TracedRun(*gpipe, micro, 1));
  row.peak_gpipe = PeakOnStageZero(gpipe->compiled().plan, gpipe_traced.second);
  return row;
}

std::vector<int> ParseList(const std::string& text) {
  std::vector<int> values;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) values.push_back(std::atoi(item.c_str()));
  return values;
}

int Main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "[pipeline_bench] flag %s expects a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--stages") {
      options.stages = ParseList(value());
    } else if (arg == "--micro") {
      options.micro = ParseList(value());
    } else if (arg == "--delay") {
      options.delay_us = std::atoll(value().c_str());
    } else if (arg == "--steps") {
      options.steps = std::atoi(value().c_str());
    } else if (arg == "--runs") {
      options.runs = std::atoi(value().c_str());
    } else if (arg == "--json") {
      options.json = value();
    } else if (arg == "--quick") {
      options.stages = {2, 4};
      options.micro = {1, 8};
      options.delay_us = 1000;
      options.steps = 2;
      options.runs = 1;
    } else {
      std::fprintf(stderr,
                   "usage: pipeline_bench [--stages 2,4,8] [--micro 1,2,4,8,16,32] [--delay US] [--steps N] "
                   "[--runs N] [--json FILE] [--quick]\n");
      return 2;
    }
  }
  for (int value : options.stages) {
    if (value < 1) return std::fprintf(stderr, "[pipeline_bench] --stages: expected counts >= 1\n"), 2;
  }
  for (int value : options.micro) {
    if (value < 1) return std::fprintf(stderr, "[pipeline_bench] --micro: expected counts >= 1\n"), 2;
  }
  if (options.delay_us <= 0 || options.steps < 1 || options.runs < 1) {
    return std::fprintf(stderr, "[pipeline_bench] expected --delay > 0, --steps >= 1, --runs >= 1\n"), 2;
  }

  std::printf(
      "pipeline_bench: delay %lld us per stage in forward and in backward (nominal t = %.1f ms per "
      "micro-batch and "
      "stage; the t column is measured on the act trace: the slowest stage's forward+backward compute time / "
      "M); "
      "ideal step = (M + S - 1) t; peaks: stage 0's kept activations in micro-batches\n",
      static_cast<long long>(options.delay_us), 2.0 * static_cast<double>(options.delay_us) / 1000.0);
  std::printf("%3s %3s %8s %10s %12s %10s %8s %10s %10s\n", "S", "M", "t ms", "ideal ms", "measured ms",
              "efficiency", "goal", "peak 1F1B", "peak GPipe");
  std::vector<Row> rows;
  int missed = 0;
  for (int stages : options.stages) {
    for (int micro : options.micro) {
      StatusOr<Row> row = Measure(options, stages, micro);
      if (!row.ok()) {
        std::fprintf(stderr, "[pipeline_bench] S=%d M=%d: %s\n", stages, micro,
                     row.status().message().c_str());
        return 1;
      }
      const Row& r = row.value();
      const bool goal = micro >= 4 * stages;
      const bool met = !goal || r.efficiency >= 0.95;
      missed += met ? 0 : 1;
      std::printf("%3d %3d %8.3f %10.1f %12.1f %9.1f%% %8s %10.2f %10.2f\n", r.stages, r.micro, r.micro_ms,
                  r.ideal_ms, r.measured_ms, 100.0 * r.efficiency, goal ? (met ? ">=95 ok" : ">=95 NO") : "-",
                  r.peak_1f1b, r.peak_gpipe);
      std::fflush(stdout);
      rows.push_back(r);
    }
  }
  if (!options.json.empty()) {
    std::ofstream out(options.json);
    out << "{\"delay_us\": " << options.delay_us << ", \"rows\": [";
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      out << (i ? ", " : "") << "{\"stages\": " << r.stages << ", \"micro_batches\": " << r.micro
          << ", \"micro_batch_ms\": " << r.micro_ms << ", \"ideal_ms\": " << r.ideal_ms
          << ", \"measured_ms\": " << r.measured_ms << ", \"efficiency\": " << r.efficiency
          << ", \"peak_1f1b\": " << r.peak_1f1b << ", \"peak_gpipe\": " << r.peak_gpipe << "}";
    }
    out << "]}\n";
  }
  std::printf("%s\n", missed == 0 ? "all efficiency goals met" : "some efficiency goals missed");
  return 0;
}

}  // namespace
}  // namespace ofl::bench

int main(int argc, char** argv) { return ofl::bench::Main(argc, argv); }

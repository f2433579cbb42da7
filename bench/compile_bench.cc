// Compile-time benchmark: how long the compiler takes, pass by pass, and how
// big the plan it emits is.
//
//   GPT-2 small (12 layers, d=768, 12 heads, vocab 50257, seq 1024, batch 64,
//   tied LM head, learned positions, no dropout) for training with AdamW,
//   global-norm clipping and warm-up + cosine, compiled for
//     1 device; data parallel [8], [64]; tensor parallel [8], [64]; hybrid
//     data x tensor meshes [2, 4] and [16, 4].
//   12 heads do not divide 8 or 64, so tensor parallel on [8] and [64] runs
//   twice: "tensor-mlp" splits the MLPs and the vocabulary (embedding and
//   tied head) and keeps attention replicated; "tensor-megatron" uses the nn
//   Megatron hints everywhere, which splits the fused q/k/v columns
//   unevenly and off the head boundaries (the compiler must box around it).
//   On the hybrid meshes the tensor axis is 4, which divides 12 heads.
//
//   A synthetic inference graph: a residual chain of blocks
//   y = x + gelu(bias_add(matmul(x, W), b)) (4 ops and 2 variables a block)
//   at 12.5k, 25k and 50k ops, on 1 device and data parallel on 8, to show
//   how compile time grows with op count.
//
// For each case: build time (GraphBuilder calls + Build()), time per pass
// (CompileResult.timings), lowering time, total; nodes after the passes,
// actors, registers, serialised plan bytes, register bytes, boxing nodes by
// kind. Every time is the median of up to 3 runs (fewer when one case takes
// longer than --case-budget seconds; the `runs` column says how many).
//
//   compile_bench [--json FILE] [--quick] [--runs N] [--case-budget S]
//                 [--only SUBSTRING] [--dump-boxing]
//
// --only: the cases whose name contains SUBSTRING; --dump-boxing: print
// every boxing node (name, role, shape, from -> to SBP, kind) of each case.
// --quick: only the cases on 1 and 8 devices and the smallest synthetic
// graph (a CI smoke run). Timings are wall clock on whatever the machine is
// doing meanwhile: on a shared machine they are noisy.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/api.h"
#include "compiler/compile.h"
#include "runtime/plan_proto.h"
#include "runtime/plan_summary.h"

namespace ofl::bench {
namespace {

using Clock = std::chrono::steady_clock;
using api::GraphBuilder;
using api::Tensor;

double MillisecondsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// CPU time of the calling thread: unlike wall time it does not grow when
// other processes share the cores, so growth ratios use it (the compiler
// runs on one thread).
double ThreadCpuMilliseconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) * 1e3 + static_cast<double>(now.tv_nsec) / 1e6;
}

double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t middle = values.size() / 2;
  return values.size() % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
}

// ---- GPT-2 small ------------------------------------------------------------

struct GptConfig {
  int64_t layers = 12;
  int64_t width = 768;
  int64_t heads = 12;
  int64_t vocab = 50257;
  int64_t sequence = 1024;
  int64_t batch = 64;
};

// How one GPT-2 case lays the model out on its mesh. The tensor-parallel
// axis, when there is one, is the mesh's last axis (nn's convention).
struct GptLayout {
  std::string name;       // "data", "tensor-mlp", ...
  Shape mesh;             // the placement's hierarchy
  std::string batch_sbp;  // hint of tokens and labels ("" = none)
  bool attention_parallel = false;
  bool mlp_parallel = false;
  bool vocab_parallel = false;
  std::string note;  // what the table says about this layout
};

// Broadcast on every mesh axis but the last, `last` there: the SBP of a
// tensor-parallel weight (nn's TensorParallelSbp, which is private to nn.cc).
NdSbp TensorAxisSbp(const Placement& placement, Sbp last) {
  NdSbp nd_sbp(placement.hierarchy().rank(), Sbp::Broadcast());
  nd_sbp.back() = last;
  return nd_sbp;
}

// One pre-LN block. When attention and MLP are both (not) tensor parallel
// this is exactly nn::TransformerBlock; otherwise the same layers with the
// attention replicated and the MLP Megatron-split (same names).
Tensor GptBlock(const Tensor& x, const GptConfig& config, const GptLayout& layout, const std::string& name) {
  if (layout.attention_parallel == layout.mlp_parallel) {
    return api::nn::TransformerBlock(x, config.heads, name, {.tensor_parallel = layout.mlp_parallel});
  }
  GraphBuilder& builder = *x.builder();
  api::Scope scope(builder, name);
  Tensor attended = api::nn::CausalSelfAttention(api::nn::LayerNorm(x, "ln1"), config.heads, "attn",
                                                 {.tensor_parallel = layout.attention_parallel});
  Tensor h = x + attended;
  Tensor mlp =
      api::nn::Mlp(api::nn::LayerNorm(h, "ln2"), {4 * config.width, config.width}, "mlp",
                   {.activation = api::nn::Activation::kGelu, .tensor_parallel = layout.mlp_parallel});
  return h + mlp;
}

// Adds GPT-2 small with its loss and optimizer to `builder`.
void BuildGpt(GraphBuilder& builder, const GptConfig& config, const GptLayout& layout) {
  const Placement& placement = builder.default_placement();
  Tensor tokens = builder.Input("tokens", Shape{config.batch, config.sequence}, DType::kI64);
  Tensor labels = builder.Input("labels", Shape{config.batch * config.sequence}, DType::kI64);
  if (!layout.batch_sbp.empty()) {
    tokens = tokens.WithSbp(layout.batch_sbp);
    labels = labels.WithSbp(layout.batch_sbp);
  }
  // The token embedding is created here (not by nn::Embedding) because the
  // LM head reuses it (GPT-2 ties them).
  const NdSbp vocab_sbp = layout.vocab_parallel ? TensorAxisSbp(placement, Sbp::Split(0)) : NdSbp{};
  Tensor wte = builder.Variable("wte.weight", Shape{config.vocab, config.width},
                                api::Initializer::Normal(0.02), std::nullopt, vocab_sbp);
  Tensor wpe =
      builder.Variable("wpe.weight", Shape{config.sequence, config.width}, api::Initializer::Normal(0.01));
  Tensor h;
  {
    api::Scope scope(builder, "wte");
    h = api::Embedding(wte, tokens);
  }
  h = h + wpe;  // [B, T, D] + [T, D]
  for (int64_t layer = 0; layer < config.layers; ++layer)
    h = GptBlock(h, config, layout, "h" + std::to_string(layer));
  h = api::nn::LayerNorm(h, "ln_f");
  Tensor logits;
  {
    api::Scope scope(builder, "lm_head");
    logits = api::Matmul(api::Reshape(h, Shape{config.batch * config.sequence, config.width}), wte,
                         {.transpose_b = true});
  }
  Tensor loss = api::SparseSoftmaxCrossEntropy(logits, labels).loss;
  builder.Fetch("loss", loss);
  builder.Minimize(loss,
                   api::Optimizer::AdamW(6e-4, 0.1).WithClipNorm(1).WithWarmupCosine(2000, 600000, 6e-5));
}

// ---- synthetic chain --------------------------------------------------------

// A residual chain of `blocks` blocks of 4 ops: matmul, bias_add, gelu, add.
void BuildChain(GraphBuilder& builder, int64_t blocks, const std::string& batch_sbp) {
  const int64_t rows = 64, width = 64;
  Tensor x = builder.Input("x", Shape{rows, width});
  if (!batch_sbp.empty()) x = x.WithSbp(batch_sbp);
  for (int64_t block = 0; block < blocks; ++block) {
    api::Scope scope(builder, "b" + std::to_string(block));
    Tensor weight = builder.Variable("w", Shape{width, width}, api::Initializer::Normal(0.02));
    Tensor bias = builder.Variable("b", Shape{width});
    x = x + api::Gelu(api::BiasAdd(api::Matmul(x, weight), bias));
  }
  builder.Fetch("y", x);
}

// ---- one case ------------------------------------------------------------------

struct Case {
  std::string family;  // "gpt2" | "synthetic"
  std::string name;    // "gpt2/data-8"
  std::string layout;  // "data", "tensor-mlp", "chain"
  Shape mesh;
  std::string note;
  compiler::CompileOptions options;
  std::function<void(GraphBuilder&)> build;
};

struct PassMedian {
  std::string pass;
  double milliseconds = 0;
  int64_t nodes_after = 0;
};

struct Row {
  Case spec;
  int devices = 1;
  int runs = 0;
  int64_t ops_before = 0;  // compute ops of the graph as built
  double build_ms = 0;
  double passes_ms = 0;  // every pass but lowering
  double lowering_ms = 0;
  double total_ms = 0;             // build + passes + lowering
  double compile_cpu_ms = 0;       // thread CPU time of passes + lowering
  std::vector<PassMedian> passes;  // per pass name, in pipeline order, summed over repeats of a name
  int64_t nodes_after = 0;
  int64_t ops_after = 0;
  int64_t actors = 0;
  int64_t registers = 0;
  int64_t plan_proto_bytes = 0;
  int64_t register_bytes = 0;
  std::map<std::string, int64_t> boxing;
  std::string error;
};

int64_t CountComputeOps(const compiler::Graph& graph) {
  int64_t count = 0;
  for (compiler::NodeId id : graph.LiveNodes()) {
    const compiler::Node& node = graph.node(id);
    count += node.IsInput() || node.IsVariable() || node.IsBoxing() ? 0 : 1;
  }
  return count;
}

// Prints every boxing node of `graph`: name, shape, from -> to, kind.
void DumpBoxing(const compiler::Graph& graph) {
  for (compiler::NodeId id : graph.LiveNodes()) {
    const compiler::Node& node = graph.node(id);
    if (!node.IsBoxing()) continue;
    const compiler::Value& in = graph.value(node.inputs[0]);
    const compiler::Value& out = graph.value(node.outputs[0]);
    const std::string kind = node.attrs.Has("kind") ? node.attrs.GetString("kind") : "?";
    std::printf("  boxing %-48s %-8s %-16s %-14s -> %-14s %s\n", node.name.c_str(),
                compiler::NodeRoleName(node.role).c_str(), in.desc.shape.ToString().c_str(),
                NdSbpToString(in.sbp).c_str(), NdSbpToString(out.sbp).c_str(), kind.c_str());
  }
}

Row RunCase(const Case& spec, int max_runs, double case_budget_ms, bool dump_boxing) {
  Row row;
  row.spec = spec;
  std::vector<double> build, passes, lowering, total, compile_cpu;
  std::map<std::string, std::vector<double>> per_pass;
  std::vector<std::string> pass_order;
  std::map<std::string, int64_t> pass_nodes;
  const Clock::time_point case_start = Clock::now();
  for (int run = 0; run < max_runs; ++run) {
    if (run > 0 && MillisecondsSince(case_start) > case_budget_ms) break;
    StatusOr<Placement> placement = Placement::Mesh(DeviceType::kCPU, spec.mesh);
    if (!placement.ok()) {
      row.error = placement.status().message();
      return row;
    }
    row.devices = placement.value().num_devices();
    const Clock::time_point build_start = Clock::now();
    GraphBuilder builder(placement.value());
    spec.build(builder);
    StatusOr<compiler::Graph> graph = builder.Build();
    const double build_ms = MillisecondsSince(build_start);
    if (!graph.ok()) {
      row.error = "build: " + graph.status().message();
      return row;
    }
    row.ops_before = CountComputeOps(graph.value());
    const double cpu_start = ThreadCpuMilliseconds();
    StatusOr<compiler::CompileResult> result =
        compiler::Compile(std::move(graph).value(), builder.ops(), spec.options);
    compile_cpu.push_back(ThreadCpuMilliseconds() - cpu_start);
    if (!result.ok()) {
      row.error = result.status().message();
      return row;
    }
    double passes_ms = 0, lowering_ms = 0;
    std::map<std::string, double> this_run;
    for (const compiler::PassTiming& timing : result.value().timings) {
      if (timing.pass == "physical_lowering") {
        lowering_ms += timing.milliseconds;
      } else {
        passes_ms += timing.milliseconds;
      }
      if (!this_run.contains(timing.pass) && run == 0) pass_order.push_back(timing.pass);
      this_run[timing.pass] += timing.milliseconds;
      pass_nodes[timing.pass] = timing.nodes_after;
    }
    for (const auto& [pass, milliseconds] : this_run) per_pass[pass].push_back(milliseconds);
    build.push_back(build_ms);
    passes.push_back(passes_ms);
    lowering.push_back(lowering_ms);
    total.push_back(build_ms + passes_ms + lowering_ms);
    ++row.runs;
    if (run == 0) {
      // The plan is the same on every run: measure it once.
      const compiler::CompileResult& compiled = result.value();
      const PlanSummary summary = SummarizePlan(compiled.plan);
      row.nodes_after = compiled.graph.NumLiveNodes();
      row.ops_after = summary.ops;
      row.actors = summary.actors;
      row.registers = summary.registers;
      row.register_bytes = summary.total_bytes;
      row.boxing = summary.boxing_kinds;
      row.plan_proto_bytes = static_cast<int64_t>(PlanToProto(compiled.plan).size());
      if (dump_boxing) {
        std::printf("boxing nodes of %s:\n", spec.name.c_str());
        DumpBoxing(compiled.graph);
      }
    }
  }
  row.build_ms = Median(build);
  row.passes_ms = Median(passes);
  row.lowering_ms = Median(lowering);
  row.total_ms = Median(total);
  row.compile_cpu_ms = Median(compile_cpu);
  for (const std::string& pass : pass_order) {
    row.passes.push_back(PassMedian{pass, Median(per_pass[pass]), pass_nodes[pass]});
  }
  return row;
}

// ---- output -----------------------------------------------------------------

std::string MeshText(const Shape& mesh) { return mesh.ToString(); }

std::string BoxingText(const std::map<std::string, int64_t>& boxing) {
  std::string text;
  for (const auto& [kind, count] : boxing) {
    text += (text.empty() ? "" : " ") + kind + "=" + std::to_string(count);
  }
  return text.empty() ? "-" : text;
}

std::string Bytes(int64_t bytes) {
  char buffer[32];
  if (bytes >= (int64_t{1} << 30)) {
    std::snprintf(buffer, sizeof buffer, "%.1fG", static_cast<double>(bytes) / (1 << 30));
  } else if (bytes >= (1 << 20)) {
    std::snprintf(buffer, sizeof buffer, "%.1fM", static_cast<double>(bytes) / (1 << 20));
  } else {
    std::snprintf(buffer, sizeof buffer, "%.1fK", static_cast<double>(bytes) / 1024);
  }
  return buffer;
}

void PrintTable(const std::vector<Row>& rows) {
  std::printf("\n%-24s %-8s %4s %4s %7s %9s %9s %9s %9s %8s %7s %7s %8s %9s %8s %8s  %s\n", "case", "mesh",
              "dev", "runs", "ops", "build_ms", "passes_ms", "lower_ms", "total_ms", "cpu_ms", "nodes",
              "ops_out", "actors", "registers", "plan_pb", "reg_mem", "boxing");
  for (const Row& row : rows) {
    if (!row.error.empty()) {
      std::printf("%-24s %-8s %4d %4s error: %s\n", row.spec.name.c_str(), MeshText(row.spec.mesh).c_str(),
                  row.devices, "-", row.error.c_str());
      continue;
    }
    std::printf(
        "%-24s %-8s %4d %4d %7lld %9.1f %9.1f %9.1f %9.1f %8.1f %7lld %7lld %8lld %9lld %8s %8s  %s\n",
        row.spec.name.c_str(), MeshText(row.spec.mesh).c_str(), row.devices, row.runs,
        static_cast<long long>(row.ops_before), row.build_ms, row.passes_ms, row.lowering_ms, row.total_ms,
        row.compile_cpu_ms, static_cast<long long>(row.nodes_after), static_cast<long long>(row.ops_after),
        static_cast<long long>(row.actors), static_cast<long long>(row.registers),
        Bytes(row.plan_proto_bytes).c_str(), Bytes(row.register_bytes).c_str(),
        BoxingText(row.boxing).c_str());
  }
}

void PrintPassTable(const std::vector<Row>& rows) {
  // Union of pass names in the order first seen.
  std::vector<std::string> names;
  for (const Row& row : rows) {
    for (const PassMedian& pass : row.passes) {
      if (std::find(names.begin(), names.end(), pass.pass) == names.end()) names.push_back(pass.pass);
    }
  }
  std::printf("\nmilliseconds per pass (median; a pass that runs twice is summed)\n%-24s", "case");
  for (const std::string& name : names)
    std::printf(" %*s", std::max<int>(9, static_cast<int>(name.size())), name.c_str());
  std::printf("  slowest\n");
  for (const Row& row : rows) {
    if (!row.error.empty()) continue;
    std::printf("%-24s", row.spec.name.c_str());
    std::string slowest;
    double slowest_ms = -1;
    for (const std::string& name : names) {
      const auto found = std::find_if(row.passes.begin(), row.passes.end(),
                                      [&](const PassMedian& pass) { return pass.pass == name; });
      const int width = std::max<int>(9, static_cast<int>(name.size()));
      if (found == row.passes.end()) {
        std::printf(" %*s", width, "-");
        continue;
      }
      std::printf(" %*.1f", width, found->milliseconds);
      if (found->milliseconds > slowest_ms) {
        slowest_ms = found->milliseconds;
        slowest = name;
      }
    }
    std::printf(
        "  %s (%.0f%%)\n", slowest.c_str(),
        row.passes_ms + row.lowering_ms > 0 ? 100 * slowest_ms / (row.passes_ms + row.lowering_ms) : 0);
  }
}

const Row* FindRow(const std::vector<Row>& rows, const std::string& name) {
  for (const Row& row : rows) {
    if (row.spec.name == name && row.error.empty()) return &row;
  }
  return nullptr;
}

// Growth with op count (synthetic) and with devices (GPT-2): compile time
// per op or per actor, and the ratio of times against the ratio of sizes
// (linear growth: the two are equal). Ratios use the thread CPU time of
// passes + lowering (build excluded), which other processes on the machine
// disturb far less than wall time.
void PrintGrowth(const std::vector<Row>& rows) {
  std::printf("\ngrowth (compile CPU ms = thread CPU time of passes + lowering, build excluded)\n");
  for (const char* mesh : {"1", "8"}) {
    const Row* previous = nullptr;
    for (const char* size : {"12.5k", "25k", "50k"}) {
      const Row* row = FindRow(rows, std::string("synthetic/") + size + "-x" + mesh);
      if (row == nullptr) continue;
      const double cpu_ms = row->compile_cpu_ms;
      std::printf("  synthetic %-5s ops on %s device(s): %8.1f cpu ms  %.4f ms/op  %.5f ms/actor", size, mesh,
                  cpu_ms, cpu_ms / row->ops_before, cpu_ms / std::max<int64_t>(1, row->actors));
      if (previous != nullptr) {
        std::printf("  x%.2f time for x%.2f ops", cpu_ms / previous->compile_cpu_ms,
                    static_cast<double>(row->ops_before) / previous->ops_before);
      }
      std::printf("\n");
      previous = row;
    }
  }
  const Row* single = FindRow(rows, "gpt2/single-1");
  for (const char* layout : {"data", "tensor-mlp", "tensor-megatron", "hybrid"}) {
    const Row* previous = single;
    for (const Row& row : rows) {
      if (row.spec.family != "gpt2" || row.spec.layout != layout || !row.error.empty()) continue;
      const double cpu_ms = row.compile_cpu_ms;
      std::printf("  gpt2 %-15s on %2d devices: %8.1f cpu ms  %.5f ms/actor", layout, row.devices, cpu_ms,
                  cpu_ms / std::max<int64_t>(1, row.actors));
      if (previous != nullptr) {
        std::printf("  x%.2f time for x%.2f actors (x%d devices) vs %s", cpu_ms / previous->compile_cpu_ms,
                    static_cast<double>(row.actors) / std::max<int64_t>(1, previous->actors),
                    row.devices / previous->devices, previous->spec.name.c_str());
      }
      std::printf("\n");
      previous = &row;
    }
  }
}

std::string JsonString(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buffer[8];
      std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
      out += buffer;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string RowJson(const Row& row) {
  auto number = [](double value) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.3f", value);
    return std::string(buffer);
  };
  std::string json =
      "{\"case\": " + JsonString(row.spec.name) + ", \"family\": " + JsonString(row.spec.family) +
      ", \"layout\": " + JsonString(row.spec.layout) + ", \"mesh\": " + JsonString(MeshText(row.spec.mesh)) +
      ", \"devices\": " + std::to_string(row.devices) + ", \"note\": " + JsonString(row.spec.note) +
      ", \"fusion\": " + (row.spec.options.enable_fusion ? "true" : "false") +
      ", \"training\": " + (row.spec.options.enable_training ? "true" : "false");
  if (!row.error.empty()) return json + ", \"error\": " + JsonString(row.error) + "}";
  json += ", \"runs\": " + std::to_string(row.runs) + ", \"ops\": " + std::to_string(row.ops_before) +
          ", \"build_ms\": " + number(row.build_ms) + ", \"passes_ms\": " + number(row.passes_ms) +
          ", \"lowering_ms\": " + number(row.lowering_ms) + ", \"total_ms\": " + number(row.total_ms) +
          ", \"compile_cpu_ms\": " + number(row.compile_cpu_ms) +
          ", \"nodes_after\": " + std::to_string(row.nodes_after) +
          ", \"ops_after\": " + std::to_string(row.ops_after) +
          ", \"actors\": " + std::to_string(row.actors) +
          ", \"registers\": " + std::to_string(row.registers) +
          ", \"plan_proto_bytes\": " + std::to_string(row.plan_proto_bytes) +
          ", \"register_bytes\": " + std::to_string(row.register_bytes);
  json += ", \"passes\": [";
  for (size_t i = 0; i < row.passes.size(); ++i) {
    json += std::string(i == 0 ? "" : ", ") + "{\"pass\": " + JsonString(row.passes[i].pass) +
            ", \"ms\": " + number(row.passes[i].milliseconds) +
            ", \"nodes_after\": " + std::to_string(row.passes[i].nodes_after) + "}";
  }
  json += "], \"boxing\": {";
  bool first = true;
  for (const auto& [kind, count] : row.boxing) {
    json += std::string(first ? "" : ", ") + JsonString(kind) + ": " + std::to_string(count);
    first = false;
  }
  return json + "}}";
}

// ---- the cases -----------------------------------------------------------------

std::vector<Case> AllCases(const GptConfig& gpt) {
  std::vector<Case> cases;
  auto add_gpt = [&](const std::string& label, GptLayout layout) {
    int64_t devices = 1;
    for (int64_t extent : layout.mesh.dims()) devices *= extent;
    Case spec{.family = "gpt2",
              .name = "gpt2/" + label + "-" + std::to_string(devices),
              .layout = layout.name,
              .mesh = layout.mesh,
              .note = layout.note,
              .options = {},
              .build = [gpt, layout](GraphBuilder& builder) { BuildGpt(builder, gpt, layout); }};
    if (layout.mesh.rank() == 2)
      spec.name =
          "gpt2/" + label + "-" + std::to_string(layout.mesh[0]) + "x" + std::to_string(layout.mesh[1]);
    cases.push_back(std::move(spec));
  };
  add_gpt("single", {.name = "single", .mesh = Shape{1}, .note = "1 device"});
  for (int64_t devices : {8, 64}) {
    add_gpt("data", {.name = "data",
                     .mesh = Shape{devices},
                     .batch_sbp = "S(0)",
                     .note = "batch split, weights broadcast"});
  }
  for (int64_t devices : {8, 64}) {
    add_gpt("tensor-mlp", {.name = "tensor-mlp",
                           .mesh = Shape{devices},
                           .batch_sbp = "B",
                           .mlp_parallel = true,
                           .vocab_parallel = true,
                           .note = "Megatron MLP + vocab split; attention replicated (12 heads)"});
    add_gpt("tensor-megatron", {.name = "tensor-megatron",
                                .mesh = Shape{devices},
                                .batch_sbp = "B",
                                .attention_parallel = true,
                                .mlp_parallel = true,
                                .vocab_parallel = true,
                                .note = "nn Megatron hints everywhere; 12 heads split unevenly"});
  }
  for (Shape mesh : {Shape{2, 4}, Shape{16, 4}}) {
    add_gpt("hybrid", {.name = "hybrid",
                       .mesh = mesh,
                       .batch_sbp = "(S(0), B)",
                       .attention_parallel = true,
                       .mlp_parallel = true,
                       .vocab_parallel = true,
                       .note = "data x Megatron tensor (4-way: 3 heads a device)"});
  }
  const std::vector<std::pair<std::string, int64_t>> sizes = {{"12.5k", 3125}, {"25k", 6250}, {"50k", 12500}};
  for (int64_t devices : {1, 8}) {
    for (const auto& [label, blocks] : sizes) {
      const std::string sbp = devices == 1 ? "" : "S(0)";
      cases.push_back(
          Case{.family = "synthetic",
               .name = "synthetic/" + label + "-x" + std::to_string(devices),
               .layout = "chain",
               .mesh = Shape{devices},
               .note = "inference residual chain matmul/bias_add/gelu/add, fusion on",
               .options = {.enable_fusion = true, .enable_training = false},
               .build = [blocks, sbp](GraphBuilder& builder) { BuildChain(builder, blocks, sbp); }});
    }
  }
  return cases;
}

int64_t Devices(const Shape& mesh) {
  int64_t devices = 1;
  for (int64_t extent : mesh.dims()) devices *= extent;
  return devices;
}

int Main(int argc, char** argv) {
  std::string json_path;
  std::string only;
  bool quick = false;
  bool dump_boxing = false;
  int runs = 3;
  double case_budget_s = 60;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--json" && i + 1 < argc) {
      json_path = argv[++i];
    } else if (arg == "--quick") {
      quick = true;
    } else if (arg == "--runs" && i + 1 < argc) {
      runs = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--case-budget" && i + 1 < argc) {
      case_budget_s = std::atof(argv[++i]);
    } else if (arg == "--dump-boxing") {
      dump_boxing = true;
    } else if (arg == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: compile_bench [--json FILE] [--quick] [--runs N] [--case-budget SECONDS] [--only "
                   "SUBSTRING] [--dump-boxing]\n");
      return 2;
    }
  }
  const GptConfig gpt;
  std::printf(
      "compile_bench: GPT-2 small (%lld layers, d=%lld, %lld heads, vocab %lld, seq %lld, batch %lld; AdamW, "
      "clip 1.0, warm-up + cosine; fusion on)\n",
      static_cast<long long>(gpt.layers), static_cast<long long>(gpt.width),
      static_cast<long long>(gpt.heads), static_cast<long long>(gpt.vocab),
      static_cast<long long>(gpt.sequence), static_cast<long long>(gpt.batch));
  std::printf(
      "times: median of up to %d runs (fewer once a case passes %.0f s); wall clock, noisy on a shared "
      "machine\n",
      runs, case_budget_s);
  std::vector<Row> rows;
  for (const Case& spec : AllCases(gpt)) {
    if (quick && (Devices(spec.mesh) > 8 ||
                  (spec.family == "synthetic" && spec.name.find("12.5k") == std::string::npos)))
      continue;
    if (!only.empty() && spec.name.find(only) == std::string::npos) continue;
    std::fprintf(stderr, "running %s ...\n", spec.name.c_str());
    rows.push_back(RunCase(spec, runs, case_budget_s * 1000, dump_boxing));
    const Row& row = rows.back();
    if (row.error.empty()) {
      std::fprintf(stderr, "  %d run(s), total %.1f ms (lowering %.1f ms), %lld actors\n", row.runs,
                   row.total_ms, row.lowering_ms, static_cast<long long>(row.actors));
    } else {
      std::fprintf(stderr, "  error: %s\n", row.error.c_str());
    }
  }
  PrintTable(rows);
  PrintPassTable(rows);
  PrintGrowth(rows);
  std::printf("\nlayouts:\n");
  for (const Row& row : rows) std::printf("  %-24s %s\n", row.spec.name.c_str(), row.spec.note.c_str());
  std::printf("\ngoal: GPT-2 small on 64 devices in under 1 s (build + passes + lowering)\n");
  for (const Row& row : rows) {
    if (row.spec.family != "gpt2" || row.devices != 64) continue;
    if (!row.error.empty()) {
      std::printf("  %-24s error\n", row.spec.name.c_str());
      continue;
    }
    std::printf("  %-24s %9.1f ms -> %s\n", row.spec.name.c_str(), row.total_ms,
                row.total_ms < 1000 ? "met" : "missed");
  }
  if (!json_path.empty()) {
    std::string json = "{\"benchmark\": \"compile\", \"rows\": [";
    for (size_t i = 0; i < rows.size(); ++i) json += std::string(i == 0 ? "" : ",\n  ") + RowJson(rows[i]);
    json += "]}\n";
    std::ofstream(json_path) << json;
    std::printf("wrote %s\n", json_path.c_str());
  }
  bool any_error = false;
  for (const Row& row : rows) any_error = any_error || !row.error.empty();
  return any_error ? 1 : 0;
}

}  // namespace
}  // namespace ofl::bench

int main(int argc, char** argv) { return ofl::bench::Main(argc, argv); }

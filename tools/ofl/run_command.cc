// `ofl run JOB.txt|PLAN.pb [--steps N] [--feed random|zeros] [--seed S]
// [--classes C]`: compiles a saved job (IR text, as `ofl compile` reads it) or
// loads a saved plan (protobuf, as `ofl compile` writes it: a file ending in
// ".pb"), loads it into the actor runtime with the default kernels and runs
// N steps (default 1) with generated feeds, printing each step's fetches.
//
// Feeds are generated from each feed's desc, the same for every step:
//   random: floating feeds normal(0, 1), integer feeds (labels) uniform in
//           [0, C) with C = --classes (default 2), bool feeds fair coin
//           flips; all from one generator seeded with --seed (default 0);
//   zeros:  every element 0.
// Output: one line per fetch per step, "step S: NAME = VALUE" for scalars,
// "step S: NAME f32[2, 3] mean M min A max B" for tensors.
// Exit codes: 0 ran, 1 an error (the message names the file), 2 bad usage.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

#include "compiler/compile.h"
#include "compiler/ir/graph_text.h"
#include "ops/registry.h"
#include "runtime/plan_proto.h"
#include "runtime/runtime.h"
#include "tools/ofl/commands.h"

namespace ofl::cli {
namespace {

constexpr const char* kUsage =
    "usage: ofl run JOB.txt|PLAN.pb [--steps N] [--feed random|zeros] [--seed S] [--classes C]\n"
    "  compiles a job saved in the IR text form (or loads a plan.pb written by `ofl compile`),\n"
    "  runs N steps (default 1) with generated feeds and prints each step's fetches\n"
    "  --feed random  floats normal(0, 1), integers uniform in [0, C), from --seed (default)\n"
    "  --feed zeros   every feed all zeros\n"
    "  --classes C    the bound of integer feeds (labels), default 2\n";

struct RunArgs {
  std::string path;
  int64_t steps = 1;
  bool random = true;
  uint64_t seed = 0;
  int64_t classes = 2;
};

// Parses a non-negative integer option value; false (and a message) if bad.
bool ParseCount(const std::string& option, const std::string& text, int64_t minimum, int64_t& value) {
  try {
    size_t used = 0;
    const long long parsed = std::stoll(text, &used);
    if (used == text.size() && parsed >= minimum) {
      value = parsed;
      return true;
    }
  } catch (const std::exception&) {
  }
  std::cerr << "ofl run: " << option << " expects an integer >= " << minimum << ", got '" << text << "'\n"
            << kUsage;
  return false;
}

// 0 when the arguments parse, else the exit code; `help` for --help.
int ParseArgs(const std::vector<std::string>& args, RunArgs& parsed, bool& help) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      help = true;
      return 0;
    }
    const bool takes_value = arg == "--steps" || arg == "--feed" || arg == "--seed" || arg == "--classes";
    if (takes_value && i + 1 == args.size()) {
      std::cerr << "ofl run: " << arg << " needs a value\n" << kUsage;
      return 2;
    }
    if (arg == "--steps") {
      if (!ParseCount(arg, args[++i], 0, parsed.steps)) return 2;
    } else if (arg == "--seed") {
      int64_t seed = 0;
      if (!ParseCount(arg, args[++i], 0, seed)) return 2;
      parsed.seed = static_cast<uint64_t>(seed);
    } else if (arg == "--classes") {
      if (!ParseCount(arg, args[++i], 1, parsed.classes)) return 2;
    } else if (arg == "--feed") {
      const std::string& mode = args[++i];
      if (mode != "random" && mode != "zeros") {
        std::cerr << "ofl run: --feed expects random or zeros, got '" << mode << "'\n" << kUsage;
        return 2;
      }
      parsed.random = mode == "random";
    } else if (arg.rfind("-", 0) == 0) {
      std::cerr << "ofl run: unknown option '" << arg << "'\n" << kUsage;
      return 2;
    } else if (parsed.path.empty()) {
      parsed.path = arg;
    } else {
      std::cerr << "ofl run: expected one job or plan file, got '" << parsed.path << "' and '" << arg << "'\n"
                << kUsage;
      return 2;
    }
  }
  if (parsed.path.empty()) {
    std::cerr << "ofl run: expected a job or plan file\n" << kUsage;
    return 2;
  }
  return 0;
}

StatusOr<std::string> ReadFile(const std::string& path) {
  std::error_code error;
  OFL_CHECK_OR_RETURN(!std::filesystem::is_directory(path, error))
      << "[run] cannot read job file '" << path << "': it is a directory";
  std::ifstream in(path, std::ios::binary);
  OFL_CHECK_OR_RETURN(in.good()) << "[run] cannot read job file '" << path << "': " << std::strerror(errno);
  std::ostringstream text;
  text << in.rdbuf();
  OFL_CHECK_OR_RETURN(!in.bad()) << "[run] reading job file '" << path << "' failed";
  return text.str();
}

// The plan of `path`: loaded when it ends in ".pb", else compiled from IR text.
StatusOr<Plan> PlanOf(const std::string& path) {
  if (path.size() >= 3 && path.compare(path.size() - 3, 3, ".pb") == 0) {
    return LoadPlan(path);  // its errors name the file
  }
  OFL_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  const OpRegistry& ops = DefaultRegistries().ops;
  StatusOr<compiler::Graph> graph = compiler::ParseGraph(text, ops);
  if (!graph.ok()) return graph.status().WithContext("'" + path + "'");
  StatusOr<compiler::CompileResult> result = compiler::Compile(std::move(graph).value(), ops, {});
  if (!result.ok()) return result.status().WithContext("'" + path + "'");
  return std::move(result).value().plan;
}

// One feed tensor for `desc` (see the header comment for the distributions).
HostTensor MakeFeed(const TensorDesc& desc, const RunArgs& args, std::mt19937_64& generator) {
  HostTensor tensor(desc);  // zero-filled
  if (!args.random) return tensor;
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_int_distribution<int64_t> label(0, args.classes - 1);
  for (int64_t i = 0; i < tensor.NumElements(); ++i) {
    if (desc.dtype == DType::kBool) {
      tensor.SetFromDouble(i, static_cast<double>(generator() & 1));
    } else if (IsFloatingPoint(desc.dtype)) {
      tensor.SetFromDouble(i, normal(generator));
    } else {
      tensor.SetFromDouble(i, static_cast<double>(label(generator)));
    }
  }
  return tensor;
}

std::string FormatNumber(double value) {
  std::ostringstream out;
  out.precision(6);
  out << value;
  return out.str();
}

void PrintFetch(int64_t step, const std::string& name, const HostTensor& tensor) {
  std::cout << "step " << step << ": " << name;
  if (tensor.NumElements() == 1 && tensor.shape().rank() == 0) {
    std::cout << " = " << FormatNumber(tensor.GetAsDouble(0)) << "\n";
    return;
  }
  std::cout << " " << tensor.desc().ToString();
  if (tensor.NumElements() == 0) {
    std::cout << " (empty)\n";
    return;
  }
  double sum = 0, low = tensor.GetAsDouble(0), high = low;
  for (int64_t i = 0; i < tensor.NumElements(); ++i) {
    const double value = tensor.GetAsDouble(i);
    sum += value;
    low = std::min(low, value);
    high = std::max(high, value);
  }
  std::cout << " mean " << FormatNumber(sum / tensor.NumElements()) << " min " << FormatNumber(low) << " max "
            << FormatNumber(high) << "\n";
}

int Fail(const Status& status) {
  std::cerr << "ofl run: " << status.message() << "\n";
  return 1;
}

}  // namespace

int RunRunCommand(const std::vector<std::string>& args) {
  RunArgs parsed;
  bool help = false;
  if (const int code = ParseArgs(args, parsed, help); code != 0) return code;
  if (help) {
    std::cout << kUsage;
    return 0;
  }
  StatusOr<Plan> plan = PlanOf(parsed.path);
  if (!plan.ok()) return Fail(plan.status());
  StatusOr<std::unique_ptr<runtime::Runtime>> loaded =
      runtime::Runtime::Load(std::move(plan).value(), DefaultRegistries().kernels);
  if (!loaded.ok()) return Fail(loaded.status().WithContext("'" + parsed.path + "'"));
  runtime::Runtime& rt = *loaded.value();
  // The feeds of every step come from one generator, advanced step by step
  // (the runtime asks for step s once, in order).
  std::mt19937_64 generator(parsed.seed);
  const runtime::FeedFunction feeds = [&](int64_t) -> StatusOr<runtime::TensorMap> {
    runtime::TensorMap map;
    for (const FeedDesc& feed : rt.plan().feeds)
      map.insert_or_assign(feed.name, MakeFeed(feed.desc, parsed, generator));
    return map;
  };
  StatusOr<std::vector<runtime::TensorMap>> fetched = rt.Run(parsed.steps, feeds);
  if (!fetched.ok()) return Fail(fetched.status().WithContext("'" + parsed.path + "'"));
  for (size_t step = 0; step < fetched.value().size(); ++step) {
    for (const auto& [name, tensor] : fetched.value()[step])
      PrintFetch(static_cast<int64_t>(step), name, tensor);
  }
  std::cout << "ran " << parsed.steps << " steps of " << parsed.path << "\n";
  return 0;
}

}  // namespace ofl::cli

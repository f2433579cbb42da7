// `ofl compile JOB.txt [--out DIR] [--no-fusion]`: compiles a saved job (the
// IR text form, compiler/ir/graph_text.h) and writes its plan as
// DIR/plan.pb (protobuf, what workers load), DIR/plan.txt (readable) and
// DIR/plan.dot (Graphviz), then prints the per-pass timings and the plan
// summary. DIR defaults to JOB.txt + ".plan".
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "compiler/compile.h"
#include "compiler/ir/graph_text.h"
#include "ops/registry.h"
#include "runtime/plan_dot.h"
#include "runtime/plan_proto.h"
#include "runtime/plan_summary.h"
#include "runtime/plan_text.h"
#include "tools/ofl/commands.h"

namespace ofl::cli {
namespace {

constexpr const char* kUsage =
    "usage: ofl compile JOB.txt [--out DIR] [--no-fusion] [--inference]\n"
    "  compiles a job saved in the IR text form and writes DIR/plan.pb, DIR/plan.txt and\n"
    "  DIR/plan.dot (DIR defaults to JOB.txt.plan)\n"
    "  --no-fusion   skip the fusion pass\n"
    "  --inference   skip autograd and the optimizer even if the job has a loss\n";

struct CompileArgs {
  std::string job;
  std::string out;
  compiler::CompileOptions options;
};

// Returns 0 when the arguments parse, else the exit code (0 for --help is
// signalled by `help`).
int ParseArgs(const std::vector<std::string>& args, CompileArgs& parsed, bool& help) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      help = true;
      return 0;
    }
    if (arg == "--out" || arg.rfind("--out=", 0) == 0) {
      if (arg == "--out") {
        if (i + 1 == args.size()) {
          std::cerr << "ofl compile: --out needs a directory\n" << kUsage;
          return 2;
        }
        parsed.out = args[++i];
      } else {
        parsed.out = arg.substr(6);
      }
    } else if (arg == "--no-fusion") {
      parsed.options.enable_fusion = false;
    } else if (arg == "--inference") {
      parsed.options.enable_training = false;
    } else if (arg.rfind("-", 0) == 0) {
      std::cerr << "ofl compile: unknown option '" << arg << "'\n" << kUsage;
      return 2;
    } else if (parsed.job.empty()) {
      parsed.job = arg;
    } else {
      std::cerr << "ofl compile: expected one job file, got '" << parsed.job << "' and '" << arg << "'\n"
                << kUsage;
      return 2;
    }
  }
  if (parsed.job.empty()) {
    std::cerr << "ofl compile: expected a job file\n" << kUsage;
    return 2;
  }
  if (parsed.out.empty()) parsed.out = parsed.job + ".plan";
  return 0;
}

StatusOr<std::string> ReadFile(const std::string& path) {
  std::error_code error;
  OFL_CHECK_OR_RETURN(!std::filesystem::is_directory(path, error))
      << "[compile] cannot read job file '" << path << "': it is a directory";
  std::ifstream in(path, std::ios::binary);
  OFL_CHECK_OR_RETURN(in.good()) << "[compile] cannot read job file '" << path
                                 << "': " << std::strerror(errno);
  std::ostringstream text;
  text << in.rdbuf();
  OFL_CHECK_OR_RETURN(!in.bad()) << "[compile] reading job file '" << path << "' failed";
  return text.str();
}

Status WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  OFL_CHECK_OR_RETURN(out.good()) << "[compile] cannot write '" << path << "': " << std::strerror(errno);
  out << contents;
  out.close();
  OFL_CHECK_OR_RETURN(!out.fail()) << "[compile] writing '" << path << "' failed";
  return Status::Ok();
}

void PrintTimings(const std::vector<compiler::PassTiming>& timings) {
  std::cout << "passes:\n";
  double total = 0;
  for (const compiler::PassTiming& timing : timings) {
    std::cout << "  " << std::left << std::setw(24) << timing.pass << std::right << std::fixed
              << std::setprecision(3) << std::setw(10) << timing.milliseconds << " ms  " << timing.nodes_after
              << " nodes\n";
    total += timing.milliseconds;
  }
  std::cout << "  " << std::left << std::setw(24) << "total" << std::right << std::setw(10) << total
            << " ms\n";
  std::cout.unsetf(std::ios::floatfield);
}

int Fail(const Status& status) {
  std::cerr << "ofl compile: " << status.message() << "\n";
  return 1;
}

}  // namespace

int RunCompileCommand(const std::vector<std::string>& args) {
  CompileArgs parsed;
  bool help = false;
  if (const int code = ParseArgs(args, parsed, help); code != 0) return code;
  if (help) {
    std::cout << kUsage;
    return 0;
  }
  StatusOr<std::string> text = ReadFile(parsed.job);
  if (!text.ok()) return Fail(text.status());
  const OpRegistry& ops = DefaultRegistries().ops;
  StatusOr<compiler::Graph> graph = compiler::ParseGraph(text.value(), ops);
  if (!graph.ok()) return Fail(graph.status().WithContext("'" + parsed.job + "'"));
  const int64_t logical_nodes = graph.value().NumLiveNodes();
  StatusOr<compiler::CompileResult> result = compiler::Compile(std::move(graph).value(), ops, parsed.options);
  if (!result.ok()) return Fail(result.status().WithContext("'" + parsed.job + "'"));
  const Plan& plan = result.value().plan;
  if (const Status valid = ValidatePlan(plan); !valid.ok()) {
    return Fail(valid.WithContext("internal error: the compiled plan of '" + parsed.job + "' is invalid"));
  }

  std::error_code error;
  std::filesystem::create_directories(parsed.out, error);
  if (error) return Fail(Status::Error("[compile] cannot create '" + parsed.out + "': " + error.message()));
  const std::filesystem::path out(parsed.out);
  const std::string pb = (out / "plan.pb").string(), txt = (out / "plan.txt").string(),
                    dot = (out / "plan.dot").string();
  if (Status status = SavePlan(plan, pb); !status.ok()) return Fail(status);
  if (Status status = WriteFile(txt, PlanToText(plan)); !status.ok()) return Fail(status);
  if (Status status = WriteFile(dot, PlanToDot(plan)); !status.ok()) return Fail(status);

  std::cout << "compiled " << parsed.job << ": " << logical_nodes << " logical nodes -> "
            << result.value().graph.NumLiveNodes() << " after passes\n";
  PrintTimings(result.value().timings);
  std::cout << "plan: " << PlanSummaryToString(SummarizePlan(plan));
  std::cout << "wrote " << pb << ", " << txt << ", " << dot << "\n";
  return 0;
}

}  // namespace ofl::cli

// `ofl`: the command-line tool for the daily jobs (DESIGN.md section 8).
#include <iostream>
#include <string>
#include <vector>

#include "tools/ofl/commands.h"

namespace {

void PrintUsage() {
  std::cout << "usage: ofl <command> [options]\n\n"
               "commands:\n"
               "  ops [--json]                       list every op: inputs, outputs, attributes,\n"
               "                                     SBP signatures, gradient, kernels\n"
               "  selfcheck [--devices 2,4] [--json FILE]\n"
               "                                     run every op whole and under every SBP\n"
               "                                     signature on virtual CPU devices and compare\n"
               "  compile JOB.txt [--out DIR] [--no-fusion] [--inference]\n"
               "                                     compile a saved job (IR text) into a plan:\n"
               "                                     DIR/plan.pb, plan.txt, plan.dot and a summary\n"
               "  run JOB.txt|PLAN.pb [--steps N] [--feed random|zeros] [--seed S] [--classes C]\n"
               "                                     run a job or plan with generated feeds and\n"
               "                                     print each step's fetches\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" ||
      std::string(argv[1]) == "help") {
    PrintUsage();
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  try {
    if (command == "ops") return ofl::cli::RunOpsCommand(args);
    if (command == "selfcheck") return ofl::cli::RunSelfCheckCommand(args);
    if (command == "compile") return ofl::cli::RunCompileCommand(args);
    if (command == "run") return ofl::cli::RunRunCommand(args);
  } catch (const std::exception& error) {
    std::cerr << "ofl " << command << ": " << error.what() << "\n";
    return 1;
  }
  std::cerr << "ofl: unknown command '" << command << "'\n\n";
  PrintUsage();
  return 2;
}

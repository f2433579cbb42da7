// Subcommands of the `ofl` command-line tool. Each returns the process exit
// code and prints to stdout (results) and stderr (errors).
#pragma once

#include <string>
#include <vector>

namespace ofl::cli {

/// `ofl ops [--json]`: every registered op with inputs, outputs, attributes,
/// SBP signatures (for the op's example), gradient and kernel devices.
int RunOpsCommand(const std::vector<std::string>& args);

/// `ofl selfcheck [--devices N,...] [--json FILE]`: runs every op's example
/// on the CPU whole and under every SBP signature on virtual devices, and
/// compares the assembled result with the whole one.
int RunSelfCheckCommand(const std::vector<std::string>& args);

/// `ofl compile JOB.txt [--out DIR] [--no-fusion] [--inference]`: compiles a
/// saved job (IR text) and writes the plan as protobuf, text and dot.
int RunCompileCommand(const std::vector<std::string>& args);

/// `ofl run JOB.txt|PLAN.pb [--steps N] [--feed random|zeros] [--seed S] [--classes C]`:
/// compiles a job (or loads a plan), runs N steps with generated feeds and
/// prints each step's fetches.
int RunRunCommand(const std::vector<std::string>& args);

}  // namespace ofl::cli

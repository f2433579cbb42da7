#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

#include "ops/eager.h"
#include "ops/registry.h"
#include "ops/sbp_consistency.h"
#include "tools/ofl/commands.h"
#include "tools/ofl/json_writer.h"

namespace ofl::cli {

namespace {

// Inputs for an op's example: floats uniform in [0.5, 1.5) (inside every
// op's domain: log, sqrt, pow), integers 1 (a valid index, label and step).
std::vector<HostTensor> ExampleInputs(const OpSchema& schema, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(0.5, 1.5);
  std::vector<HostTensor> inputs;
  for (const TensorDesc& desc : schema.example.inputs) {
    HostTensor tensor(desc);
    for (int64_t i = 0; i < tensor.NumElements(); ++i) {
      tensor.SetFromDouble(i, IsFloatingPoint(desc.dtype) ? uniform(rng) : 1.0);
    }
    inputs.push_back(tensor);
  }
  return inputs;
}

std::vector<HostTensor> CloneAll(const std::vector<HostTensor>& tensors) {
  std::vector<HostTensor> copies;
  for (const HostTensor& t : tensors) copies.push_back(t.Clone());
  return copies;
}

struct OpResult {
  std::string op;
  int signatures = 0;
  int runs = 0;
  double worst = 0.0;  ///< worst tolerance ratio; <= 1 passes
  std::string error;
};

OpResult CheckOp(const EagerExecutor& executor, const OpSchema& schema, const std::vector<int>& device_counts) {
  OpResult result;
  result.op = schema.name;
  const std::vector<HostTensor> inputs = ExampleInputs(schema, std::hash<std::string>{}(schema.name));
  std::vector<TensorDesc> descs;
  for (const HostTensor& input : inputs) descs.push_back(input.desc());
  auto inferred = executor.ops().Infer(schema.name, descs, schema.example.attrs);
  if (!inferred.ok()) {
    result.error = inferred.status().message();
    return result;
  }
  std::vector<HostTensor> whole_inputs = CloneAll(inputs);
  auto whole = executor.Run(schema.name, whole_inputs, inferred.value().attrs);
  if (!whole.ok()) {
    result.error = whole.status().message();
    return result;
  }
  std::vector<HostTensor> expected = whole.value();
  for (int m : schema.mutated_inputs) expected.push_back(whole_inputs[m]);
  // Each device count runs the list that count gets (reshape lists more
  // once the count is known); `signatures` counts the distinct layouts.
  std::vector<SbpSignature> distinct;
  for (int devices : device_counts) {
    auto signatures = executor.ops().Signatures(schema.name, descs, inferred.value().attrs, devices);
    if (!signatures.ok()) {
      result.error = signatures.status().message();
      return result;
    }
    for (const SbpSignature& signature : signatures.value()) {
      AddUnique(distinct, signature);
      auto assembled = RunUnderSignature(executor, schema.name, inferred.value().attrs, CloneAll(inputs),
                                         signature, devices, 1234 + devices);
      ++result.runs;
      if (!assembled.ok()) {
        result.error = signature.ToString() + " on " + std::to_string(devices) +
                       " devices: " + assembled.status().message();
        return result;
      }
      for (size_t o = 0; o < expected.size(); ++o) {
        const bool low_precision = expected[o].dtype() == DType::kF16 || expected[o].dtype() == DType::kBF16;
        const double rtol = expected[o].dtype() == DType::kF64 ? 1e-10 : (low_precision ? 1e-2 : 1e-4);
        result.worst =
            std::max(result.worst, WorstToleranceRatio(assembled.value()[o], expected[o], rtol, rtol * 0.1));
      }
    }
  }
  result.signatures = static_cast<int>(distinct.size());
  return result;
}

StatusOr<std::vector<int>> ParseDeviceCounts(const std::string& text) {
  std::vector<int> counts;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    char* end = nullptr;
    const long value = std::strtol(item.c_str(), &end, 10);
    OFL_CHECK_OR_RETURN(end != item.c_str() && *end == '\0' && value >= 1 && value <= 64)
        << "[selfcheck] --devices: expected a comma-separated list of counts in [1, 64], got '" << text << "'";
    counts.push_back(static_cast<int>(value));
  }
  OFL_CHECK_OR_RETURN(!counts.empty()) << "[selfcheck] --devices: expected at least one count, got none";
  return counts;
}

}  // namespace

int RunSelfCheckCommand(const std::vector<std::string>& args) {
  std::vector<int> device_counts = {2, 4};
  std::string json_path;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--devices" && i + 1 < args.size()) {
      auto counts = ParseDeviceCounts(args[++i]);
      if (!counts.ok()) {
        std::cerr << counts.status().message() << "\n";
        return 2;
      }
      device_counts = counts.value();
    } else if (args[i] == "--json" && i + 1 < args.size()) {
      json_path = args[++i];
    } else {
      std::cerr << "ofl selfcheck: unknown option '" << args[i] << "' (expected --devices N,... or --json FILE)\n";
      return 2;
    }
  }
  const Registries& registries = DefaultRegistries();
  const EagerExecutor executor(registries.ops, registries.kernels);
  const auto start = std::chrono::steady_clock::now();
  std::vector<OpResult> results;
  int failures = 0;
  std::printf("%-36s %10s %6s %14s  %s\n", "op", "signatures", "runs", "worst err/tol", "result");
  for (const std::string& name : registries.ops.Names()) {
    OpResult result = CheckOp(executor, *registries.ops.Find(name), device_counts);
    const bool ok = result.error.empty() && result.worst <= 1.0;
    failures += ok ? 0 : 1;
    std::printf("%-36s %10d %6d %14.3g  %s\n", name.c_str(), result.signatures, result.runs, result.worst,
                ok ? "ok" : ("FAILED " + result.error).c_str());
    results.push_back(std::move(result));
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("selfcheck: %zu ops, %d failed, %.2f s (virtual CPU devices:", results.size(), failures, seconds);
  for (int d : device_counts) std::printf(" %d", d);
  std::printf(")\n");
  if (!json_path.empty()) {
    JsonWriter json;
    json.BeginObject().Key("ops").BeginArray();
    for (const OpResult& r : results) {
      json.BeginObject().Key("op").String(r.op).Key("signatures").Number(r.signatures).Key("runs").Number(r.runs);
      json.Key("worst_tolerance_ratio").Number(r.worst).Key("error").String(r.error).EndObject();
    }
    json.EndArray().Key("failed").Number(failures).Key("seconds").Number(seconds).EndObject();
    std::ofstream(json_path) << json.str() << "\n";
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace ofl::cli

// Session: a GraphBuilder's job compiled (compiler::Compile) and loaded into
// the actor runtime (runtime/runtime.h), ready to run steps. Feeds and
// fetches are logical HostTensors by name; variables are read and written
// as logical tensors by their full name ("mlp/fc0.weight",
// "optimizer.step"). Errors are Status: a builder error, a compile error
// (named by op), a bad feed or a kernel error (named by actor and op).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "api/graph_builder.h"
#include "compiler/compile.h"
#include "oneflow_like/host_tensor.h"
#include "oneflow_like/kernel.h"
#include "runtime/runtime.h"

namespace ofl::api {

/// How a Session compiles and where its kernels come from.
struct SessionOptions {
  compiler::CompileOptions compile;
  /// Kernels to run (DefaultRegistries().kernels when null); must outlive the
  /// session.
  const KernelRegistry* kernels = nullptr;
};

/// A compiled, loaded job. Not thread-safe: one call at a time.
class Session {
 public:
  /// Compiles `builder`'s graph and loads the plan (variables initialised).
  static StatusOr<std::unique_ptr<Session>> Create(const GraphBuilder& builder,
                                                   const SessionOptions& options = {});

  /// Runs one step with `feeds`; returns the fetches by name.
  StatusOr<runtime::TensorMap> Run(const runtime::TensorMap& feeds);
  /// Runs `steps` steps fed by `feeds(step)`; returns each step's fetches.
  StatusOr<std::vector<runtime::TensorMap>> Run(int64_t steps, const runtime::FeedFunction& feeds);
  /// The logical value of variable `name`.
  StatusOr<HostTensor> ReadVariable(const std::string& name) const;
  /// Overwrites variable `name` (same shape and dtype).
  Status WriteVariable(const std::string& name, const HostTensor& value);

  /// The compiled graph and plan.
  const compiler::CompileResult& compiled() const { return compiled_; }
  /// The runtime executing the plan.
  runtime::Runtime& runtime() { return *runtime_; }

 private:
  Session(compiler::CompileResult compiled, std::unique_ptr<runtime::Runtime> runtime)
      : compiled_(std::move(compiled)), runtime_(std::move(runtime)) {}

  compiler::CompileResult compiled_;
  std::unique_ptr<runtime::Runtime> runtime_;
};

}  // namespace ofl::api

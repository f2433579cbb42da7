#include "api/session.h"

#include "ops/registry.h"

namespace ofl::api {

StatusOr<std::unique_ptr<Session>> Session::Create(const GraphBuilder& builder,
                                                   const SessionOptions& options) {
  OFL_ASSIGN_OR_RETURN(compiler::CompileResult compiled, builder.Compile(options.compile));
  const KernelRegistry& kernels = options.kernels != nullptr ? *options.kernels : DefaultRegistries().kernels;
  OFL_ASSIGN_OR_RETURN(std::unique_ptr<runtime::Runtime> runtime,
                       runtime::Runtime::Load(compiled.plan, kernels));
  return std::unique_ptr<Session>(new Session(std::move(compiled), std::move(runtime)));
}

StatusOr<runtime::TensorMap> Session::Run(const runtime::TensorMap& feeds) {
  return runtime_->RunStep(feeds);
}

StatusOr<std::vector<runtime::TensorMap>> Session::Run(int64_t steps, const runtime::FeedFunction& feeds) {
  return runtime_->Run(steps, feeds);
}

StatusOr<HostTensor> Session::ReadVariable(const std::string& name) const {
  return runtime_->ReadVariable(name);
}

Status Session::WriteVariable(const std::string& name, const HostTensor& value) {
  return runtime_->WriteVariable(name, value);
}

}  // namespace ofl::api

#include "ops/eager.h"

namespace ofl {

StatusOr<std::vector<HostTensor>> EagerExecutor::Run(const std::string& op,
                                                     const std::vector<HostTensor>& inputs,
                                                     const AttrMap& attrs) const {
  std::vector<TensorDesc> descs;
  for (const HostTensor& input : inputs) descs.push_back(input.desc());
  OFL_ASSIGN_OR_RETURN(InferredOp inferred, ops_.Infer(op, descs, attrs));
  std::vector<HostTensor> outputs;
  std::vector<TensorArg> input_args;
  std::vector<TensorArg> output_args;
  for (const HostTensor& input : inputs) input_args.push_back(TensorArg::Whole(input.AsBlob()));
  for (const TensorDesc& desc : inferred.outputs) {
    outputs.emplace_back(desc);
    output_args.push_back(TensorArg::Whole(outputs.back().AsBlob()));
  }
  OFL_RETURN_IF_ERROR(RunKernel(op, inferred.attrs, std::move(input_args), std::move(output_args)));
  return outputs;
}

Status EagerExecutor::RunKernel(const std::string& op, const AttrMap& attrs, std::vector<TensorArg> inputs,
                                std::vector<TensorArg> outputs) const {
  const DType key_dtype = !inputs.empty() ? inputs[0].blob.dtype() : outputs.at(0).blob.dtype();
  const DeviceType device = launcher_ != nullptr ? launcher_->device_type() : DeviceType::kCPU;
  OFL_ASSIGN_OR_RETURN(KernelFactory factory, kernels_.Find(KernelKey{op, device, key_dtype}));
  std::unique_ptr<Kernel> kernel = factory();
  KernelContext ctx;
  ctx.op_name = op;
  ctx.attrs = &attrs;
  ctx.inputs = std::move(inputs);
  ctx.outputs = std::move(outputs);
  if (launcher_ != nullptr) return launcher_->Launch(*kernel, ctx);
  CpuStream stream;
  ctx.stream = &stream;
  return kernel->Compute(ctx);
}

ValueRef EagerEmitter::Add(HostTensor tensor) {
  values_.push_back(std::move(tensor));
  return ValueRef{static_cast<int64_t>(values_.size()) - 1};
}

StatusOr<std::vector<ValueRef>> EagerEmitter::Emit(const std::string& op, const std::vector<ValueRef>& inputs,
                                                   const AttrMap& attrs) {
  std::vector<HostTensor> tensors;
  for (ValueRef input : inputs) {
    OFL_CHECK_OR_RETURN(input.valid() && input.id < static_cast<int64_t>(values_.size()))
        << "[" << op << "] input: expected a value of this emitter, got id " << input.id;
    tensors.push_back(values_[input.id]);
  }
  OFL_ASSIGN_OR_RETURN(std::vector<HostTensor> outputs, executor_.Run(op, tensors, attrs));
  std::vector<ValueRef> refs;
  for (HostTensor& output : outputs) refs.push_back(Add(std::move(output)));
  return refs;
}

}  // namespace ofl

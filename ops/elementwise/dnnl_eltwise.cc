#include "ops/elementwise/dnnl_eltwise.h"

#include <memory>
#include <optional>
#include <unordered_map>

#include "ops/matmul/dnnl_context.h"

namespace ofl {

namespace {

// One eltwise primitive (forward, or backward reading x and dy),
// cached per kernel object by element count and algorithm: an actor runs
// the same op on the same piece every step, so it is built once.
class DnnlEltwise final : public Kernel {
 public:
  DnnlEltwise(EltwiseChooser choose, KernelFactory fallback, bool backward)
      : choose_(std::move(choose)), fallback_factory_(std::move(fallback)), backward_(backward) {}

  Status Compute(KernelContext& ctx) override {
    const int inputs = backward_ ? 2 : 1;
    OFL_CHECK_OR_RETURN(static_cast<int>(ctx.inputs.size()) == inputs && ctx.outputs.size() == 1)
        << "[" << ctx.op_name << "] cpu kernel: expected " << inputs << " input(s) and 1 output, got "
        << ctx.inputs.size() << " and " << ctx.outputs.size();
    const int64_t count = ctx.out(0).NumElements();
    for (int i = 0; i < inputs; ++i) {
      OFL_CHECK_OR_RETURN(ctx.in(i).dtype() == DType::kF32 && ctx.in(i).NumElements() == count)
          << "[" << ctx.op_name << "] cpu kernel: expected f32 input " << i << " of " << count
          << " elements, got " << DTypeName(ctx.in(i).dtype()) << " " << ctx.in(i).shape().ToString();
    }
    // Empty pieces (uneven splits) never reach oneDNN, which rejects zero dims.
    if (count == 0) return Status::Ok();
    const std::optional<EltwiseAlgorithm> chosen = choose_(ctx.attr());
    if (!chosen) return RunFallback(ctx);
    const EltwiseAlgorithm& algorithm = *chosen;
    return DnnlGuard(ctx.op_name, [&]() -> Status {
      if (!cached_ || count_ != count || !(algorithm_ == algorithm)) Build(count, algorithm);
      in_memory_.set_data_handle(ctx.in(0).data);
      if (backward_) dy_memory_.set_data_handle(ctx.in(1).data);
      out_memory_.set_data_handle(ctx.out(0).data);
      dnnl::stream& stream = DnnlCpuStream();
      primitive_.execute(stream, arguments_);
      stream.wait();
      return Status::Ok();
    });
  }

 private:
  Status RunFallback(KernelContext& ctx) {
    OFL_CHECK_OR_RETURN(fallback_factory_ != nullptr)
        << "[" << ctx.op_name << "] cpu kernel: expected a oneDNN algorithm for these attributes, got none";
    if (!fallback_) fallback_ = fallback_factory_();
    return fallback_->Compute(ctx);
  }

  void Build(int64_t count, const EltwiseAlgorithm& algorithm) {
    using dnnl::memory;
    cached_ = false;  // a Build that throws leaves nothing half-cached
    const dnnl::engine& engine = DnnlCpuEngine();
    const memory::desc desc = DnnlF32PlainDesc({count});
    const dnnl::primitive_attr attributes = DnnlUserScratchpadAttr();
    if (backward_) {
      // The forward descriptor is only the hint oneDNN requires for backward.
      const dnnl::eltwise_forward::primitive_desc hint(
          dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_training, algorithm.kind, desc, algorithm.alpha,
                                      algorithm.beta),
          engine);
      const dnnl::eltwise_backward::primitive_desc descriptor(
          dnnl::eltwise_backward::desc(algorithm.kind, desc, desc, algorithm.alpha, algorithm.beta), attributes,
          engine, hint);
      primitive_ = dnnl::eltwise_backward(descriptor);
      scratchpad_ = memory(descriptor.scratchpad_desc(), engine);
      in_memory_ = memory(desc, engine, DNNL_MEMORY_NONE);
      dy_memory_ = memory(desc, engine, DNNL_MEMORY_NONE);
      out_memory_ = memory(desc, engine, DNNL_MEMORY_NONE);
      arguments_ = {{DNNL_ARG_SRC, in_memory_},
                    {DNNL_ARG_DIFF_DST, dy_memory_},
                    {DNNL_ARG_DIFF_SRC, out_memory_},
                    {DNNL_ARG_SCRATCHPAD, scratchpad_}};
    } else {
      // forward_inference: nothing is kept for a backward primitive, whose
      // inputs our graph passes explicitly.
      const dnnl::eltwise_forward::primitive_desc descriptor(
          dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_inference, algorithm.kind, desc, algorithm.alpha,
                                      algorithm.beta),
          attributes, engine);
      primitive_ = dnnl::eltwise_forward(descriptor);
      scratchpad_ = memory(descriptor.scratchpad_desc(), engine);
      in_memory_ = memory(desc, engine, DNNL_MEMORY_NONE);
      out_memory_ = memory(desc, engine, DNNL_MEMORY_NONE);
      arguments_ = {{DNNL_ARG_SRC, in_memory_}, {DNNL_ARG_DST, out_memory_}, {DNNL_ARG_SCRATCHPAD, scratchpad_}};
    }
    count_ = count;
    algorithm_ = algorithm;
    cached_ = true;
  }

  EltwiseChooser choose_;
  KernelFactory fallback_factory_;
  std::unique_ptr<Kernel> fallback_;  ///< created on the first declined call
  bool backward_;
  bool cached_ = false;
  int64_t count_ = 0;
  EltwiseAlgorithm algorithm_;
  dnnl::primitive primitive_;
  dnnl::memory in_memory_;  ///< x, the forward input (both directions)
  dnnl::memory dy_memory_, out_memory_, scratchpad_;
  std::unordered_map<int, dnnl::memory> arguments_;
};

}  // namespace

EltwiseChooser FixedEltwise(dnnl::algorithm kind, float alpha, float beta) {
  return [algorithm = EltwiseAlgorithm{kind, alpha, beta}](const AttrMap&) -> std::optional<EltwiseAlgorithm> {
    return algorithm;
  };
}

KernelFactory DnnlEltwiseForwardKernel(EltwiseChooser choose, KernelFactory fallback) {
  return [choose = std::move(choose), fallback = std::move(fallback)]() -> std::unique_ptr<Kernel> {
    return std::make_unique<DnnlEltwise>(choose, fallback, false);
  };
}

KernelFactory DnnlEltwiseBackwardKernel(EltwiseChooser choose, KernelFactory fallback) {
  return [choose = std::move(choose), fallback = std::move(fallback)]() -> std::unique_ptr<Kernel> {
    return std::make_unique<DnnlEltwise>(choose, fallback, true);
  };
}

Status RegisterEltwiseKernels(KernelRegistry& kernels, const std::string& op, const std::vector<DType>& dtypes,
                              const KernelFactory& loop_kernel, const KernelFactory& f32_kernel) {
  std::vector<DType> loop_dtypes;
  for (DType dtype : dtypes) {
    if (dtype == DType::kF32 && f32_kernel) {
      OFL_RETURN_IF_ERROR(kernels.Register(KernelKey{op, DeviceType::kCPU, DType::kF32}, f32_kernel));
    } else {
      loop_dtypes.push_back(dtype);
    }
  }
  return kernels.RegisterForDTypes(op, DeviceType::kCPU, loop_dtypes, loop_kernel);
}

}  // namespace ofl

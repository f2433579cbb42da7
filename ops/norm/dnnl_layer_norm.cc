#include "ops/norm/dnnl_layer_norm.h"

#include <cmath>
#include <memory>
#include <unordered_map>

#include "ops/matmul/dnnl_context.h"
#include "ops/norm/layer_norm_loops.h"
#include "ops/norm/norm_common.h"

namespace ofl {

namespace {

// The primitive over the piece seen as [rows, cols], cached per kernel
// object by that size and epsilon: an actor runs the same op on the same
// piece every step, so it is built once.
class DnnlLayerNorm final : public Kernel {
 public:
  Status Compute(KernelContext& ctx) override {
    const Shape& shape = ctx.in(0).shape();
    const int64_t axis = ctx.attr().GetInt("begin_norm_axis");
    const NormRows view = NormRows::Of(shape, static_cast<int>(axis < 0 ? axis + shape.rank() : axis));
    const float epsilon = static_cast<float>(ctx.attr().GetFloat("epsilon"));
    // oneDNN rejects zero dims; the loops also give the statistics of an
    // empty row (mean 0, inv_std 1 / sqrt(epsilon)).
    if (view.rows == 0 || view.cols == 0 || ctx.in(0).dtype() != DType::kF32) return LoopLayerNorm(ctx);
    return DnnlGuard(ctx.op_name, [&]() -> Status {
      if (!cached_ || rows_ != view.rows || cols_ != view.cols || epsilon_ != epsilon) {
        Build(view.rows, view.cols, epsilon);
      }
      x_memory_.set_data_handle(ctx.in(0).data);
      gamma_memory_.set_data_handle(ctx.in(1).data);
      beta_memory_.set_data_handle(ctx.in(2).data);
      y_memory_.set_data_handle(ctx.out(0).data);
      mean_memory_.set_data_handle(ctx.out(1).data);
      float* inv_std = ctx.out(2).As<float>();
      variance_memory_.set_data_handle(inv_std);
      dnnl::stream& stream = DnnlCpuStream();
      primitive_.execute(stream, arguments_);
      stream.wait();
      // One pass over `rows` values, against rows * cols for the primitive.
      for (int64_t r = 0; r < view.rows; ++r) inv_std[r] = 1.0f / std::sqrt(inv_std[r] + epsilon);
      return Status::Ok();
    });
  }

 private:
  void Build(int64_t rows, int64_t cols, float epsilon) {
    using dnnl::memory;
    cached_ = false;  // a Build that throws leaves nothing half-cached
    const dnnl::engine& engine = DnnlCpuEngine();
    const memory::desc data = DnnlF32PlainDesc({rows, cols});
    const memory::desc statistics = DnnlF32PlainDesc({rows});
    const memory::desc parameter = DnnlF32PlainDesc({cols});
    // forward_training: the mean and variance are outputs (forward_inference
    // would keep them internal).
    const dnnl::layer_normalization_forward::primitive_desc descriptor(
        dnnl::layer_normalization_forward::desc(
            dnnl::prop_kind::forward_training, data, statistics, epsilon,
            dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift),
        DnnlUserScratchpadAttr(), engine);
    primitive_ = dnnl::layer_normalization_forward(descriptor);
    scratchpad_ = memory(descriptor.scratchpad_desc(), engine);
    x_memory_ = memory(data, engine, DNNL_MEMORY_NONE);
    y_memory_ = memory(data, engine, DNNL_MEMORY_NONE);
    gamma_memory_ = memory(parameter, engine, DNNL_MEMORY_NONE);
    beta_memory_ = memory(parameter, engine, DNNL_MEMORY_NONE);
    mean_memory_ = memory(statistics, engine, DNNL_MEMORY_NONE);
    variance_memory_ = memory(statistics, engine, DNNL_MEMORY_NONE);
    arguments_ = {{DNNL_ARG_SRC, x_memory_},      {DNNL_ARG_DST, y_memory_},     {DNNL_ARG_SCALE, gamma_memory_},
                  {DNNL_ARG_SHIFT, beta_memory_}, {DNNL_ARG_MEAN, mean_memory_}, {DNNL_ARG_VARIANCE, variance_memory_},
                  {DNNL_ARG_SCRATCHPAD, scratchpad_}};
    rows_ = rows;
    cols_ = cols;
    epsilon_ = epsilon;
    cached_ = true;
  }

  bool cached_ = false;
  int64_t rows_ = 0;
  int64_t cols_ = 0;
  float epsilon_ = 0.0f;
  dnnl::primitive primitive_;
  dnnl::memory x_memory_, y_memory_, gamma_memory_, beta_memory_, mean_memory_, variance_memory_, scratchpad_;
  std::unordered_map<int, dnnl::memory> arguments_;
};

}  // namespace

KernelFactory DnnlLayerNormKernel() {
  return []() -> std::unique_ptr<Kernel> { return std::make_unique<DnnlLayerNorm>(); };
}

}  // namespace ofl

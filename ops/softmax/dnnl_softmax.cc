#include "ops/softmax/dnnl_softmax.h"

#include <memory>
#include <unordered_map>

#include "ops/matmul/dnnl_context.h"
#include "ops/softmax/axis_lines.h"
#include "ops/softmax/softmax_loops.h"

namespace ofl {

namespace {

// The backward primitive over the piece seen as [rows, extent], cached per
// kernel object by that size: an actor runs the same op on the same piece
// every step, so it is built once.
class DnnlSoftmaxGrad final : public Kernel {
 public:
  Status Compute(KernelContext& ctx) override {
    const Shape& shape = ctx.in(0).shape();
    const int64_t axis = ctx.attr().GetInt("axis");
    const AxisView view = AxisView::Around(shape, static_cast<int>(axis < 0 ? axis + shape.rank() : axis));
    // Empty pieces (uneven splits) never reach oneDNN; the loops do nothing for them.
    if (view.inner != 1 || shape.NumElements() == 0 || ctx.in(0).dtype() != DType::kF32) {
      return LoopSoftmaxGrad(ctx, false);
    }
    return DnnlGuard(ctx.op_name, [&]() -> Status {
      if (!cached_ || rows_ != view.outer || extent_ != view.extent) Build(view.outer, view.extent);
      y_memory_.set_data_handle(ctx.in(0).data);
      dy_memory_.set_data_handle(ctx.in(1).data);
      dx_memory_.set_data_handle(ctx.out(0).data);
      dnnl::stream& stream = DnnlCpuStream();
      primitive_.execute(stream, arguments_);
      stream.wait();
      return Status::Ok();
    });
  }

 private:
  void Build(int64_t rows, int64_t extent) {
    using dnnl::memory;
    cached_ = false;  // a Build that throws leaves nothing half-cached
    const dnnl::engine& engine = DnnlCpuEngine();
    const memory::desc desc = DnnlF32PlainDesc({rows, extent});
    constexpr int kAxis = 1;
    // The forward descriptor is only the hint oneDNN requires for backward.
    const dnnl::softmax_v2_forward::primitive_desc hint(
        dnnl::softmax_v2_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::softmax_accurate, desc, desc,
                                       kAxis),
        engine);
    const dnnl::softmax_v2_backward::primitive_desc descriptor(
        dnnl::softmax_v2_backward::desc(dnnl::algorithm::softmax_accurate, desc, desc, desc, kAxis),
        DnnlUserScratchpadAttr(), engine, hint);
    primitive_ = dnnl::softmax_v2_backward(descriptor);
    scratchpad_ = memory(descriptor.scratchpad_desc(), engine);
    y_memory_ = memory(desc, engine, DNNL_MEMORY_NONE);
    dy_memory_ = memory(desc, engine, DNNL_MEMORY_NONE);
    dx_memory_ = memory(desc, engine, DNNL_MEMORY_NONE);
    arguments_ = {{DNNL_ARG_DST, y_memory_},
                  {DNNL_ARG_DIFF_DST, dy_memory_},
                  {DNNL_ARG_DIFF_SRC, dx_memory_},
                  {DNNL_ARG_SCRATCHPAD, scratchpad_}};
    rows_ = rows;
    extent_ = extent;
    cached_ = true;
  }

  bool cached_ = false;
  int64_t rows_ = 0;
  int64_t extent_ = 0;
  dnnl::softmax_v2_backward primitive_;
  dnnl::memory y_memory_, dy_memory_, dx_memory_, scratchpad_;
  std::unordered_map<int, dnnl::memory> arguments_;
};

}  // namespace

KernelFactory DnnlSoftmaxGradKernel() {
  return []() -> std::unique_ptr<Kernel> { return std::make_unique<DnnlSoftmaxGrad>(); };
}

}  // namespace ofl

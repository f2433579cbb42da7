// The f32 kernel of conv2d, conv2d_grad_data and conv2d_grad_filter:
// oneDNN's convolution in the layouts it computes fastest.
//
// oneDNN on the caller's NCHW / OIHW buffers runs an im2col + GEMM
// convolution; given free layouts it picks a direct JIT convolution on
// channel-blocked buffers (nChw16c, OIhw16i16o), about twice as fast here,
// at the price of reordering x, w and y in and out on every call.
// BlockedPaysOff keeps the plain buffers where that price is not repaid.
#include <unordered_map>
#include <utility>
#include <vector>

#include "ops/conv/conv_geometry.h"
#include "ops/conv/conv_kernels.h"
#include "ops/conv/dnnl_operand.h"
#include "ops/matmul/dnnl_context.h"

namespace ofl {

namespace {

using dnnl::memory;

// The memory descriptors of x, w and y, plain or with free layouts.
struct ConvDescs {
  memory::desc x, w, y;
};

ConvDescs PlainDescs(const ConvGeometry& g) {
  // The plain [O, C/g, kh, kw] buffer is oneDNN's goihw with g outermost.
  const memory::dims w_dims = g.p.groups == 1 ? memory::dims{g.o, g.c, g.kh, g.kw}
                                              : memory::dims{g.p.groups, g.o / g.p.groups,
                                                             g.c / g.p.groups, g.kh, g.kw};
  return {DnnlF32PlainDesc({g.n, g.c, g.h, g.w}), DnnlF32PlainDesc(w_dims),
          DnnlF32PlainDesc({g.n, g.o, g.oh, g.ow})};
}

ConvDescs FreeDescs(const ConvDescs& plain) {
  const auto any = [](const memory::desc& desc) {
    return memory::desc(desc.dims(), memory::data_type::f32, memory::format_tag::any);
  };
  return {any(plain.x), any(plain.w), any(plain.y)};
}

// One pass's primitive descriptor, with the layouts it settled on for x, w
// and y.
struct ConvPrimitiveDesc {
  dnnl::primitive_desc desc;
  ConvDescs layouts;
};

ConvPrimitiveDesc MakePrimitiveDesc(const ConvGeometry& g, ConvPass pass, const ConvDescs& descs) {
  const memory::dims strides{g.p.stride[0], g.p.stride[1]};
  // oneDNN counts dilation from 0 (no gap).
  const memory::dims dilates{g.p.dilation[0] - 1, g.p.dilation[1] - 1};
  const memory::dims padding_l{g.p.padding[0], g.p.padding[1]};
  const memory::dims padding_r{
      RightPadding(g.h, g.oh, g.kh, g.p.stride[0], g.p.padding[0], g.p.dilation[0]),
      RightPadding(g.w, g.ow, g.kw, g.p.stride[1], g.p.padding[1], g.p.dilation[1])};
  const dnnl::algorithm algorithm = dnnl::algorithm::convolution_direct;
  const dnnl::engine& engine = DnnlCpuEngine();
  // The scratchpad is the kernel's own buffer: oneDNN's default shares one
  // per thread and faults when a primitive runs on another thread than the
  // one that created it, while a kernel is only promised one caller at a
  // time, not always the same thread.
  dnnl::primitive_attr attributes;
  attributes.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  const dnnl::convolution_forward::primitive_desc forward(
      dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algorithm, descs.x, descs.w, descs.y,
                                      strides, dilates, padding_l, padding_r),
      attributes, engine);
  switch (pass) {
    case ConvPass::kForward:
      return {forward, {forward.src_desc(), forward.weights_desc(), forward.dst_desc()}};
    case ConvPass::kBackwardData: {
      const dnnl::convolution_backward_data::primitive_desc backward(
          dnnl::convolution_backward_data::desc(algorithm, descs.x, descs.w, descs.y, strides, dilates,
                                                padding_l, padding_r),
          attributes, engine, forward);
      return {backward, {backward.diff_src_desc(), backward.weights_desc(), backward.diff_dst_desc()}};
    }
    case ConvPass::kBackwardFilter: {
      const dnnl::convolution_backward_weights::primitive_desc backward(
          dnnl::convolution_backward_weights::desc(algorithm, descs.x, descs.w, descs.y, strides, dilates,
                                                   padding_l, padding_r),
          attributes, engine, forward);
      return {backward, {backward.src_desc(), backward.diff_weights_desc(), backward.diff_dst_desc()}};
    }
  }
  return {forward, {forward.src_desc(), forward.weights_desc(), forward.dst_desc()}};
}

// Whether running oneDNN in the `blocked` layouts, reorders included, beats
// running it on the plain buffers. Measured end to end on the 2-core AVX-512
// machine (GFLOP/s, plain vs blocked):
//  - a 1x1, stride-1, unpadded kernel is one GEMM on the plain buffers, as
//    fast as the blocked kernel, so the reorders are pure cost (64 -> 64
//    channels at 56x56: 211 vs 140);
//  - blocking rounds channels up to 16; where that more than doubles a
//    buffer, the blocked kernel spends most of its work on the padding
//    (conv2d_grad_data with 1 input channel: 100 vs 8, with 3: 68 vs 19);
//  - elsewhere the blocked kernels win after reordering, by 1.1x to 30x
//    (5x5, 32 -> 64 channels at 14x14: 135 vs 250; 3x3 depthwise on 64
//    channels: 2.4 vs 75).
bool BlockedPaysOff(const ConvGeometry& g, const ConvDescs& plain, const ConvDescs& blocked) {
  const bool pointwise = g.kh == 1 && g.kw == 1 && g.p.stride[0] == 1 && g.p.stride[1] == 1 &&
                         g.p.padding[0] == 0 && g.p.padding[1] == 0 && g.p.groups == 1;
  if (pointwise) return false;
  for (const auto& [plain_desc, blocked_desc] :
       {std::pair{plain.x, blocked.x}, std::pair{plain.w, blocked.w}, std::pair{plain.y, blocked.y}}) {
    if (blocked_desc.get_size() > 2 * plain_desc.get_size()) return false;
  }
  return true;
}

class DnnlConv final : public Kernel {
 public:
  explicit DnnlConv(ConvPass pass) : pass_(pass) {}

  Status Compute(KernelContext& ctx) override {
    OFL_ASSIGN_OR_RETURN(ConvGeometry g, ConvGeometryOf(ctx, pass_));
    if (ConvHandledWithoutCompute(g, ctx.out(0), pass_)) return Status::Ok();
    return DnnlGuard(ctx.op_name, [&]() -> Status {
      if (key_ != g.Key()) Build(g);
      const ConvBlobs blobs = ConvBlobsOf(ctx, pass_);
      x_.SetBuffer(blobs.x->data);
      w_.SetBuffer(blobs.w->data);
      y_.SetBuffer(blobs.y->data);
      dnnl::stream& stream = DnnlCpuStream();
      for (DnnlOperand* operand : {&x_, &w_, &y_}) operand->BeforePrimitive(stream);
      primitive_.execute(stream, arguments_);
      for (DnnlOperand* operand : {&x_, &w_, &y_}) operand->AfterPrimitive(stream);
      stream.wait();
      return Status::Ok();
    });
  }

 private:
  void Build(const ConvGeometry& g) {
    key_.clear();  // a Build that throws leaves nothing to reuse
    const ConvDescs plain = PlainDescs(g);
    ConvPrimitiveDesc chosen = MakePrimitiveDesc(g, pass_, FreeDescs(plain));
    if (!BlockedPaysOff(g, plain, chosen.layouts)) chosen = MakePrimitiveDesc(g, pass_, plain);
    const dnnl::engine& engine = DnnlCpuEngine();
    using Role = DnnlOperand::Role;
    // Each pass writes one of x, w and y and reads the other two.
    const auto role = [&](ConvPass writes) { return pass_ == writes ? Role::kOutput : Role::kInput; };
    x_.Bind(plain.x, chosen.layouts.x, role(ConvPass::kBackwardData), engine);
    w_.Bind(plain.w, chosen.layouts.w, role(ConvPass::kBackwardFilter), engine);
    y_.Bind(plain.y, chosen.layouts.y, role(ConvPass::kForward), engine);
    scratchpad_ = memory(chosen.desc.scratchpad_desc(), engine);
    primitive_ = dnnl::primitive(chosen.desc);
    arguments_ = {{DNNL_ARG_SCRATCHPAD, scratchpad_}};
    switch (pass_) {
      case ConvPass::kForward:
        arguments_.insert({{DNNL_ARG_SRC, x_.primitive_memory()},
                           {DNNL_ARG_WEIGHTS, w_.primitive_memory()},
                           {DNNL_ARG_DST, y_.primitive_memory()}});
        break;
      case ConvPass::kBackwardData:
        arguments_.insert({{DNNL_ARG_DIFF_SRC, x_.primitive_memory()},
                           {DNNL_ARG_WEIGHTS, w_.primitive_memory()},
                           {DNNL_ARG_DIFF_DST, y_.primitive_memory()}});
        break;
      case ConvPass::kBackwardFilter:
        arguments_.insert({{DNNL_ARG_SRC, x_.primitive_memory()},
                           {DNNL_ARG_DIFF_WEIGHTS, w_.primitive_memory()},
                           {DNNL_ARG_DIFF_DST, y_.primitive_memory()}});
        break;
    }
    key_ = g.Key();
  }

  const ConvPass pass_;
  std::vector<int64_t> key_;
  dnnl::primitive primitive_;
  DnnlOperand x_, w_, y_;
  memory scratchpad_;
  std::unordered_map<int, memory> arguments_;
};

}  // namespace

KernelFactory DnnlConvKernel(ConvPass pass) {
  return [pass]() -> std::unique_ptr<Kernel> { return std::make_unique<DnnlConv>(pass); };
}

}  // namespace ofl

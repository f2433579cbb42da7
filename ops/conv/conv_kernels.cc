#include "ops/conv/conv_kernels.h"

#include <cstring>
#include <unordered_map>

#include "oneflow_like/parallel.h"
#include "ops/common/kernel_helpers.h"
#include "ops/conv/conv_params.h"
#include "ops/matmul/dnnl_context.h"

namespace ofl {

namespace {

// One convolution as the physical pieces define it. Kernels never need the
// logical shapes: every signature hands a device a smaller convolution (fewer
// images or channels) or a partial one whose sum is the result.
struct ConvGeometry {
  int64_t n = 0, c = 0, h = 0, w = 0;  ///< x
  int64_t o = 0, kh = 0, kw = 0;       ///< w is [o, c / groups, kh, kw]
  int64_t oh = 0, ow = 0;              ///< y
  Conv2dParams p;

  std::vector<int64_t> Key() const {
    return {n,
            c,
            h,
            w,
            o,
            kh,
            kw,
            oh,
            ow,
            p.stride[0],
            p.stride[1],
            p.padding[0],
            p.padding[1],
            p.dilation[0],
            p.dilation[1],
            p.groups};
  }
};

// Blobs of x, w and y for `pass` (one of them is the output).
struct ConvBlobs {
  const Blob* x;
  const Blob* w;
  const Blob* y;
};

ConvBlobs BlobsOf(const KernelContext& ctx, ConvPass pass) {
  switch (pass) {
    case ConvPass::kForward:
      return {&ctx.in(0), &ctx.in(1), &ctx.out(0)};
    case ConvPass::kBackwardData:
      return {&ctx.out(0), &ctx.in(1), &ctx.in(0)};
    case ConvPass::kBackwardFilter:
      return {&ctx.in(1), &ctx.out(0), &ctx.in(0)};
  }
  return {&ctx.in(0), &ctx.in(1), &ctx.out(0)};
}

StatusOr<ConvGeometry> GeometryOf(const KernelContext& ctx, ConvPass pass) {
  const ConvBlobs blobs = BlobsOf(ctx, pass);
  const Shape& x = blobs.x->shape();
  const Shape& w = blobs.w->shape();
  const Shape& y = blobs.y->shape();
  OFL_ASSIGN_OR_RETURN(Conv2dParams p, ReadConv2dParams("[" + ctx.op_name + "]", ctx.attr()));
  const bool ranks_ok = x.rank() == 4 && w.rank() == 4 && y.rank() == 4;
  const bool consistent = ranks_ok && x[0] == y[0] && w[0] == y[1] && w[1] * p.groups == x[1] &&
                          y[2] == WindowOutputExtent(x[2], w[2], p.stride[0], p.padding[0], p.dilation[0]) &&
                          y[3] == WindowOutputExtent(x[3], w[3], p.stride[1], p.padding[1], p.dilation[1]);
  OFL_CHECK_OR_RETURN(consistent) << "[" << ctx.op_name
                                  << "] cpu kernel: expected pieces of one convolution, got x "
                                  << x.ToString() << ", w " << w.ToString() << ", y " << y.ToString();
  return ConvGeometry{x[0], x[1], x[2], x[3], w[0], w[2], w[3], y[2], y[3], p};
}

// Zero-sized pieces never reach oneDNN: an empty output needs nothing; an
// empty contraction (no channels, or no images for dw) gives zeros.
bool HandledWithoutCompute(const ConvGeometry& g, const Blob& out, ConvPass pass) {
  if (out.NumElements() == 0) return true;
  const bool empty_sum = pass == ConvPass::kForward        ? g.c == 0
                         : pass == ConvPass::kBackwardData ? g.o == 0
                                                           : g.n == 0;
  if (empty_sum) {
    std::memset(out.data, 0, out.ByteSize());
    return true;
  }
  return false;
}

class DnnlConv final : public Kernel {
 public:
  explicit DnnlConv(ConvPass pass) : pass_(pass) {}

  Status Compute(KernelContext& ctx) override {
    OFL_ASSIGN_OR_RETURN(ConvGeometry g, GeometryOf(ctx, pass_));
    if (HandledWithoutCompute(g, ctx.out(0), pass_)) return Status::Ok();
    return DnnlGuard(ctx.op_name, [&]() -> Status {
      if (key_ != g.Key()) Build(g);
      const ConvBlobs blobs = BlobsOf(ctx, pass_);
      x_memory_.set_data_handle(blobs.x->data);
      w_memory_.set_data_handle(blobs.w->data);
      y_memory_.set_data_handle(blobs.y->data);
      dnnl::stream& stream = DnnlCpuStream();
      primitive_.execute(stream, arguments_);
      stream.wait();
      return Status::Ok();
    });
  }

 private:
  void Build(const ConvGeometry& g) {
    using dnnl::memory;
    const dnnl::engine& engine = DnnlCpuEngine();
    const memory::desc x_desc = DnnlF32PlainDesc({g.n, g.c, g.h, g.w});
    // The plain [O, C/g, kh, kw] buffer is oneDNN's goihw with g outermost.
    const memory::desc w_desc =
        g.p.groups == 1 ? DnnlF32PlainDesc({g.o, g.c, g.kh, g.kw})
                        : DnnlF32PlainDesc({g.p.groups, g.o / g.p.groups, g.c / g.p.groups, g.kh, g.kw});
    const memory::desc y_desc = DnnlF32PlainDesc({g.n, g.o, g.oh, g.ow});
    const memory::dims strides{g.p.stride[0], g.p.stride[1]};
    // oneDNN counts dilation from 0 (no gap).
    const memory::dims dilates{g.p.dilation[0] - 1, g.p.dilation[1] - 1};
    const memory::dims padding_l{g.p.padding[0], g.p.padding[1]};
    const memory::dims padding_r{
        RightPadding(g.h, g.oh, g.kh, g.p.stride[0], g.p.padding[0], g.p.dilation[0]),
        RightPadding(g.w, g.ow, g.kw, g.p.stride[1], g.p.padding[1], g.p.dilation[1])};
    const dnnl::algorithm algorithm = dnnl::algorithm::convolution_direct;
    const dnnl::convolution_forward::primitive_desc forward(
        dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algorithm, x_desc, w_desc, y_desc,
                                        strides, dilates, padding_l, padding_r),
        engine);
    x_memory_ = memory(x_desc, engine, DNNL_MEMORY_NONE);
    w_memory_ = memory(w_desc, engine, DNNL_MEMORY_NONE);
    y_memory_ = memory(y_desc, engine, DNNL_MEMORY_NONE);
    switch (pass_) {
      case ConvPass::kForward:
        primitive_ = dnnl::convolution_forward(forward);
        arguments_ = {{DNNL_ARG_SRC, x_memory_}, {DNNL_ARG_WEIGHTS, w_memory_}, {DNNL_ARG_DST, y_memory_}};
        break;
      case ConvPass::kBackwardData:
        primitive_ = dnnl::convolution_backward_data(dnnl::convolution_backward_data::primitive_desc(
            dnnl::convolution_backward_data::desc(algorithm, x_desc, w_desc, y_desc, strides, dilates,
                                                  padding_l, padding_r),
            engine, forward));
        arguments_ = {
            {DNNL_ARG_DIFF_SRC, x_memory_}, {DNNL_ARG_WEIGHTS, w_memory_}, {DNNL_ARG_DIFF_DST, y_memory_}};
        break;
      case ConvPass::kBackwardFilter:
        primitive_ = dnnl::convolution_backward_weights(dnnl::convolution_backward_weights::primitive_desc(
            dnnl::convolution_backward_weights::desc(algorithm, x_desc, w_desc, y_desc, strides, dilates,
                                                     padding_l, padding_r),
            engine, forward));
        arguments_ = {
            {DNNL_ARG_SRC, x_memory_}, {DNNL_ARG_DIFF_WEIGHTS, w_memory_}, {DNNL_ARG_DIFF_DST, y_memory_}};
        break;
    }
    key_ = g.Key();
  }

  const ConvPass pass_;
  std::vector<int64_t> key_;
  dnnl::primitive primitive_;
  dnnl::memory x_memory_, w_memory_, y_memory_;
  std::unordered_map<int, dnnl::memory> arguments_;
};

// Index helpers for plain NCHW / OIHW buffers.
struct ConvIndex {
  const ConvGeometry& g;
  int64_t cg() const { return g.c / g.p.groups; }  ///< input channels per group
  int64_t og() const { return g.o / g.p.groups; }  ///< output channels per group
  int64_t X(int64_t n, int64_t c, int64_t h, int64_t w) const { return ((n * g.c + c) * g.h + h) * g.w + w; }
  int64_t W(int64_t o, int64_t c, int64_t a, int64_t b) const {
    return ((o * cg() + c) * g.kh + a) * g.kw + b;
  }
  int64_t Y(int64_t n, int64_t o, int64_t i, int64_t j) const {
    return ((n * g.o + o) * g.oh + i) * g.ow + j;
  }
  /// Input row of output row i and kernel row a (may lie in the padding).
  int64_t Row(int64_t i, int64_t a) const { return i * g.p.stride[0] - g.p.padding[0] + a * g.p.dilation[0]; }
  int64_t Col(int64_t j, int64_t b) const { return j * g.p.stride[1] - g.p.padding[1] + b * g.p.dilation[1]; }
};

template <typename T>
void ConvForwardLoops(const ConvGeometry& g, const T* x, const T* w, T* y) {
  const ConvIndex at{g};
  ParallelFor(g.n * g.o, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / g.o, o = task % g.o, c0 = (o / at.og()) * at.cg();
      for (int64_t i = 0; i < g.oh; ++i) {
        for (int64_t j = 0; j < g.ow; ++j) {
          T sum = 0;
          for (int64_t c = 0; c < at.cg(); ++c) {
            for (int64_t a = 0; a < g.kh; ++a) {
              const int64_t r = at.Row(i, a);
              if (r < 0 || r >= g.h) continue;
              for (int64_t b = 0; b < g.kw; ++b) {
                const int64_t s = at.Col(j, b);
                if (s >= 0 && s < g.w) sum += x[at.X(n, c0 + c, r, s)] * w[at.W(o, c, a, b)];
              }
            }
          }
          y[at.Y(n, o, i, j)] = sum;
        }
      }
    }
  });
}

// dx[n, c, r, s] gathers every (o, i, j, a, b) whose window tap lands on (r, s).
template <typename T>
void ConvBackwardDataLoops(const ConvGeometry& g, const T* dy, const T* w, T* dx) {
  const ConvIndex at{g};
  ParallelFor(g.n * g.c, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / g.c, c = task % g.c, group = c / at.cg(), c_in_group = c % at.cg();
      for (int64_t r = 0; r < g.h; ++r) {
        for (int64_t s = 0; s < g.w; ++s) {
          T sum = 0;
          for (int64_t a = 0; a < g.kh; ++a) {
            const int64_t row_offset = r + g.p.padding[0] - a * g.p.dilation[0];
            if (row_offset < 0 || row_offset % g.p.stride[0] != 0 || row_offset / g.p.stride[0] >= g.oh)
              continue;
            const int64_t i = row_offset / g.p.stride[0];
            for (int64_t b = 0; b < g.kw; ++b) {
              const int64_t col_offset = s + g.p.padding[1] - b * g.p.dilation[1];
              if (col_offset < 0 || col_offset % g.p.stride[1] != 0 || col_offset / g.p.stride[1] >= g.ow)
                continue;
              const int64_t j = col_offset / g.p.stride[1];
              for (int64_t o = group * at.og(); o < (group + 1) * at.og(); ++o) {
                sum += dy[at.Y(n, o, i, j)] * w[at.W(o, c_in_group, a, b)];
              }
            }
          }
          dx[at.X(n, c, r, s)] = sum;
        }
      }
    }
  });
}

template <typename T>
void ConvBackwardFilterLoops(const ConvGeometry& g, const T* dy, const T* x, T* dw) {
  const ConvIndex at{g};
  ParallelFor(g.o * at.cg(), 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t o = task / at.cg(), c = task % at.cg(), c0 = (o / at.og()) * at.cg();
      for (int64_t a = 0; a < g.kh; ++a) {
        for (int64_t b = 0; b < g.kw; ++b) {
          T sum = 0;
          for (int64_t n = 0; n < g.n; ++n) {
            for (int64_t i = 0; i < g.oh; ++i) {
              const int64_t r = at.Row(i, a);
              if (r < 0 || r >= g.h) continue;
              for (int64_t j = 0; j < g.ow; ++j) {
                const int64_t s = at.Col(j, b);
                if (s >= 0 && s < g.w) sum += dy[at.Y(n, o, i, j)] * x[at.X(n, c0 + c, r, s)];
              }
            }
          }
          dw[at.W(o, c, a, b)] = sum;
        }
      }
    }
  });
}

}  // namespace

KernelFactory DnnlConvKernel(ConvPass pass) {
  return [pass]() -> std::unique_ptr<Kernel> { return std::make_unique<DnnlConv>(pass); };
}

KernelFactory LoopConvKernel(ConvPass pass) {
  return MakeFunctionKernel([pass](KernelContext& ctx) -> Status {
    OFL_ASSIGN_OR_RETURN(ConvGeometry g, GeometryOf(ctx, pass));
    if (HandledWithoutCompute(g, ctx.out(0), pass)) return Status::Ok();
    return DispatchOr(ctx, TypeList<double>{}, ctx.in(0).dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* in0 = ctx.in(0).As<T>();
      const T* in1 = ctx.in(1).As<T>();
      T* out = ctx.out(0).As<T>();
      switch (pass) {
        case ConvPass::kForward:
          ConvForwardLoops<T>(g, in0, in1, out);
          break;
        case ConvPass::kBackwardData:
          ConvBackwardDataLoops<T>(g, in0, in1, out);
          break;
        case ConvPass::kBackwardFilter:
          ConvBackwardFilterLoops<T>(g, in0, in1, out);
          break;
      }
    });
  });
}

}  // namespace ofl

#include "ops/conv/pool_kernels.h"

#include <cstring>
#include <unordered_map>

#include "oneflow_like/parallel.h"
#include "ops/common/kernel_helpers.h"
#include "ops/conv/conv_params.h"
#include "ops/matmul/dnnl_context.h"

namespace ofl {

namespace {

// One pooling as the physical pieces define it: the signatures split only
// images and channels, which pool independently.
struct PoolGeometry {
  int64_t n = 0, c = 0, h = 0, w = 0, oh = 0, ow = 0;
  Pool2dParams p;

  std::vector<int64_t> Key() const {
    return {n,
            c,
            h,
            w,
            oh,
            ow,
            p.kernel[0],
            p.kernel[1],
            p.stride[0],
            p.stride[1],
            p.padding[0],
            p.padding[1],
            p.count_include_pad ? 1 : 0};
  }
  /// Input row of output row i and window row a (may lie in the padding).
  int64_t Row(int64_t i, int64_t a) const { return i * p.stride[0] - p.padding[0] + a; }
  int64_t Col(int64_t j, int64_t b) const { return j * p.stride[1] - p.padding[1] + b; }
};

// x is the input-side blob (x or dx), y the output-side one (y or dy).
StatusOr<PoolGeometry> GeometryOf(const KernelContext& ctx, PoolKind kind, const Blob& x, const Blob& y) {
  OFL_ASSIGN_OR_RETURN(Pool2dParams p,
                       ReadPool2dParams("[" + ctx.op_name + "]", ctx.attr(), kind == PoolKind::kAverage));
  const Shape& xs = x.shape();
  const Shape& ys = y.shape();
  const bool consistent = xs.rank() == 4 && ys.rank() == 4 && xs[0] == ys[0] && xs[1] == ys[1] &&
                          ys[2] == WindowOutputExtent(xs[2], p.kernel[0], p.stride[0], p.padding[0], 1) &&
                          ys[3] == WindowOutputExtent(xs[3], p.kernel[1], p.stride[1], p.padding[1], 1);
  OFL_CHECK_OR_RETURN(consistent) << "[" << ctx.op_name
                                  << "] cpu kernel: expected pieces of one pooling, got x " << xs.ToString()
                                  << " and y " << ys.ToString();
  return PoolGeometry{xs[0], xs[1], xs[2], xs[3], ys[2], ys[3], p};
}

const Blob& InputSide(const KernelContext& ctx, bool backward) { return backward ? ctx.out(0) : ctx.in(0); }
const Blob& OutputSide(const KernelContext& ctx, PoolKind kind, bool backward) {
  if (!backward) return ctx.out(0);
  return kind == PoolKind::kMax ? ctx.in(2) : ctx.in(0);  // max: (x, y, dy); average: (dy)
}

class DnnlPool final : public Kernel {
 public:
  DnnlPool(PoolKind kind, bool backward) : kind_(kind), backward_(backward) {}

  Status Compute(KernelContext& ctx) override {
    OFL_ASSIGN_OR_RETURN(
        PoolGeometry g, GeometryOf(ctx, kind_, InputSide(ctx, backward_), OutputSide(ctx, kind_, backward_)));
    // Empty pieces (no images or channels here) never reach oneDNN.
    if (ctx.out(0).NumElements() == 0) return Status::Ok();
    return DnnlGuard(ctx.op_name, [&]() -> Status {
      if (key_ != g.Key()) Build(g);
      dnnl::stream& stream = DnnlCpuStream();
      if (!backward_) {
        x_memory_.set_data_handle(ctx.in(0).data);
        y_memory_.set_data_handle(ctx.out(0).data);
        forward_.execute(stream, forward_arguments_);
      } else {
        if (kind_ == PoolKind::kMax) {
          // The argmax workspace of oneDNN's max backward comes from running
          // the forward again on x (into the kernel's own y).
          x_memory_.set_data_handle(ctx.in(0).data);
          forward_.execute(stream, forward_arguments_);
        }
        dy_memory_.set_data_handle(OutputSide(ctx, kind_, true).data);
        dx_memory_.set_data_handle(ctx.out(0).data);
        backward_primitive_.execute(stream, backward_arguments_);
      }
      stream.wait();
      return Status::Ok();
    });
  }

 private:
  dnnl::algorithm Algorithm(const PoolGeometry& g) const {
    if (kind_ == PoolKind::kMax) return dnnl::algorithm::pooling_max;
    return g.p.count_include_pad ? dnnl::algorithm::pooling_avg_include_padding
                                 : dnnl::algorithm::pooling_avg_exclude_padding;
  }

  void Build(const PoolGeometry& g) {
    key_.clear();  // a Build that throws leaves nothing to reuse
    using dnnl::memory;
    const dnnl::engine& engine = DnnlCpuEngine();
    const memory::desc x_desc = DnnlF32PlainDesc({g.n, g.c, g.h, g.w});
    const memory::desc y_desc = DnnlF32PlainDesc({g.n, g.c, g.oh, g.ow});
    const memory::dims strides{g.p.stride[0], g.p.stride[1]};
    const memory::dims kernel{g.p.kernel[0], g.p.kernel[1]};
    const memory::dims padding_l{g.p.padding[0], g.p.padding[1]};
    const memory::dims padding_r{RightPadding(g.h, g.oh, g.p.kernel[0], g.p.stride[0], g.p.padding[0], 1),
                                 RightPadding(g.w, g.ow, g.p.kernel[1], g.p.stride[1], g.p.padding[1], 1)};
    // Max backward re-runs the forward for its argmax workspace; training
    // mode only there, where the workspace is needed.
    const bool reruns_forward = backward_ && kind_ == PoolKind::kMax;
    const dnnl::prop_kind prop =
        reruns_forward ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
    // The kernel owns the scratchpads (pooling on NCHW transposes through
    // one): oneDNN's default shares one per thread and faults when a
    // primitive runs on another thread than the one that created it.
    dnnl::primitive_attr attributes;
    attributes.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    const dnnl::pooling_forward::primitive_desc forward(
        dnnl::pooling_forward::desc(prop, Algorithm(g), x_desc, y_desc, strides, kernel, padding_l,
                                    padding_r),
        attributes, engine);
    x_memory_ = memory(x_desc, engine, DNNL_MEMORY_NONE);
    // The re-run forward writes a y of its own, never the caller's.
    y_memory_ = reruns_forward ? memory(y_desc, engine) : memory(y_desc, engine, DNNL_MEMORY_NONE);
    forward_scratchpad_ = memory(forward.scratchpad_desc(), engine);
    forward_arguments_ = {
        {DNNL_ARG_SRC, x_memory_}, {DNNL_ARG_DST, y_memory_}, {DNNL_ARG_SCRATCHPAD, forward_scratchpad_}};
    if (backward_) {
      const dnnl::pooling_backward::primitive_desc backward(
          dnnl::pooling_backward::desc(Algorithm(g), x_desc, y_desc, strides, kernel, padding_l, padding_r),
          attributes, engine, forward);
      backward_primitive_ = dnnl::pooling_backward(backward);
      dx_memory_ = memory(x_desc, engine, DNNL_MEMORY_NONE);
      dy_memory_ = memory(y_desc, engine, DNNL_MEMORY_NONE);
      backward_scratchpad_ = memory(backward.scratchpad_desc(), engine);
      backward_arguments_ = {{DNNL_ARG_DIFF_DST, dy_memory_},
                             {DNNL_ARG_DIFF_SRC, dx_memory_},
                             {DNNL_ARG_SCRATCHPAD, backward_scratchpad_}};
      if (reruns_forward) {
        workspace_ = memory(forward.workspace_desc(), engine);
        forward_arguments_.emplace(DNNL_ARG_WORKSPACE, workspace_);
        backward_arguments_.emplace(DNNL_ARG_WORKSPACE, workspace_);
      }
    }
    if (!backward_ || reruns_forward) forward_ = dnnl::pooling_forward(forward);
    key_ = g.Key();
  }

  const PoolKind kind_;
  const bool backward_;
  std::vector<int64_t> key_;
  dnnl::pooling_forward forward_;
  dnnl::pooling_backward backward_primitive_;
  dnnl::memory x_memory_, y_memory_, dx_memory_, dy_memory_, workspace_;
  dnnl::memory forward_scratchpad_, backward_scratchpad_;
  std::unordered_map<int, dnnl::memory> forward_arguments_, backward_arguments_;
};

// Calls fn(plane, x_plane_offset, y_plane_offset) for every (image, channel)
// plane in parallel; planes pool independently.
template <typename Fn>
void ForEachPlane(const PoolGeometry& g, Fn&& fn) {
  ParallelFor(g.n * g.c, 1, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) fn(plane * g.h * g.w, plane * g.oh * g.ow);
  });
}

// Number of window taps that count towards an average at (i, j).
int64_t Divisor(const PoolGeometry& g, int64_t i, int64_t j) {
  if (g.p.count_include_pad) return g.p.kernel[0] * g.p.kernel[1];
  int64_t count = 0;
  for (int64_t a = 0; a < g.p.kernel[0]; ++a) {
    for (int64_t b = 0; b < g.p.kernel[1]; ++b) {
      const int64_t r = g.Row(i, a), s = g.Col(j, b);
      count += r >= 0 && r < g.h && s >= 0 && s < g.w;
    }
  }
  return count;
}

// Calls visit(input_offset) for the taps of window (i, j) inside the input.
template <typename Visit>
void ForEachTap(const PoolGeometry& g, int64_t i, int64_t j, Visit&& visit) {
  for (int64_t a = 0; a < g.p.kernel[0]; ++a) {
    const int64_t r = g.Row(i, a);
    if (r < 0 || r >= g.h) continue;
    for (int64_t b = 0; b < g.p.kernel[1]; ++b) {
      const int64_t s = g.Col(j, b);
      if (s >= 0 && s < g.w) visit(r * g.w + s);
    }
  }
}

// The offset of the first maximum of window (i, j); padding never wins.
template <typename T>
int64_t ArgMax(const PoolGeometry& g, const T* x_plane, int64_t i, int64_t j) {
  int64_t best = -1;
  ForEachTap(g, i, j, [&](int64_t offset) {
    if (best < 0 || x_plane[offset] > x_plane[best]) best = offset;
  });
  return best;
}

template <typename T>
void PoolForwardLoops(const PoolGeometry& g, PoolKind kind, const T* x, T* y) {
  ForEachPlane(g, [&](int64_t x_offset, int64_t y_offset) {
    for (int64_t i = 0; i < g.oh; ++i) {
      for (int64_t j = 0; j < g.ow; ++j) {
        T value;
        if (kind == PoolKind::kMax) {
          value = x[x_offset + ArgMax(g, x + x_offset, i, j)];
        } else {
          T sum = 0;
          ForEachTap(g, i, j, [&](int64_t offset) { sum += x[x_offset + offset]; });
          value = sum / static_cast<T>(Divisor(g, i, j));
        }
        y[y_offset + i * g.ow + j] = value;
      }
    }
  });
}

template <typename T>
void PoolBackwardLoops(const PoolGeometry& g, PoolKind kind, const T* x, const T* dy, T* dx) {
  ForEachPlane(g, [&](int64_t x_offset, int64_t y_offset) {
    T* dx_plane = dx + x_offset;
    std::fill(dx_plane, dx_plane + g.h * g.w, T(0));
    for (int64_t i = 0; i < g.oh; ++i) {
      for (int64_t j = 0; j < g.ow; ++j) {
        const T grad = dy[y_offset + i * g.ow + j];
        if (kind == PoolKind::kMax) {
          dx_plane[ArgMax(g, x + x_offset, i, j)] += grad;
        } else {
          const T share = grad / static_cast<T>(Divisor(g, i, j));
          ForEachTap(g, i, j, [&](int64_t offset) { dx_plane[offset] += share; });
        }
      }
    }
  });
}

}  // namespace

KernelFactory DnnlPoolKernel(PoolKind kind) {
  return [kind]() -> std::unique_ptr<Kernel> { return std::make_unique<DnnlPool>(kind, false); };
}

KernelFactory DnnlPoolGradKernel(PoolKind kind) {
  return [kind]() -> std::unique_ptr<Kernel> { return std::make_unique<DnnlPool>(kind, true); };
}

KernelFactory LoopPoolKernel(PoolKind kind) {
  return MakeFunctionKernel([kind](KernelContext& ctx) -> Status {
    OFL_ASSIGN_OR_RETURN(PoolGeometry g, GeometryOf(ctx, kind, ctx.in(0), ctx.out(0)));
    return DispatchOr(ctx, TypeList<double>{}, ctx.in(0).dtype(), [&](auto tag) {
      using T = decltype(tag);
      PoolForwardLoops<T>(g, kind, ctx.in(0).As<T>(), ctx.out(0).As<T>());
    });
  });
}

KernelFactory LoopPoolGradKernel(PoolKind kind) {
  return MakeFunctionKernel([kind](KernelContext& ctx) -> Status {
    const Blob& dy = OutputSide(ctx, kind, true);
    OFL_ASSIGN_OR_RETURN(PoolGeometry g, GeometryOf(ctx, kind, ctx.out(0), dy));
    return DispatchOr(ctx, TypeList<double>{}, ctx.in(0).dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* x = kind == PoolKind::kMax ? ctx.in(0).As<T>() : nullptr;
      PoolBackwardLoops<T>(g, kind, x, dy.As<T>(), ctx.out(0).As<T>());
    });
  });
}

}  // namespace ofl

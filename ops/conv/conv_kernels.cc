#include "ops/conv/conv_kernels.h"

#include "oneflow_like/parallel.h"
#include "ops/common/kernel_helpers.h"
#include "ops/conv/conv_geometry.h"

namespace ofl {

namespace {

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

KernelFactory LoopConvKernel(ConvPass pass) {
  return MakeFunctionKernel([pass](KernelContext& ctx) -> Status {
    OFL_ASSIGN_OR_RETURN(ConvGeometry g, ConvGeometryOf(ctx, pass));
    if (ConvHandledWithoutCompute(g, ctx.out(0), pass)) return Status::Ok();
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

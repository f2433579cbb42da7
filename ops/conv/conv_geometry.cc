#include "ops/conv/conv_geometry.h"

#include <cstring>

namespace ofl {

std::vector<int64_t> ConvGeometry::Key() const {
  return {n, c, h, w, o, kh, kw, oh, ow, p.stride[0], p.stride[1], p.padding[0], p.padding[1], p.dilation[0],
          p.dilation[1], p.groups};
}

ConvBlobs ConvBlobsOf(const KernelContext& ctx, ConvPass pass) {
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

StatusOr<ConvGeometry> ConvGeometryOf(const KernelContext& ctx, ConvPass pass) {
  const ConvBlobs blobs = ConvBlobsOf(ctx, pass);
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

bool ConvHandledWithoutCompute(const ConvGeometry& g, const Blob& out, ConvPass pass) {
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

}  // namespace ofl

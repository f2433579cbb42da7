// Cases of the conv family: conv2d and its backward ops, max and average
// pooling and their backward ops. References are direct loops in double.
#include <cmath>

#include "tests/testing/op_test_case.h"

namespace ofl::testing {

namespace {

using Ints = std::vector<int64_t>;

InputSpec Uniform(TensorDesc desc) {
  InputSpec spec;
  spec.desc = std::move(desc);
  return spec;
}

// Plain NCHW geometry of one convolution, read from the attributes.
struct Conv {
  Ints x, w;  // [N, C, H, W], [O, C/groups, kh, kw]
  int64_t stride[2], padding[2], dilation[2], groups, oh, ow;

  Conv(const Shape& x_shape, const Shape& w_shape, const AttrMap& attrs)
      : x(x_shape.dims()), w(w_shape.dims()) {
    for (int k = 0; k < 2; ++k) {
      stride[k] = attrs.GetInts("stride")[k];
      padding[k] = attrs.GetInts("padding")[k];
      dilation[k] = attrs.GetInts("dilation")[k];
    }
    groups = attrs.GetInt("groups");
    oh = (x[2] + 2 * padding[0] - dilation[0] * (w[2] - 1) - 1) / stride[0] + 1;
    ow = (x[3] + 2 * padding[1] - dilation[1] * (w[3] - 1) - 1) / stride[1] + 1;
  }
  Shape YShape() const { return Shape{x[0], w[0], oh, ow}; }
  int64_t XIndex(int64_t n, int64_t c, int64_t h, int64_t v) const {
    return ((n * x[1] + c) * x[2] + h) * x[3] + v;
  }
  int64_t WIndex(int64_t o, int64_t c, int64_t a, int64_t b) const {
    return ((o * w[1] + c) * w[2] + a) * w[3] + b;
  }
  int64_t YIndex(int64_t n, int64_t o, int64_t i, int64_t j) const {
    return ((n * w[0] + o) * oh + i) * ow + j;
  }

  // Calls f(x index, w index, y index) for every multiply of the convolution.
  template <typename F>
  void ForEachTerm(F f) const {
    const int64_t out_per_group = w[0] / groups;
    for (int64_t n = 0; n < x[0]; ++n) {
      for (int64_t o = 0; o < w[0]; ++o) {
        const int64_t first_channel = (o / out_per_group) * w[1];
        for (int64_t i = 0; i < oh; ++i) {
          for (int64_t j = 0; j < ow; ++j) {
            for (int64_t c = 0; c < w[1]; ++c) {
              for (int64_t a = 0; a < w[2]; ++a) {
                for (int64_t b = 0; b < w[3]; ++b) {
                  const int64_t h = i * stride[0] - padding[0] + a * dilation[0];
                  const int64_t v = j * stride[1] - padding[1] + b * dilation[1];
                  if (h < 0 || h >= x[2] || v < 0 || v >= x[3]) continue;
                  f(XIndex(n, first_channel + c, h, v), WIndex(o, c, a, b), YIndex(n, o, i, j));
                }
              }
            }
          }
        }
      }
    }
  }
};

AttrMap ConvAttrs(Ints stride, Ints padding, Ints dilation, int64_t groups) {
  return {{"stride", stride}, {"padding", padding}, {"dilation", dilation}, {"groups", groups}};
}

// One convolution geometry used by the three conv ops.
struct ConvSetup {
  std::string variant;
  Shape x, w;
  AttrMap attrs;
};

std::vector<ConvSetup> ConvSetups() {
  return {{"", Shape{2, 3, 5, 5}, Shape{4, 3, 3, 3}, ConvAttrs({1, 1}, {0, 0}, {1, 1}, 1)},
          // floor drops the last row: (6 - 3) / 2 + 1 = 2 rows of output.
          {"stride_padding", Shape{2, 2, 6, 5}, Shape{3, 2, 3, 2}, ConvAttrs({2, 1}, {0, 1}, {1, 1}, 1)},
          {"dilation_groups", Shape{1, 4, 6, 6}, Shape{6, 2, 2, 2}, ConvAttrs({1, 1}, {1, 1}, {2, 2}, 2)},
          // Enough channels that the whole-tensor f32 kernels run oneDNN in
          // channel-blocked layouts with reorders (ops/conv/conv_dnnl_kernel.cc);
          // the others and most SBP pieces stay on the plain buffers.
          {"blocked", Shape{2, 8, 4, 4}, Shape{8, 8, 2, 1}, ConvAttrs({1, 1}, {0, 0}, {1, 1}, 1)},
          {"blocked_depthwise", Shape{1, 16, 6, 6}, Shape{16, 1, 3, 3},
           ConvAttrs({2, 2}, {1, 1}, {1, 1}, 16)}};
}

std::string CaseName(const std::string& op, const std::string& variant) {
  return variant.empty() ? op : op + "/" + variant;
}

OpTestCase Conv2dCase(const ConvSetup& setup) {
  OpTestCase c;
  c.name = CaseName("conv2d", setup.variant);
  c.op = "conv2d";
  c.inputs = {Uniform(F32(setup.x)), Uniform(F32(setup.w))};
  c.attrs = setup.attrs;
  c.reference = [](const std::vector<HostTensor>& in, const AttrMap& attrs) {
    const Conv conv(in[0].shape(), in[1].shape(), attrs);
    std::vector<double> y(conv.YShape().NumElements(), 0.0);
    conv.ForEachTerm(
        [&](int64_t xi, int64_t wi, int64_t yi) { y[yi] += in[0].GetAsDouble(xi) * in[1].GetAsDouble(wi); });
    HostTensor out(TensorDesc{conv.YShape(), in[0].dtype()});
    for (size_t i = 0; i < y.size(); ++i) out.SetFromDouble(static_cast<int64_t>(i), y[i]);
    return std::vector<HostTensor>{out};
  };
  return c;
}

OpTestCase Conv2dGradDataCase(const ConvSetup& setup) {
  const Conv conv(setup.x, setup.w, setup.attrs);
  OpTestCase c;
  c.name = CaseName("conv2d_grad_data", setup.variant);
  c.op = "conv2d_grad_data";
  c.inputs = {Uniform(F32(conv.YShape())), Uniform(F32(setup.w))};
  c.attrs = setup.attrs;
  c.attrs.Set("input_shape", setup.x);
  c.reference = [](const std::vector<HostTensor>& in, const AttrMap& attrs) {
    const Conv conv(attrs.GetShape("input_shape"), in[1].shape(), attrs);
    HostTensor dx(TensorDesc{attrs.GetShape("input_shape"), in[0].dtype()});
    std::vector<double> sum(dx.NumElements(), 0.0);
    conv.ForEachTerm([&](int64_t xi, int64_t wi, int64_t yi) {
      sum[xi] += in[0].GetAsDouble(yi) * in[1].GetAsDouble(wi);
    });
    for (size_t i = 0; i < sum.size(); ++i) dx.SetFromDouble(static_cast<int64_t>(i), sum[i]);
    return std::vector<HostTensor>{dx};
  };
  c.check_grad = false;
  return c;
}

OpTestCase Conv2dGradFilterCase(const ConvSetup& setup) {
  const Conv conv(setup.x, setup.w, setup.attrs);
  OpTestCase c;
  c.name = CaseName("conv2d_grad_filter", setup.variant);
  c.op = "conv2d_grad_filter";
  c.inputs = {Uniform(F32(conv.YShape())), Uniform(F32(setup.x))};
  c.attrs = setup.attrs;
  c.attrs.Set("filter_shape", setup.w);
  c.reference = [](const std::vector<HostTensor>& in, const AttrMap& attrs) {
    const Conv conv(in[1].shape(), attrs.GetShape("filter_shape"), attrs);
    HostTensor dw(TensorDesc{attrs.GetShape("filter_shape"), in[0].dtype()});
    std::vector<double> sum(dw.NumElements(), 0.0);
    conv.ForEachTerm([&](int64_t xi, int64_t wi, int64_t yi) {
      sum[wi] += in[0].GetAsDouble(yi) * in[1].GetAsDouble(xi);
    });
    for (size_t i = 0; i < sum.size(); ++i) dw.SetFromDouble(static_cast<int64_t>(i), sum[i]);
    return std::vector<HostTensor>{dw};
  };
  c.check_grad = false;
  return c;
}

// Plain NCHW geometry of one pooling, read from the attributes.
struct Pool {
  Ints x;
  int64_t kernel[2], stride[2], padding[2], oh, ow;
  bool include_pad = true;

  Pool(const Shape& x_shape, const AttrMap& attrs) : x(x_shape.dims()) {
    const Ints& given_stride = attrs.GetInts("stride");
    for (int k = 0; k < 2; ++k) {
      kernel[k] = attrs.GetInts("kernel")[k];
      stride[k] = given_stride.empty() ? kernel[k] : given_stride[k];
      padding[k] = attrs.GetInts("padding")[k];
    }
    if (attrs.Has("count_include_pad")) include_pad = attrs.GetBool("count_include_pad");
    oh = (x[2] + 2 * padding[0] - kernel[0]) / stride[0] + 1;
    ow = (x[3] + 2 * padding[1] - kernel[1]) / stride[1] + 1;
  }
  Shape YShape() const { return Shape{x[0], x[1], oh, ow}; }
  // The x indices inside window (plane, i, j), in row-major window order.
  Ints Window(int64_t plane, int64_t i, int64_t j) const {
    Ints taps;
    for (int64_t a = 0; a < kernel[0]; ++a) {
      for (int64_t b = 0; b < kernel[1]; ++b) {
        const int64_t h = i * stride[0] - padding[0] + a, v = j * stride[1] - padding[1] + b;
        if (h >= 0 && h < x[2] && v >= 0 && v < x[3]) taps.push_back((plane * x[2] + h) * x[3] + v);
      }
    }
    return taps;
  }
  double Divisor(const Ints& taps) const {
    return include_pad ? static_cast<double>(kernel[0] * kernel[1]) : static_cast<double>(taps.size());
  }
  int64_t Planes() const { return x[0] * x[1]; }
};

AttrMap PoolAttrs(Ints kernel, Ints stride, Ints padding) {
  return {{"kernel", kernel}, {"stride", stride}, {"padding", padding}};
}

// dx of a pooling: dy of each window sent to its maximum, or spread evenly.
HostTensor PoolBackwardReference(const Pool& pool, const HostTensor* x, const HostTensor& dy, bool max,
                                 DType dtype) {
  HostTensor dx(TensorDesc{Shape(pool.x), dtype});
  std::vector<double> sum(dx.NumElements(), 0.0);
  for (int64_t plane = 0; plane < pool.Planes(); ++plane) {
    for (int64_t i = 0; i < pool.oh; ++i) {
      for (int64_t j = 0; j < pool.ow; ++j) {
        const Ints taps = pool.Window(plane, i, j);
        const double g = dy.GetAsDouble((plane * pool.oh + i) * pool.ow + j);
        if (max) {
          int64_t best = taps[0];
          for (int64_t t : taps) {
            if (x->GetAsDouble(t) > x->GetAsDouble(best)) best = t;
          }
          sum[best] += g;
        } else {
          for (int64_t t : taps) sum[t] += g / pool.Divisor(taps);
        }
      }
    }
  }
  for (size_t i = 0; i < sum.size(); ++i) dx.SetFromDouble(static_cast<int64_t>(i), sum[i]);
  return dx;
}

OpTestCase PoolCase(const std::string& op, const std::string& variant, const Shape& x, AttrMap attrs) {
  const bool max = op == "max_pool2d";
  OpTestCase c;
  c.name = CaseName(op, variant);
  c.op = op;
  c.inputs = {Uniform(F32(x))};
  c.attrs = attrs;
  c.reference = [max](const std::vector<HostTensor>& in, const AttrMap& attrs) {
    const Pool pool(in[0].shape(), attrs);
    HostTensor y(TensorDesc{pool.YShape(), in[0].dtype()});
    for (int64_t plane = 0; plane < pool.Planes(); ++plane) {
      for (int64_t i = 0; i < pool.oh; ++i) {
        for (int64_t j = 0; j < pool.ow; ++j) {
          const Ints taps = pool.Window(plane, i, j);
          double value = max ? in[0].GetAsDouble(taps[0]) : 0.0;
          for (int64_t t : taps)
            value = max ? std::max(value, in[0].GetAsDouble(t)) : value + in[0].GetAsDouble(t);
          if (!max) value /= pool.Divisor(taps);
          y.SetFromDouble((plane * pool.oh + i) * pool.ow + j, value);
        }
      }
    }
    return std::vector<HostTensor>{y};
  };
  return c;
}

OpTestCase MaxPoolGradCase(const std::string& variant, const Shape& x, AttrMap attrs) {
  const Pool pool(x, attrs);
  OpTestCase c;
  c.name = CaseName("max_pool2d_grad", variant);
  c.op = "max_pool2d_grad";
  // y is only read for its shape; random values keep the case honest about that.
  c.inputs = {Uniform(F32(x)), Uniform(F32(pool.YShape())), Uniform(F32(pool.YShape()))};
  c.attrs = attrs;
  c.reference = [](const std::vector<HostTensor>& in, const AttrMap& attrs) {
    const Pool pool(in[0].shape(), attrs);
    return std::vector<HostTensor>{PoolBackwardReference(pool, &in[0], in[2], true, in[0].dtype())};
  };
  c.check_grad = false;
  return c;
}

OpTestCase AvgPoolGradCase(const std::string& variant, const Shape& x, AttrMap attrs) {
  const Pool pool(x, attrs);
  OpTestCase c;
  c.name = CaseName("avg_pool2d_grad", variant);
  c.op = "avg_pool2d_grad";
  c.inputs = {Uniform(F32(pool.YShape()))};
  c.attrs = attrs;
  c.attrs.Set("input_shape", x);
  c.reference = [](const std::vector<HostTensor>& in, const AttrMap& attrs) {
    const Pool pool(attrs.GetShape("input_shape"), attrs);
    return std::vector<HostTensor>{PoolBackwardReference(pool, nullptr, in[0], false, in[0].dtype())};
  };
  c.check_grad = false;
  return c;
}

// The same case in f64 (the loop kernels, where the f32 one runs oneDNN),
// compared against the reference on whole tensors and on SBP pieces.
OpTestCase AsF64(OpTestCase c) {
  c.name += "/f64";
  for (InputSpec& input : c.inputs) input.desc.dtype = DType::kF64;
  c.check_grad = false;
  c.bad_inputs.clear();
  return c;
}

}  // namespace

std::vector<OpTestCase> ConvCases() {
  std::vector<OpTestCase> cases;
  const std::vector<ConvSetup> setups = ConvSetups();
  for (const ConvSetup& setup : setups) cases.push_back(Conv2dCase(setup));
  const AttrMap defaults = ConvAttrs({1, 1}, {0, 0}, {1, 1}, 1);
  cases[0].bad_inputs = {
      {{F32({2, 3, 5, 5}), F32({4, 2, 3, 3})},
       {},
       "w: expected shape[1] = 3 (x channels 3 / groups 1), got 2"},
      {{F32({3, 5, 5}), F32({4, 3, 3, 3})}, {}, "x: expected rank 4 [N, C, H, W]"},
      {{F32({2, 3, 5, 5}), F32({4, 3, 3})}, {}, "w: expected rank 4 [O, C/groups, kh, kw]"},
      {{F32({2, 3, 2, 5}), F32({4, 3, 3, 3})},
       {},
       "x: expected H, W plus padding to cover the dilated kernel"},
      {{F32({2, 3, 5, 5}), F32({3, 1, 3, 3})},
       {{"groups", int64_t{3}}, {"dilation", Ints{3, 3}}},
       "x: expected H, W plus padding to cover the dilated kernel (7, 7)"},
      {{F32({2, 3, 5, 5}), F32({4, 1, 3, 3})},
       {{"groups", int64_t{2}}},
       "x: expected channels (shape[1]) divisible by groups=2"},
      {{F32({2, 4, 5, 5}), F32({3, 2, 3, 3})},
       {{"groups", int64_t{2}}},
       "w: expected output channels (shape[0]) divisible by groups=2"},
      {{F32({2, 3, 5, 5}), F32({4, 3, 3, 3})},
       {{"stride", Ints{1}}},
       "attribute stride: expected 2 values >= 1"},
      {{F32({2, 3, 5, 5}), F32({4, 3, 3, 3})},
       {{"padding", Ints{-1, 0}}},
       "attribute padding: expected 2 values >= 0"},
      {{F32({2, 3, 5, 5}), F32({4, 3, 3, 3})},
       {{"groups", int64_t{0}}},
       "attribute groups: expected a value >= 1"},
      {{F32({2, 3, 5, 5}), TensorDesc{Shape{4, 3, 3, 3}, DType::kF64}}, {}, "w: expected dtype f32"},
      {{I64({2, 3, 5, 5}), I64({4, 3, 3, 3})}, {}, "x: expected a floating-point dtype"}};

  for (const ConvSetup& setup : setups) cases.push_back(Conv2dGradDataCase(setup));
  AttrMap data_attrs = defaults;
  data_attrs.Set("input_shape", Shape{2, 3, 5, 5});
  cases.back().bad_inputs = {
      {{F32({2, 4, 3, 4}), F32({4, 3, 3, 3})},
       data_attrs,
       "dy: expected shape [2, 4, 3, 3] (conv2d of input_shape"},
      {{F32({2, 4, 3, 3}), F32({4, 2, 3, 3})}, data_attrs, "w: expected shape[1] = 3"},
      {{F32({2, 4, 3, 3}), F32({4, 3, 3, 3})}, defaults, "attribute input_shape: expected a value"},
      {{F32({2, 4, 3, 3}), F32({4, 3, 3, 3})},
       [&] {
         AttrMap bad = defaults;
         bad.Set("input_shape", Shape{2, 3, 5});
         return bad;
       }(),
       "attribute input_shape: expected rank 4"}};

  for (const ConvSetup& setup : setups) cases.push_back(Conv2dGradFilterCase(setup));
  AttrMap filter_attrs = defaults;
  filter_attrs.Set("filter_shape", Shape{4, 3, 3, 3});
  cases.back().bad_inputs = {
      {{F32({2, 4, 3, 3}), F32({2, 3, 6, 5})},
       filter_attrs,
       "dy: expected shape [2, 4, 4, 3] (conv2d of x with filter_shape"},
      {{F32({2, 4, 3, 3}), F32({2, 2, 5, 5})}, filter_attrs, "attribute filter_shape: expected shape[1] = 2"},
      {{F32({2, 4, 3, 3}), F32({2, 3, 5, 5})}, defaults, "attribute filter_shape: expected a value"}};

  const AttrMap window2 = PoolAttrs({2, 2}, {}, {0, 0});
  const AttrMap window3_padded = PoolAttrs({3, 3}, {2, 2}, {1, 1});
  const AttrMap window_wide = PoolAttrs({2, 3}, {1, 2}, {1, 0});
  OpTestCase max_pool = PoolCase("max_pool2d", "", Shape{2, 3, 5, 5}, window2);
  max_pool.bad_inputs = {
      {{F32({2, 3, 5, 5})}, {}, "attribute kernel: expected a value"},
      {{F32({2, 3, 5, 5})},
       PoolAttrs({3, 3}, {}, {2, 0}),
       "attribute padding: expected at most half the kernel"},
      {{F32({2, 3, 5, 5})}, PoolAttrs({2}, {}, {0, 0}), "attribute kernel: expected 2 values >= 1"},
      {{F32({2, 3, 5, 5})}, PoolAttrs({2, 2}, {0, 1}, {0, 0}), "attribute stride: expected 2 values >= 1"},
      {{F32({3, 5, 5})}, window2, "x: expected rank 4 [N, C, H, W]"},
      {{F32({2, 3, 1, 5})},
       window2,
       "x: expected H, W >= 1 and, with padding [0, 0], at least the kernel [2, 2]"},
      {{I64({2, 3, 5, 5})}, window2, "x: expected a floating-point dtype"}};
  cases.push_back(max_pool);
  cases.push_back(PoolCase("max_pool2d", "padded", Shape{2, 3, 5, 5}, window3_padded));
  cases.push_back(PoolCase("max_pool2d", "uneven_window", Shape{3, 2, 4, 7}, window_wide));

  OpTestCase max_grad = MaxPoolGradCase("", Shape{2, 3, 5, 5}, window2);
  max_grad.bad_inputs = {
      {{F32({2, 3, 5, 5}), F32({2, 3, 3, 2}), F32({2, 3, 2, 2})},
       window2,
       "y: expected shape [2, 3, 2, 2] (max_pool2d of x)"},
      {{F32({2, 3, 5, 5}), F32({2, 3, 2, 2}), F32({2, 3, 2, 3})}, window2, "dy: expected shape [2, 3, 2, 2]"},
      {{F32({2, 3, 5, 5}), F32({2, 3, 2, 2}), TensorDesc{Shape{2, 3, 2, 2}, DType::kF64}},
       window2,
       "dy: expected dtype f32"}};
  cases.push_back(max_grad);
  cases.push_back(MaxPoolGradCase("padded", Shape{2, 3, 5, 5}, window3_padded));

  OpTestCase avg_pool = PoolCase("avg_pool2d", "", Shape{2, 3, 5, 5}, window2);
  avg_pool.bad_inputs = {
      {{F32({2, 3, 5, 5})},
       PoolAttrs({2, 2}, {}, {0, 0}).Set("count_include_pad", int64_t{1}),
       "attribute count_include_pad: expected bool"},
      {{F32({2, 3, 1, 1})}, window2, "x: expected H, W >= 1 and, with padding [0, 0], at least the kernel"}};
  cases.push_back(avg_pool);
  cases.push_back(PoolCase("avg_pool2d", "padded", Shape{2, 3, 5, 5}, window3_padded));
  AttrMap exclude = window3_padded;
  exclude.Set("count_include_pad", false);
  cases.push_back(PoolCase("avg_pool2d", "padded_exclude_pad", Shape{2, 3, 5, 5}, exclude));
  cases.push_back(PoolCase("avg_pool2d", "uneven_window", Shape{3, 2, 4, 7}, window_wide));

  OpTestCase avg_grad = AvgPoolGradCase("", Shape{2, 3, 5, 5}, window2);
  AttrMap avg_grad_attrs = window2;
  avg_grad_attrs.Set("input_shape", Shape{2, 3, 5, 5});
  avg_grad.bad_inputs = {{{F32({2, 3, 3, 3})},
                          avg_grad_attrs,
                          "dy: expected shape [2, 3, 2, 2] (avg_pool2d of input_shape [2, 3, 5, 5])"},
                         {{F32({2, 3, 2, 2})}, window2, "attribute input_shape: expected a value"}};
  cases.push_back(avg_grad);
  cases.push_back(AvgPoolGradCase("padded", Shape{2, 3, 5, 5}, window3_padded));
  cases.push_back(AvgPoolGradCase("padded_exclude_pad", Shape{2, 3, 5, 5}, exclude));

  const ConvSetup& strided = setups[1];
  const ConvSetup& grouped = setups[2];
  cases.push_back(AsF64(Conv2dCase(grouped)));
  cases.push_back(AsF64(Conv2dGradDataCase(strided)));
  cases.push_back(AsF64(Conv2dGradDataCase(grouped)));
  cases.push_back(AsF64(Conv2dGradFilterCase(strided)));
  cases.push_back(AsF64(Conv2dGradFilterCase(grouped)));
  cases.push_back(AsF64(PoolCase("max_pool2d", "padded", Shape{2, 3, 5, 5}, window3_padded)));
  cases.push_back(AsF64(MaxPoolGradCase("padded", Shape{2, 3, 5, 5}, window3_padded)));
  cases.push_back(AsF64(PoolCase("avg_pool2d", "padded_exclude_pad", Shape{2, 3, 5, 5}, exclude)));
  cases.push_back(AsF64(AvgPoolGradCase("padded", Shape{2, 3, 5, 5}, window3_padded)));
  return cases;
}

}  // namespace ofl::testing

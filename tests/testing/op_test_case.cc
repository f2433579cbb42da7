#include "tests/testing/op_test_case.h"

#include <algorithm>
#include <cmath>

namespace ofl::testing {

std::vector<OpTestCase> AllOpTestCases() {
  std::vector<OpTestCase> all;
  for (auto family : {ElementwiseCases, ReduceCases, LayoutCases, MatmulCases, ConvCases, SoftmaxCases,
                      NormCases, LossCases, EmbeddingCases, RandomCases, OptimizerCases, ScheduleCases,
                      FusedCases, PipelineCases, AttentionCases}) {
    std::vector<OpTestCase> cases = family();
    all.insert(all.end(), cases.begin(), cases.end());
  }
  return all;
}

HostTensor MapUnary(const HostTensor& x, const std::function<double(double)>& f) {
  HostTensor y(x.desc());
  for (int64_t i = 0; i < x.NumElements(); ++i) y.SetFromDouble(i, f(x.GetAsDouble(i)));
  return y;
}

HostTensor MapBinary(const HostTensor& a, const HostTensor& b,
                     const std::function<double(double, double)>& f) {
  const int rank = std::max(a.shape().rank(), b.shape().rank());
  std::vector<int64_t> dims(rank);
  auto dim = [rank](const Shape& s, int k) {
    const int j = k - (rank - s.rank());
    return j >= 0 ? s[j] : int64_t{1};
  };
  for (int k = 0; k < rank; ++k) dims[k] = std::max(dim(a.shape(), k), dim(b.shape(), k));
  const Shape out_shape(dims);
  HostTensor y(TensorDesc{out_shape, a.dtype()});
  const std::vector<int64_t> a_strides = a.shape().Strides();
  const std::vector<int64_t> b_strides = b.shape().Strides();
  for (int64_t i = 0; i < out_shape.NumElements(); ++i) {
    int64_t rest = i, a_index = 0, b_index = 0;
    for (int k = rank - 1; k >= 0; --k) {
      const int64_t index = rest % out_shape[k];
      rest /= out_shape[k];
      const int ja = k - (rank - a.shape().rank());
      const int jb = k - (rank - b.shape().rank());
      if (ja >= 0 && a.shape()[ja] != 1) a_index += index * a_strides[ja];
      if (jb >= 0 && b.shape()[jb] != 1) b_index += index * b_strides[jb];
    }
    y.SetFromDouble(i, f(a.GetAsDouble(a_index), b.GetAsDouble(b_index)));
  }
  return y;
}

std::vector<HostTensor> AdamReference(const std::vector<HostTensor>& in, const AttrMap& attrs,
                                      double grad_scale) {
  const double beta1 = attrs.GetFloat("beta1"), beta2 = attrs.GetFloat("beta2");
  const double epsilon = attrs.GetFloat("epsilon"), weight_decay = attrs.GetFloat("weight_decay");
  const bool decoupled = attrs.GetBool("decoupled_weight_decay");
  const double lr = in[4].GetAsDouble(0);
  const double t = in[5].GetAsDouble(0);
  HostTensor param(in[0].desc()), m(in[2].desc()), v(in[3].desc());
  for (int64_t i = 0; i < in[0].NumElements(); ++i) {
    double p = in[0].GetAsDouble(i);
    double g = in[1].GetAsDouble(i) * grad_scale;
    if (decoupled) {
      p *= 1 - lr * weight_decay;
    } else {
      g += weight_decay * in[0].GetAsDouble(i);
    }
    const double m_new = beta1 * in[2].GetAsDouble(i) + (1 - beta1) * g;
    const double v_new = beta2 * in[3].GetAsDouble(i) + (1 - beta2) * g * g;
    const double m_hat = m_new / (1 - std::pow(beta1, t));
    const double v_hat = v_new / (1 - std::pow(beta2, t));
    param.SetFromDouble(i, p - lr * m_hat / (std::sqrt(v_hat) + epsilon));
    m.SetFromDouble(i, m_new);
    v.SetFromDouble(i, v_new);
  }
  return {param, m, v};
}

}  // namespace ofl::testing

#include "tests/testing/op_test_case.h"

#include <algorithm>

namespace ofl::testing {

std::vector<OpTestCase> AllOpTestCases() {
  std::vector<OpTestCase> all;
  for (auto family : {ElementwiseCases, ReduceCases, LayoutCases, MatmulCases, ConvCases, SoftmaxCases, NormCases, LossCases, EmbeddingCases, RandomCases, OptimizerCases, ScheduleCases, FusedCases, PipelineCases, AttentionCases}) {
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

HostTensor MapBinary(const HostTensor& a, const HostTensor& b, const std::function<double(double, double)>& f) {
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

}  // namespace ofl::testing

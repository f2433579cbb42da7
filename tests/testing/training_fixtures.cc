#include "tests/testing/training_fixtures.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

namespace ofl::testing {

uint64_t Mix(uint64_t value) {
  value += 0x9e3779b97f4a7c15ULL;
  value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ULL;
  value = (value ^ (value >> 27)) * 0x94d049bb133111ebULL;
  return value ^ (value >> 31);
}

float Uniform(uint64_t stream, uint64_t index) {
  const uint64_t bits = Mix(stream * 0x100000001b3ULL + index) >> 40;  // 24 bits
  return static_cast<float>(static_cast<double>(bits) / static_cast<double>(1 << 23) - 1.0);
}

std::map<std::string, HostTensor> TeacherBatch(int64_t batch, int64_t features, int64_t classes,
                                               int64_t step) {
  HostTensor x(TensorDesc{Shape{batch, features}, DType::kF32});
  HostTensor labels(TensorDesc{Shape{batch}, DType::kI64});
  for (int64_t row = 0; row < batch; ++row) {
    for (int64_t col = 0; col < features; ++col)
      x.data<float>()[row * features + col] = Uniform(1000 + step, row * features + col);
    int64_t best = 0;
    double best_score = -1e30;
    for (int64_t cls = 0; cls < classes; ++cls) {
      double score = 0;
      for (int64_t col = 0; col < features; ++col)
        score += x.data<float>()[row * features + col] * Uniform(7, cls * features + col);
      if (score > best_score) best_score = score, best = cls;
    }
    labels.data<int64_t>()[row] = best;
  }
  return {{"x", x}, {"labels", labels}};
}

std::map<std::string, HostTensor> NextTokenBatch(int64_t batch, int64_t time, int64_t vocab, int64_t classes,
                                                 int64_t step, bool labels_per_sequence) {
  HostTensor tokens(TensorDesc{Shape{batch, time}, DType::kI64});
  const Shape label_shape = labels_per_sequence ? Shape{batch, time} : Shape{batch * time};
  HostTensor labels(TensorDesc{label_shape, DType::kI64});
  for (int64_t i = 0; i < batch * time; ++i)
    tokens.data<int64_t>()[i] = static_cast<int64_t>(Mix(2000 + step * 7919 + i) % vocab);
  for (int64_t i = 0; i < batch * time; ++i) {
    const int64_t previous = i % time == 0 ? 0 : tokens.data<int64_t>()[i - 1];
    labels.data<int64_t>()[i] = (tokens.data<int64_t>()[i] + 2 * previous) % classes;
  }
  return {{"tokens", tokens}, {"labels", labels}};
}

double ExpectClose(const std::vector<double>& actual, const std::vector<double>& expected,
                   const std::string& what, bool per_element_scale, double tolerance) {
  EXPECT_EQ(actual.size(), expected.size()) << what;
  if (actual.size() != expected.size()) return INFINITY;
  double tensor_scale = 0;
  for (double value : expected) tensor_scale = std::max(tensor_scale, std::abs(value));
  double worst = 0;
  int reported = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double scale = std::max(per_element_scale ? std::abs(expected[i]) : tensor_scale, 1e-3);
    const double relative = std::abs(actual[i] - expected[i]) / scale;
    if (!(relative <= tolerance) && reported++ < 3) {  // also catches NaN
      ADD_FAILURE() << what << " element " << i << ": " << actual[i] << " vs " << expected[i] << " (relative "
                    << relative << ")";
    }
    worst = std::max(worst, std::isnan(relative) ? INFINITY : relative);
  }
  return worst;
}

std::vector<double> WithoutKeyBias(const std::string& name, const std::vector<double>& values,
                                   const std::string& qkv_bias_name, int64_t head_dim) {
  if (name != qkv_bias_name) return values;
  std::vector<double> kept;
  for (size_t i = 0; i < values.size(); ++i) {
    const int64_t within_head = static_cast<int64_t>(i) % (3 * head_dim);
    if (within_head < head_dim || within_head >= 2 * head_dim) kept.push_back(values[i]);
  }
  return kept;
}

}  // namespace ofl::testing

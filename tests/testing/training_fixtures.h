// Data and comparisons shared by the end-to-end training tests
// (tests/runtime/equivalence_test.cc, tests/pipeline/pipeline_test.cc):
// counter-based feeds that depend only on (step, index), so every layout and
// schedule sees the same batches, and the "relative 1e-5" comparison.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "oneflow_like/host_tensor.h"

namespace ofl::testing {

/// splitmix64.
uint64_t Mix(uint64_t value);

/// Uniform in [-1, 1) from (stream, index), exactly representable in f32.
float Uniform(uint64_t stream, uint64_t index);

/// "x" [batch, features] uniform and "labels" [batch] (i64) = argmax of x T
/// for a fixed teacher T, so the loss can fall.
std::map<std::string, HostTensor> TeacherBatch(int64_t batch, int64_t features, int64_t classes,
                                               int64_t step);

/// "tokens" [batch, time] in [0, vocab) and "labels" = (token + 2 previous
/// token) % classes (learnable by causal attention), shaped [batch * time],
/// or [batch, time] when `labels_per_sequence` (micro-batched jobs split
/// every input along axis 0, so labels must keep the sequence axis first).
std::map<std::string, HostTensor> NextTokenBatch(int64_t batch, int64_t time, int64_t vocab, int64_t classes,
                                                 int64_t step, bool labels_per_sequence = false);

/// The tolerance, "relative `tolerance`": |actual - expected| <= tolerance *
/// max(scale, 1e-3) where scale is max |expected| over the whole tensor
/// (or |expected[i]| with `per_element_scale`). Adds a gtest failure for the
/// first 3 elements off (NaN included) and returns the largest
/// |actual - expected| / max(scale, 1e-3).
double ExpectClose(const std::vector<double>& actual, const std::vector<double>& expected,
                   const std::string& what, bool per_element_scale = false, double tolerance = 1e-5);

/// `values` of variable `name` without the key-bias elements when `name` is
/// `qkv_bias_name` (a fused q/k/v bias laid out [H, 3, Dh] with Dh =
/// head_dim): their exact gradient is zero, so after Adam they are rounding
/// noise in every layout and are left out of comparisons.
std::vector<double> WithoutKeyBias(const std::string& name, const std::vector<double>& values,
                                   const std::string& qkv_bias_name, int64_t head_dim);

}  // namespace ofl::testing

// The random family beyond the per-case harness: the Philox generator
// against its published known answers, the statistics of 100k samples, and
// the promise that makes distributed initialisation and dropout work: equal
// seeds give equal values under any split on any device count, different
// seeds give different values.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "oneflow_like/placement.h"
#include "oneflow_like/region.h"
#include "ops/eager.h"
#include "ops/random/philox.h"
#include "ops/registry.h"
#include "sbp/slicing.h"

namespace ofl {
namespace {

const EagerExecutor& Executor() {
  static const EagerExecutor executor(DefaultRegistries().ops, DefaultRegistries().kernels);
  return executor;
}

HostTensor RunOne(const std::string& op, const std::vector<HostTensor>& inputs, const AttrMap& attrs) {
  auto outputs = Executor().Run(op, inputs, attrs);
  if (!outputs.ok()) throw Error(outputs.status().message());
  return outputs.value().at(0);
}

// Runs `op` piece by piece with its output (and input, if any) split on
// `axis` over `devices`, and assembles the logical result.
HostTensor RunSplit(const std::string& op, const std::vector<HostTensor>& inputs, const AttrMap& attrs,
                    const TensorDesc& logical, int axis, int devices) {
  std::vector<TensorDesc> descs;
  for (const HostTensor& input : inputs) descs.push_back(input.desc());
  auto inferred = Executor().ops().Infer(op, descs, attrs);
  if (!inferred.ok()) throw Error(inferred.status().message());
  const Placement placement = Placement::Linear(DeviceType::kCPU, devices);
  HostTensor whole(logical);
  for (int d = 0; d < devices; ++d) {
    const Region region = PhysicalRegion(logical.shape, {Sbp::Split(axis)}, placement, d);
    std::vector<TensorArg> in_args;
    std::vector<HostTensor> keep_alive;
    for (const HostTensor& input : inputs) {
      HostTensor piece(TensorDesc{region.Extent(), input.dtype()});
      CopyRegion(input.AsBlob(), Region::Whole(input.shape()), piece.AsBlob(), region, region);
      in_args.push_back(TensorArg{piece.AsBlob(), input.shape(), region.begin});
      keep_alive.push_back(piece);
    }
    HostTensor out(TensorDesc{region.Extent(), logical.dtype});
    const Status status = Executor().RunKernel(op, inferred.value().attrs, in_args,
                                               {TensorArg{out.AsBlob(), logical.shape, region.begin}});
    if (!status.ok()) throw Error(status.message());
    CopyRegion(out.AsBlob(), region, whole.AsBlob(), Region::Whole(logical.shape), region);
  }
  return whole;
}

struct Moments {
  double mean = 0;
  double variance = 0;
};

Moments MomentsOf(const HostTensor& t) {
  Moments moments;
  const int64_t n = t.NumElements();
  for (int64_t i = 0; i < n; ++i) moments.mean += t.GetAsDouble(i);
  moments.mean /= static_cast<double>(n);
  for (int64_t i = 0; i < n; ++i) {
    const double d = t.GetAsDouble(i) - moments.mean;
    moments.variance += d * d;
  }
  moments.variance /= static_cast<double>(n - 1);
  return moments;
}

void ExpectIdentical(const HostTensor& actual, const HostTensor& expected, const std::string& what) {
  ASSERT_EQ(actual.desc(), expected.desc()) << what;
  int64_t differing = 0;
  for (int64_t i = 0; i < expected.NumElements(); ++i)
    differing += actual.GetAsDouble(i) != expected.GetAsDouble(i);
  EXPECT_EQ(differing, 0) << what;
}

constexpr int64_t kSamples = 100000;

TEST(Philox, MatchesRandom123KnownAnswers) {
  struct Known {
    philox::Counter counter;
    philox::Key key;
    uint32_t expected[4];
  };
  const Known known[] = {
      {{{0, 0, 0, 0}}, {{0, 0}}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}},
       {{0xffffffff, 0xffffffff}},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}},
       {{0xa4093822, 0x299f31d0}},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (const Known& k : known) {
    const philox::Counter block = philox::Philox4x32x10(k.counter, k.key);
    for (int w = 0; w < 4; ++w) EXPECT_EQ(block.word[w], k.expected[w]) << "word " << w;
  }
}

TEST(RandomUniform, StatisticsOf100kSamples) {
  const double low = -1.0, high = 3.0;
  const HostTensor y =
      RunOne("random_uniform", {},
             {{"shape", Shape{kSamples}}, {"low", low}, {"high", high}, {"seed", int64_t{2024}}});
  double min = high, max = low;
  int64_t buckets[4] = {0, 0, 0, 0};
  for (int64_t i = 0; i < kSamples; ++i) {
    const double v = y.GetAsDouble(i);
    ASSERT_GE(v, low);
    ASSERT_LT(v, high);
    min = std::min(min, v);
    max = std::max(max, v);
    ++buckets[static_cast<int>((v - low) / (high - low) * 4)];
  }
  const Moments moments = MomentsOf(y);
  // Standard errors: mean 0.0037, variance 0.0038; tolerances are about 5 of them.
  EXPECT_NEAR(moments.mean, (low + high) / 2, 0.02);
  EXPECT_NEAR(moments.variance, (high - low) * (high - low) / 12, 0.02);
  EXPECT_LT(min, low + 1e-3);
  EXPECT_GT(max, high - 1e-3);
  for (int64_t count : buckets) EXPECT_NEAR(static_cast<double>(count) / kSamples, 0.25, 0.01);
}

TEST(RandomUniform, HalfPrecisionStaysBelowHigh) {
  // With 100k draws about 24 land within half an f16 ulp of 1 and would round to it.
  const HostTensor y = RunOne("random_uniform", {},
                              {{"shape", Shape{kSamples}}, {"dtype", DType::kF16}, {"seed", int64_t{5}}});
  double max = 0;
  for (int64_t i = 0; i < kSamples; ++i) {
    ASSERT_GE(y.GetAsDouble(i), 0.0);
    ASSERT_LT(y.GetAsDouble(i), 1.0);
    max = std::max(max, y.GetAsDouble(i));
  }
  EXPECT_EQ(max, 1.0 - std::ldexp(1.0, -11));  // the largest f16 below 1
}

TEST(RandomNormal, StatisticsOf100kSamples) {
  const double mean = 0.5, std_dev = 2.0;
  const HostTensor y = RunOne("random_normal", {},
                              {{"shape", Shape{kSamples}},
                               {"dtype", DType::kF64},
                               {"mean", mean},
                               {"std", std_dev},
                               {"seed", int64_t{99}}});
  const Moments moments = MomentsOf(y);
  // Standard errors: mean 0.0063, variance 0.018.
  EXPECT_NEAR(moments.mean, mean, 0.035);
  EXPECT_NEAR(moments.variance, std_dev * std_dev, 0.1);
  int64_t within_one = 0, within_two = 0;
  double lag_one = 0;
  for (int64_t i = 0; i < kSamples; ++i) {
    const double z = (y.GetAsDouble(i) - mean) / std_dev;
    within_one += std::abs(z) < 1;
    within_two += std::abs(z) < 2;
    if (i > 0) lag_one += z * (y.GetAsDouble(i - 1) - mean) / std_dev;
  }
  EXPECT_NEAR(static_cast<double>(within_one) / kSamples, 0.682689, 0.008);
  EXPECT_NEAR(static_cast<double>(within_two) / kSamples, 0.954500, 0.004);
  // Neighbours share a Box-Muller pair (cosine and sine branch): uncorrelated all the same.
  EXPECT_NEAR(lag_one / (kSamples - 1), 0.0, 0.015);
}

TEST(Dropout, KeepsOneMinusRateAndPreservesTheMean) {
  const double rate = 0.25;
  HostTensor ones(TensorDesc{Shape{kSamples}, DType::kF32});
  for (int64_t i = 0; i < kSamples; ++i) ones.SetFromDouble(i, 1.0);
  const HostTensor y = RunOne("dropout", {ones}, {{"rate", rate}, {"seed", int64_t{31}}});
  const HostTensor uniform = RunOne(
      "random_uniform", {}, {{"shape", Shape{kSamples}}, {"dtype", DType::kF64}, {"seed", int64_t{31}}});
  int64_t kept = 0;
  for (int64_t i = 0; i < kSamples; ++i) {
    const double v = y.GetAsDouble(i);
    const bool keep = v != 0.0;
    kept += keep;
    if (keep) EXPECT_FLOAT_EQ(v, 1.0 / (1.0 - rate));
    // The documented mask: random_uniform with the same seed, kept where >= rate.
    EXPECT_EQ(keep, uniform.GetAsDouble(i) >= rate) << "element " << i;
  }
  EXPECT_NEAR(static_cast<double>(kept) / kSamples, 1.0 - rate, 0.007);
  EXPECT_NEAR(MomentsOf(y).mean, 1.0, 0.01);
}

TEST(Dropout, RateZeroIsTheIdentity) {
  HostTensor x(TensorDesc{Shape{3, 4}, DType::kF64});
  for (int64_t i = 0; i < x.NumElements(); ++i) x.SetFromDouble(i, 0.25 * static_cast<double>(i) - 1.0);
  ExpectIdentical(RunOne("dropout", {x}, {{"rate", 0.0}, {"seed", int64_t{3}}}), x, "rate 0");
}

TEST(Random, SameSeedGivesSameValuesUnderEverySplit) {
  const TensorDesc logical{Shape{7, 5}, DType::kF32};
  for (const char* op : {"random_uniform", "random_normal"}) {
    const AttrMap attrs{{"shape", logical.shape}, {"seed", int64_t{123}}};
    const HostTensor whole = RunOne(op, {}, attrs);
    for (int axis : {0, 1}) {
      for (int devices : {2, 3, 4, 8}) {
        ExpectIdentical(RunSplit(op, {}, attrs, logical, axis, devices), whole,
                        std::string(op) + " S(" + std::to_string(axis) + ") on " + std::to_string(devices));
      }
    }
  }
  HostTensor x(logical);
  for (int64_t i = 0; i < x.NumElements(); ++i) x.SetFromDouble(i, 1.0 + static_cast<double>(i));
  const AttrMap dropout{{"rate", 0.5}, {"seed", int64_t{17}}};
  const HostTensor whole = RunOne("dropout", {x}, dropout);
  for (int axis : {0, 1}) {
    for (int devices : {2, 3, 4, 8}) {
      ExpectIdentical(RunSplit("dropout", {x}, dropout, logical, axis, devices), whole,
                      "dropout S(" + std::to_string(axis) + ") on " + std::to_string(devices));
    }
  }
}

TEST(Random, ValuesDoNotDependOnTheDType) {
  const AttrMap f32{{"shape", Shape{1000}}, {"seed", int64_t{8}}};
  AttrMap f64 = f32;
  f64.Set("dtype", DType::kF64);
  for (const char* op : {"random_uniform", "random_normal"}) {
    const HostTensor single = RunOne(op, {}, f32);
    const HostTensor twice = RunOne(op, {}, f64);
    for (int64_t i = 0; i < single.NumElements(); ++i) {
      EXPECT_EQ(single.GetAsDouble(i), static_cast<double>(static_cast<float>(twice.GetAsDouble(i))))
          << op << " " << i;
    }
  }
}

TEST(Random, DifferentSeedsGiveDifferentValues) {
  for (const char* op : {"random_uniform", "random_normal"}) {
    const HostTensor a = RunOne(op, {}, {{"shape", Shape{1000}}, {"seed", int64_t{1}}});
    const HostTensor b = RunOne(op, {}, {{"shape", Shape{1000}}, {"seed", int64_t{2}}});
    const HostTensor c = RunOne(op, {}, {{"shape", Shape{1000}}, {"seed", int64_t{1} << 32}});
    int64_t equal_ab = 0, equal_ac = 0;
    for (int64_t i = 0; i < a.NumElements(); ++i) {
      equal_ab += a.GetAsDouble(i) == b.GetAsDouble(i);
      equal_ac += a.GetAsDouble(i) == c.GetAsDouble(i);
    }
    EXPECT_EQ(equal_ab, 0) << op;
    EXPECT_EQ(equal_ac, 0) << op << ": the high word of the seed must matter";
  }
}

TEST(Random, UniformAndNormalStreamsOfOneSeedAreUnrelated) {
  const AttrMap attrs{{"shape", Shape{kSamples}}, {"dtype", DType::kF64}, {"seed", int64_t{4}}};
  const HostTensor u = RunOne("random_uniform", {}, attrs);
  const HostTensor z = RunOne("random_normal", {}, attrs);
  double covariance = 0;
  for (int64_t i = 0; i < kSamples; ++i) covariance += (u.GetAsDouble(i) - 0.5) * z.GetAsDouble(i);
  // Standard error of the sample covariance: sqrt(1/12 / 1e5) = 0.0009.
  EXPECT_NEAR(covariance / kSamples, 0.0, 0.005);
}

}  // namespace
}  // namespace ofl

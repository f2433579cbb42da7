// Cases of the random family: fill, random_uniform, random_normal, dropout.
//
// The references call only the Philox block function (checked against the
// published known answers in tests/ops/random_test.cc) and spell out the
// documented mapping from (seed, logical index) to a value themselves.
#include <cmath>

#include "ops/random/philox.h"
#include "tests/testing/op_test_case.h"

namespace ofl::testing {

namespace {

// The two 32-bit words of element i: block i / 2 of `stream`, words 2 (i % 2) and 2 (i % 2) + 1.
philox::Counter Block(int64_t seed, int64_t index, uint32_t stream) {
  const uint64_t s = static_cast<uint64_t>(seed);
  const uint64_t block = static_cast<uint64_t>(index) / 2;
  return philox::Philox4x32x10(
      philox::Counter{
          {static_cast<uint32_t>(block & 0xffffffffu), static_cast<uint32_t>(block >> 32), stream, 0}},
      philox::Key{{static_cast<uint32_t>(s & 0xffffffffu), static_cast<uint32_t>(s >> 32)}});
}

double Unit(uint32_t high, uint32_t low) {
  const uint64_t bits = (static_cast<uint64_t>(high) << 32) | low;
  return std::ldexp(static_cast<double>(bits >> 11), -53);
}

double ReferenceUniform(int64_t seed, int64_t index) {
  const philox::Counter block = Block(seed, index, 0);
  const int lane = static_cast<int>(index % 2) * 2;
  return Unit(block.word[lane], block.word[lane + 1]);
}

double ReferenceNormal(int64_t seed, int64_t index) {
  const philox::Counter block = Block(seed, index, 1);
  const double radius = std::sqrt(-2.0 * std::log(1.0 - Unit(block.word[0], block.word[1])));
  const double angle = 2.0 * M_PI * Unit(block.word[2], block.word[3]);
  return index % 2 == 0 ? radius * std::cos(angle) : radius * std::sin(angle);
}

// A case for an op without inputs producing `shape` of `dtype`.
OpTestCase Initializer(const std::string& op, const std::string& variant, Shape shape, DType dtype,
                       AttrMap attrs, std::function<double(const AttrMap&, int64_t)> value) {
  OpTestCase c;
  c.name = variant.empty() ? op : op + "/" + variant;
  c.op = op;
  attrs.Set("shape", shape).Set("dtype", dtype);
  c.attrs = attrs;
  c.reference = [shape, dtype, value](const std::vector<HostTensor>&, const AttrMap& filled) {
    HostTensor y(TensorDesc{shape, dtype});
    for (int64_t i = 0; i < y.NumElements(); ++i) y.SetFromDouble(i, value(filled, i));
    return std::vector<HostTensor>{y};
  };
  c.check_grad = false;
  if (dtype == DType::kF16) c.rtol = 1e-3;
  if (dtype == DType::kBF16) c.rtol = 1e-2;
  return c;
}

double FillValue(const AttrMap& attrs, int64_t) { return attrs.GetFloat("value"); }

double UniformValue(const AttrMap& attrs, int64_t i) {
  const double low = attrs.GetFloat("low"), high = attrs.GetFloat("high");
  return low + (high - low) * ReferenceUniform(attrs.GetInt("seed"), i);
}

double NormalValue(const AttrMap& attrs, int64_t i) {
  return attrs.GetFloat("mean") + attrs.GetFloat("std") * ReferenceNormal(attrs.GetInt("seed"), i);
}

OpTestCase Dropout(const std::string& variant, Shape shape, DType dtype, double rate, int64_t seed) {
  OpTestCase c;
  c.name = variant.empty() ? "dropout" : "dropout/" + variant;
  c.op = "dropout";
  c.inputs = {{TensorDesc{shape, dtype}, -2.0, 2.0}};
  c.attrs = {{"rate", rate}, {"seed", seed}};
  c.reference = [](const std::vector<HostTensor>& in, const AttrMap& attrs) {
    const double rate = attrs.GetFloat("rate");
    HostTensor y(in[0].desc());
    for (int64_t i = 0; i < y.NumElements(); ++i) {
      const bool keep = ReferenceUniform(attrs.GetInt("seed"), i) >= rate;
      y.SetFromDouble(i, keep ? in[0].GetAsDouble(i) / (1.0 - rate) : 0.0);
    }
    return std::vector<HostTensor>{y};
  };
  if (dtype == DType::kBF16) c.rtol = 1e-2;
  return c;
}

}  // namespace

std::vector<OpTestCase> RandomCases() {
  std::vector<OpTestCase> cases;

  OpTestCase fill = Initializer("fill", "", {3, 4}, DType::kF32, {{"value", 2.5}}, FillValue);
  fill.bad_inputs = {{{}, {}, "attribute shape: expected a value"},
                     {{}, {{"shape", Shape{2, -1}}}, "attribute shape: expected non-negative extents"},
                     {{}, {{"shape", Shape{2}}, {"dtype", DType::kBool}}, "attribute dtype: expected one of"},
                     {{},
                      {{"shape", Shape{2}}, {"dtype", DType::kI32}, {"value", 0.5}},
                      "attribute value: expected an integer"},
                     {{F32({2})}, {{"shape", Shape{2}}}, "inputs: expected 0, got 1"}};
  cases.push_back(fill);
  cases.push_back(Initializer("fill", "i64", {7}, DType::kI64, {{"value", -3.0}}, FillValue));
  cases.push_back(Initializer("fill", "i32", {2, 5}, DType::kI32, {{"value", int64_t{9}}}, FillValue));
  cases.push_back(Initializer("fill", "f16", {5, 2}, DType::kF16, {{"value", -0.75}}, FillValue));
  cases.push_back(Initializer("fill", "scalar", {}, DType::kF64, {{"value", 4.0}}, FillValue));
  cases.push_back(Initializer("fill", "empty", {0, 3}, DType::kF32, {{"value", 1.0}}, FillValue));

  const auto uniform_attrs = [](double low, double high, int64_t seed) -> AttrMap {
    return {{"low", low}, {"high", high}, {"seed", seed}};
  };
  OpTestCase uniform =
      Initializer("random_uniform", "", {5, 3}, DType::kF32, uniform_attrs(-2.0, 3.0, 42), UniformValue);
  uniform.bad_inputs = {
      {{},
       {{"shape", Shape{2}}, {"low", 1.0}, {"high", 1.0}, {"seed", int64_t{1}}},
       "attribute high: expected a value above low"},
      {{},
       {{"shape", Shape{2}}, {"dtype", DType::kI32}, {"seed", int64_t{1}}},
       "expected a floating-point dtype"},
      {{}, {{"shape", Shape{2}}}, "attribute seed: expected a value"},
      {{}, {{"shape", Shape{2}}, {"seed", 1.5}}, "attribute seed: expected int, got float"}};
  cases.push_back(uniform);
  cases.push_back(Initializer("random_uniform", "f64_3d", {2, 3, 4}, DType::kF64, uniform_attrs(0.0, 1.0, -5),
                              UniformValue));
  cases.push_back(
      Initializer("random_uniform", "bf16", {4, 5}, DType::kBF16, uniform_attrs(-1.0, 1.0, 3), UniformValue));
  cases.push_back(Initializer("random_uniform", "f16_odd", {3, 3}, DType::kF16,
                              uniform_attrs(10.0, 11.0, 1 << 20), UniformValue));

  const auto normal_attrs = [](double mean, double std_dev, int64_t seed) -> AttrMap {
    return {{"mean", mean}, {"std", std_dev}, {"seed", seed}};
  };
  OpTestCase normal =
      Initializer("random_normal", "", {6, 5}, DType::kF32, normal_attrs(1.0, 2.0, 7), NormalValue);
  normal.rtol = 1e-5;
  normal.atol = 1e-5;
  normal.bad_inputs = {
      {{}, {{"shape", Shape{2}}, {"std", -1.0}, {"seed", int64_t{1}}}, "attribute std: expected >= 0"},
      {{},
       {{"shape", Shape{2}}, {"dtype", DType::kI64}, {"seed", int64_t{1}}},
       "expected a floating-point dtype"},
      {{},
       {{"shape", Shape{2}}, {"mean", std::nan("")}, {"seed", int64_t{1}}},
       "attribute mean: expected a finite"}};
  cases.push_back(normal);
  // An odd count: the last element is an even index whose pair partner lies outside the tensor.
  cases.push_back(Initializer("random_normal", "f64_odd", {7}, DType::kF64,
                              normal_attrs(0.0, 1.0, 123456789012345), NormalValue));
  cases.push_back(
      Initializer("random_normal", "f16", {3, 2, 2}, DType::kF16, normal_attrs(-1.0, 0.5, 9), NormalValue));

  OpTestCase dropout = Dropout("", {6, 4}, DType::kF32, 0.3, 11);
  dropout.bad_inputs = {
      {{F32({3})}, {{"rate", 1.0}, {"seed", int64_t{1}}}, "attribute rate: expected a probability in [0, 1)"},
      {{F32({3})}, {{"rate", -0.1}, {"seed", int64_t{1}}}, "attribute rate: expected"},
      {{TensorDesc{Shape{3}, DType::kI32}},
       {{"rate", 0.5}, {"seed", int64_t{1}}},
       "x: expected a floating-point dtype"},
      {{F32({3})}, {{"rate", 0.5}}, "attribute seed: expected a value"}};
  cases.push_back(dropout);
  cases.push_back(Dropout("identity", {4, 3}, DType::kF32, 0.0, 5));
  cases.push_back(Dropout("f64_3d", {2, 3, 5}, DType::kF64, 0.5, 77));
  OpTestCase bf16 = Dropout("bf16", {5, 3}, DType::kBF16, 0.2, 8);
  bf16.check_grad = false;  // the gradient check runs in f64; the f32 and f64 cases cover it
  // The harness's P -> P check splits x into random bf16 pieces of magnitude up to ~3 whose
  // rounding (8-bit mantissa, ulp 2^-6 at 2) survives in their sum; the kernel itself is exact.
  bf16.atol = 0.05;
  cases.push_back(bf16);
  return cases;
}

}  // namespace ofl::testing

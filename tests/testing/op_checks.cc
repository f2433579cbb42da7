#include "tests/testing/op_checks.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

namespace ofl::testing {

uint64_t SeedOf(const std::string& name) { return std::hash<std::string>{}(name)&0xffffffffu; }

std::vector<HostTensor> GenerateInputs(const std::string& seed_name, const std::vector<InputSpec>& specs) {
  std::mt19937_64 rng(SeedOf(seed_name));
  std::vector<HostTensor> inputs;
  for (const InputSpec& spec : specs) {
    HostTensor tensor(spec.desc);
    std::uniform_real_distribution<double> uniform(spec.low, spec.high);
    for (int64_t i = 0; i < tensor.NumElements(); ++i) {
      double value = spec.values ? (*spec.values)[i % spec.values->size()] : uniform(rng);
      if (!spec.values && !IsFloatingPoint(spec.desc.dtype)) value = std::floor(value);
      tensor.SetFromDouble(i, value);
    }
    inputs.push_back(tensor);
  }
  return inputs;
}

std::vector<HostTensor> GenerateInputs(const OpTestCase& c) { return GenerateInputs(c.name, c.inputs); }

std::string GtestName(const std::string& case_name) {
  std::string name = case_name;
  for (char& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return name;
}

HostTensor CastTensor(const HostTensor& x, DType dtype) {
  HostTensor y(TensorDesc{x.shape(), dtype});
  for (int64_t i = 0; i < x.NumElements(); ++i) y.SetFromDouble(i, x.GetAsDouble(i));
  return y;
}

std::vector<TensorDesc> DescsOf(const std::vector<HostTensor>& tensors) {
  std::vector<TensorDesc> descs;
  for (const HostTensor& t : tensors) descs.push_back(t.desc());
  return descs;
}

std::vector<HostTensor> CloneAll(const std::vector<HostTensor>& tensors) {
  std::vector<HostTensor> copies;
  for (const HostTensor& t : tensors) copies.push_back(t.Clone());
  return copies;
}

// Reports the first few elements outside |a - e| <= atol + rtol |e|.
void ExpectClose(const HostTensor& actual, const HostTensor& expected, double rtol, double atol,
                 const std::string& what) {
  ASSERT_EQ(actual.shape(), expected.shape()) << what << ": shape";
  int reported = 0;
  for (int64_t i = 0; i < expected.NumElements() && reported < 5; ++i) {
    const double a = actual.GetAsDouble(i);
    const double e = expected.GetAsDouble(i);
    const bool both_nan = std::isnan(a) && std::isnan(e);
    if (!both_nan && !(std::abs(a - e) <= atol + rtol * std::abs(e))) {
      ADD_FAILURE() << what << ": element " << i << " is " << a << ", expected " << e;
      ++reported;
    }
  }
}

namespace {

// L(inputs) = sum over gradient-carrying outputs of <weight, output>.
double WeightedLoss(const OpTestCase& c, const EagerExecutor& executor, const std::vector<HostTensor>& inputs,
                    const std::vector<HostTensor>& weights) {
  auto outputs = executor.Run(c.op, CloneAll(inputs), c.attrs);
  if (!outputs.ok()) throw Error(outputs.status().message());
  double loss = 0.0;
  for (size_t o = 0; o < weights.size(); ++o) {
    for (int64_t i = 0; i < weights[o].NumElements(); ++i) {
      loss += weights[o].GetAsDouble(i) * outputs.value()[o].GetAsDouble(i);
    }
  }
  return loss;
}

}  // namespace

void CheckGradientAgainstFiniteDifferences(const OpTestCase& c, const OpSchema& schema,
                                           const EagerExecutor& executor) {
  ASSERT_TRUE(schema.grad != nullptr) << c.op << " has no gradient rule but its case asks for a check";
  std::vector<HostTensor> inputs = GenerateInputs(c);
  for (HostTensor& input : inputs) {
    if (IsFloatingPoint(input.dtype())) input = CastTensor(input, DType::kF64);
  }
  auto forward = executor.Run(c.op, CloneAll(inputs), c.attrs);
  ASSERT_TRUE(forward.ok()) << "f64 forward: " << forward.status().message();
  auto inferred = executor.ops().Infer(c.op, DescsOf(inputs), c.attrs);
  ASSERT_TRUE(inferred.ok());

  std::mt19937_64 rng(SeedOf(c.name) + 1);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  std::vector<HostTensor> weights;
  for (size_t o = 0; o < forward.value().size(); ++o) {
    HostTensor w(forward.value()[o].desc());
    const bool carries = IsFloatingPoint(w.dtype()) &&
                         (c.grad_outputs.empty() ||
                          std::find(c.grad_outputs.begin(), c.grad_outputs.end(), o) != c.grad_outputs.end());
    if (carries) {
      for (int64_t i = 0; i < w.NumElements(); ++i) w.SetFromDouble(i, uniform(rng));
    }
    weights.push_back(w);
  }

  EagerEmitter emitter(executor);
  GradContext ctx;
  ctx.emitter = &emitter;
  ctx.attrs = &inferred.value().attrs;
  for (const HostTensor& input : inputs) ctx.inputs.push_back(emitter.Add(input));
  for (const HostTensor& output : forward.value()) ctx.outputs.push_back(emitter.Add(output));
  for (const HostTensor& w : weights) ctx.output_grads.push_back(emitter.Add(w));
  for (size_t i = 0; i < inputs.size(); ++i) {
    ctx.needs_input_grad.push_back(c.inputs[i].differentiable && IsFloatingPoint(inputs[i].dtype()));
  }
  ctx.input_grads.assign(inputs.size(), ValueRef{});
  const Status status = schema.grad(ctx);
  ASSERT_TRUE(status.ok()) << status.message();

  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!ctx.needs_input_grad[i]) continue;
    ASSERT_TRUE(ctx.input_grads[i].valid()) << "no gradient for input " << i;
    const HostTensor& analytic = emitter.Get(ctx.input_grads[i]);
    ASSERT_EQ(analytic.desc(), inputs[i].desc()) << "gradient of input " << i;
    for (int64_t j = 0; j < inputs[i].NumElements(); ++j) {
      const double x = inputs[i].GetAsDouble(j);
      const double eps = 1e-6 * std::max(1.0, std::abs(x));
      std::vector<HostTensor> plus = CloneAll(inputs);
      std::vector<HostTensor> minus = CloneAll(inputs);
      plus[i].SetFromDouble(j, x + eps);
      minus[i].SetFromDouble(j, x - eps);
      const double numeric =
          (WeightedLoss(c, executor, plus, weights) - WeightedLoss(c, executor, minus, weights)) / (2 * eps);
      const double value = analytic.GetAsDouble(j);
      EXPECT_LE(std::abs(value - numeric), c.grad_atol + c.grad_rtol * std::abs(numeric))
          << c.name << ": d/d input " << i << " element " << j << ": rule gives " << value
          << ", finite differences " << numeric;
    }
  }
}

}  // namespace ofl::testing

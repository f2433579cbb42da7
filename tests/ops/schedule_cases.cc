// Cases of the schedule family: learning_rate_schedule at points of each
// phase (warm-up, its end, cosine decay, after the decay, no schedule) and
// increment (compared on the counter it updates in place). Neither is
// differentiable.
#include <cmath>
#include <numbers>

#include "tests/testing/op_test_case.h"

namespace ofl::testing {

namespace {

InputSpec Fixed(TensorDesc desc, double value) {
  InputSpec spec{std::move(desc)};
  spec.values = std::vector<double>{value};
  spec.differentiable = false;
  return spec;
}

// Written out phase by phase, independently of the kernel's helper.
double ReferenceRate(double t, const AttrMap& attrs) {
  const double peak = attrs.GetFloat("learning_rate");
  const double floor = attrs.GetFloat("min_learning_rate");
  const double warmup = static_cast<double>(attrs.GetInt("warmup_steps"));
  const double decay = static_cast<double>(attrs.GetInt("decay_steps"));
  if (warmup > 0 && t <= warmup) return peak * t / warmup;
  if (decay == 0) return peak;
  if (t - warmup >= decay) return floor;
  return floor + (peak - floor) * (1 + std::cos(std::numbers::pi * (t - warmup) / decay)) / 2;
}

OpTestCase Schedule(const std::string& variant, int64_t step, AttrMap attrs) {
  OpTestCase c;
  c.name = variant.empty() ? "learning_rate_schedule" : "learning_rate_schedule/" + variant;
  c.op = "learning_rate_schedule";
  c.inputs = {Fixed(I64({}), static_cast<double>(step))};
  c.attrs = std::move(attrs);
  c.reference = [](const std::vector<HostTensor>& in, const AttrMap& attrs) {
    HostTensor rate(TensorDesc{Shape{}, attrs.GetDType("dtype")});
    rate.SetFromDouble(0, ReferenceRate(in[0].GetAsDouble(0), attrs));
    return std::vector<HostTensor>{rate};
  };
  c.check_grad = false;
  return c;
}

OpTestCase Increment(const std::string& variant, TensorDesc desc) {
  OpTestCase c;
  c.name = variant.empty() ? "increment" : "increment/" + variant;
  c.op = "increment";
  InputSpec counter{std::move(desc), -50.0, 50.0};
  counter.differentiable = false;
  c.inputs = {counter};
  c.reference = [](const std::vector<HostTensor>& in, const AttrMap&) {
    HostTensor counter(in[0].desc());
    for (int64_t i = 0; i < counter.NumElements(); ++i) counter.SetFromDouble(i, in[0].GetAsDouble(i) + 1);
    return std::vector<HostTensor>{counter};
  };
  c.check_grad = false;
  return c;
}

}  // namespace

std::vector<OpTestCase> ScheduleCases() {
  std::vector<OpTestCase> cases;
  const AttrMap full = {{"learning_rate", 0.1},
                        {"warmup_steps", int64_t{4}},
                        {"decay_steps", int64_t{10}},
                        {"min_learning_rate", 0.01}};

  OpTestCase schedule = Schedule("", 2, full);
  schedule.bad_inputs = {
      {{I64({1})}, {{"learning_rate", 0.1}}, "step: expected rank 0"},
      {{TensorDesc{Shape{}, DType::kI32}}, {{"learning_rate", 0.1}}, "step: expected dtype i64, got i32"},
      {{I64({})}, {}, "attribute learning_rate: expected a value"},
      {{I64({})}, {{"learning_rate", -0.1}}, "attribute learning_rate: expected a finite value >= 0"},
      {{I64({})},
       {{"learning_rate", 0.1}, {"warmup_steps", int64_t{-1}}},
       "attribute warmup_steps: expected a value >= 0"},
      {{I64({})},
       {{"learning_rate", 0.1}, {"decay_steps", int64_t{-3}}},
       "attribute decay_steps: expected a value >= 0"},
      {{I64({})},
       {{"learning_rate", 0.1}, {"min_learning_rate", 0.2}},
       "attribute min_learning_rate: expected a value <= learning_rate"},
      {{I64({})},
       {{"learning_rate", 0.1}, {"dtype", DType::kF16}},
       "attribute dtype: expected f32 or f64, got f16"},
      {{F32({})}, {{"learning_rate", 0.1}}, "step: expected dtype i64, got f32"}};
  schedule.bad_values = {
      {{Fixed(I64({}), 0)}, {{"learning_rate", 0.1}}, "step: expected a 1-based step >= 1, got 0"}};
  cases.push_back(schedule);
  cases.push_back(Schedule("first_step", 1, full));
  cases.push_back(Schedule("end_of_warmup", 4, full));
  cases.push_back(Schedule("cosine", 7, full));
  cases.push_back(Schedule("end_of_decay", 14, full));
  cases.push_back(Schedule("after_decay", 100, full));
  cases.push_back(Schedule("constant", 5, {{"learning_rate", 0.25}}));
  cases.push_back(
      Schedule("warmup_then_constant", 9, {{"learning_rate", 0.25}, {"warmup_steps", int64_t{3}}}));
  AttrMap decay_f64 = {{"learning_rate", 0.5}, {"decay_steps", int64_t{8}}, {"dtype", DType::kF64}};
  cases.push_back(Schedule("decay_only_f64", 3, decay_f64));

  OpTestCase increment = Increment("", I64({}));
  increment.bad_inputs = {{{F32({})}, {}, "counter: expected dtype i32 or i64, got f32"},
                          {{}, {}, "inputs: expected 1, got 0"}};
  cases.push_back(increment);
  cases.push_back(Increment("i32_vector", TensorDesc{Shape{5}, DType::kI32}));
  cases.push_back(Increment("i64_matrix", I64({3, 4})));
  return cases;
}

}  // namespace ofl::testing

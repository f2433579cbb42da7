// Cases of the optimizer family: sgd_update, adam_update (compared on the
// inputs they update in place, in the order of mutated_inputs) and
// clip_scale. None is differentiable.
#include <algorithm>
#include <cmath>

#include "tests/testing/op_test_case.h"

namespace ofl::testing {

namespace {

TensorDesc Desc(Shape shape, DType dtype) { return TensorDesc{std::move(shape), dtype}; }

// Inputs that are state, not data: excluded from gradient checks.
InputSpec State(TensorDesc desc, double low = -1.0, double high = 1.0) {
  InputSpec spec{std::move(desc), low, high};
  spec.differentiable = false;
  return spec;
}

InputSpec Fixed(TensorDesc desc, double value) {
  InputSpec spec = State(std::move(desc));
  spec.values = std::vector<double>{value};
  return spec;
}

OpTestCase Sgd(const std::string& variant, Shape shape, DType dtype, double momentum, double weight_decay) {
  OpTestCase c;
  c.name = variant.empty() ? "sgd_update" : "sgd_update/" + variant;
  c.op = "sgd_update";
  c.inputs = {State(Desc(shape, dtype)), State(Desc(shape, dtype)), State(Desc(shape, dtype)),
              Fixed(Desc({}, dtype), 0.1)};
  c.attrs = {{"momentum", momentum}, {"weight_decay", weight_decay}};
  c.reference = [](const std::vector<HostTensor>& in, const AttrMap& attrs) {
    const double momentum = attrs.GetFloat("momentum"), weight_decay = attrs.GetFloat("weight_decay");
    const double lr = in[3].GetAsDouble(0);
    HostTensor param(in[0].desc()), buffer(in[2].desc());
    for (int64_t i = 0; i < in[0].NumElements(); ++i) {
      const double g = in[1].GetAsDouble(i) + weight_decay * in[0].GetAsDouble(i);
      const double b = momentum * in[2].GetAsDouble(i) + g;
      buffer.SetFromDouble(i, b);
      param.SetFromDouble(i, in[0].GetAsDouble(i) - lr * b);
    }
    return std::vector<HostTensor>{param, buffer};
  };
  c.check_grad = false;
  return c;
}

OpTestCase Adam(const std::string& variant, Shape shape, DType dtype, int64_t step, AttrMap attrs) {
  OpTestCase c;
  c.name = variant.empty() ? "adam_update" : "adam_update/" + variant;
  c.op = "adam_update";
  c.inputs = {
      State(Desc(shape, dtype)),           State(Desc(shape, dtype)),    State(Desc(shape, dtype), -0.5, 0.5),
      State(Desc(shape, dtype), 0.0, 0.3), Fixed(Desc({}, dtype), 0.01), Fixed(I64({}), step)};
  c.attrs = attrs;
  c.reference = [](const std::vector<HostTensor>& in, const AttrMap& attrs) {
    return AdamReference(in, attrs, 1.0);
  };
  c.check_grad = false;
  return c;
}

OpTestCase ClipScale(const std::string& variant, DType dtype, double sum_of_squares, double max_norm) {
  OpTestCase c;
  c.name = variant.empty() ? "clip_scale" : "clip_scale/" + variant;
  c.op = "clip_scale";
  c.inputs = {Fixed(Desc({}, dtype), sum_of_squares)};
  c.attrs = {{"max_norm", max_norm}};
  c.reference = [](const std::vector<HostTensor>& in, const AttrMap& attrs) {
    HostTensor scale(in[0].desc());
    const double norm = std::sqrt(in[0].GetAsDouble(0));
    scale.SetFromDouble(0, std::min(1.0, attrs.GetFloat("max_norm") / (norm + 1e-6)));
    return std::vector<HostTensor>{scale};
  };
  c.check_grad = false;
  return c;
}

// multi_tensor_adam_update over tensors of `shapes` (inputs learning_rate,
// step, params, grads, ms, vs). The op's in-place writes are not declared
// (OpSchema::mutated_inputs cannot depend on the input count, see
// ops/optimizer/multi_tensor_adam.h), so the harness has no result to
// compare: the reference is empty and the cases check inference, errors,
// the step check and that the kernel runs on every SBP piece. The CPU kernel
// runs adam_update's kernel per tensor, whose values the adam_update cases check.
OpTestCase MultiTensorAdam(const std::string& variant, const std::vector<Shape>& shapes, DType dtype,
                           int64_t step, AttrMap attrs) {
  OpTestCase c;
  c.name = variant.empty() ? "multi_tensor_adam_update" : "multi_tensor_adam_update/" + variant;
  c.op = "multi_tensor_adam_update";
  c.inputs = {Fixed(Desc({}, dtype), 0.01), Fixed(I64({}), static_cast<double>(step))};
  for (const Shape& shape : shapes) c.inputs.push_back(State(Desc(shape, dtype)));
  for (const Shape& shape : shapes) c.inputs.push_back(State(Desc(shape, dtype)));
  for (const Shape& shape : shapes) c.inputs.push_back(State(Desc(shape, dtype), -0.5, 0.5));
  for (const Shape& shape : shapes) c.inputs.push_back(State(Desc(shape, dtype), 0.0, 0.3));
  c.attrs = std::move(attrs);
  c.reference = [](const std::vector<HostTensor>&, const AttrMap&) { return std::vector<HostTensor>{}; };
  c.check_grad = false;
  return c;
}

}  // namespace

std::vector<OpTestCase> OptimizerCases() {
  std::vector<OpTestCase> cases;
  const DType f32 = DType::kF32, f64 = DType::kF64;

  OpTestCase sgd = Sgd("", {5, 3}, f32, 0.9, 0.01);
  sgd.bad_inputs = {
      {{F32({5, 3}), F32({5, 2}), F32({5, 3}), F32({})}, {}, "grad: expected shape [5, 3]"},
      {{F32({5, 3}), F32({5, 3}), Desc({5, 3}, f64), F32({})}, {}, "momentum_buffer: expected dtype f32"},
      {{F32({5, 3}), F32({5, 3}), F32({5, 3}), F32({1})}, {}, "learning_rate: expected rank 0"},
      {{Desc({2}, DType::kF16), Desc({2}, DType::kF16), Desc({2}, DType::kF16), Desc({}, DType::kF16)},
       {},
       "param: expected dtype f32 or f64, got f16"},
      {{F32({2}), F32({2}), F32({2}), F32({})},
       {{"momentum", -0.5}},
       "attribute momentum: expected a finite value >= 0"},
      {{F32({2}), F32({2}), F32({2})}, {}, "inputs: expected 4, got 3"}};
  cases.push_back(sgd);
  cases.push_back(Sgd("plain", {4, 3}, f32, 0.0, 0.0));
  cases.push_back(Sgd("f64_3d", {2, 3, 2}, f64, 0.5, 0.1));
  cases.push_back(Sgd("scalar", {}, f64, 0.9, 0.0));

  OpTestCase adam = Adam("", {5, 3}, f32, 3, {});
  adam.bad_values = {{{State(F32({5, 3})), State(F32({5, 3})), State(F32({5, 3})),
                       State(F32({5, 3}), 0.0, 0.3), Fixed(F32({}), 0.01), Fixed(I64({}), 0)},
                      {},
                      "step: expected a 1-based step >= 1, got 0"}};
  adam.rtol = 1e-5;
  adam.atol = 1e-6;
  adam.bad_inputs = {
      {{F32({5, 3}), F32({5, 3}), F32({5, 3}), F32({5, 3}), F32({}), TensorDesc{Shape{}, DType::kI32}},
       {},
       "step: expected dtype i64, got i32"},
      {{F32({5, 3}), F32({5, 3}), F32({5, 3}), F32({5, 3}), F32({}), I64({1})}, {}, "step: expected rank 0"},
      {{F32({5, 3}), F32({5, 3}), F32({5, 3}), F32({3, 5}), F32({}), I64({})},
       {},
       "v: expected shape [5, 3]"},
      {{F32({2}), F32({2}), F32({2}), F32({2}), F32({}), I64({})},
       {{"beta1", 1.0}},
       "attribute beta1: expected a value in [0, 1)"},
      {{F32({2}), F32({2}), F32({2}), F32({2}), F32({}), I64({})},
       {{"epsilon", -1e-8}},
       "attribute epsilon: expected a finite value >= 0"},
      {{F32({2}), F32({2}), F32({2}), F32({2}), F32({}), I64({})},
       {{"decoupled_weight_decay", 1.0}},
       "attribute decoupled_weight_decay: expected bool, got float"}};
  cases.push_back(adam);
  cases.push_back(Adam("first_step", {4, 3}, f64, 1, {}));
  cases.push_back(Adam("l2", {3, 4}, f32, 10, {{"weight_decay", 0.05}, {"beta1", 0.8}, {"beta2", 0.99}}));
  cases.push_back(Adam("adamw", {2, 3, 3}, f64, 7,
                       {{"weight_decay", 0.1}, {"decoupled_weight_decay", true}, {"epsilon", 1e-6}}));

  OpTestCase multi = MultiTensorAdam("", {{5, 3}, {7}, {1}}, f32, 3, {});
  const TensorDesc s0 = F32({}), step = I64({});
  multi.bad_inputs = {
      {{s0, step, F32({5, 3}), F32({7}), F32({1}), F32({5, 3}), F32({7}), F32({2}), F32({5, 3}), F32({7}),
        F32({1}), F32({5, 3}), F32({7}), F32({1})},
       {},
       "grads[2].shape=[2] must equal params[2].shape=[1]"},
      {{s0, step, F32({5, 3}), F32({7}), F32({5, 3}), F32({7}), F32({5, 3}), F32({7}), F32({5, 3}),
        Desc({7}, f64)},
       {},
       "vs[1].dtype=f64 must equal params[0].dtype=f32"},
      {{s0, step, F32({2}), F32({2}), F32({2})}, {}, "inputs: expected 2 + 4 N with N >= 1"},
      {{s0, step}, {}, "inputs: expected at least 3, got 2"},
      {{Desc({}, DType::kF16), step, Desc({2}, DType::kF16), Desc({2}, DType::kF16), Desc({2}, DType::kF16),
        Desc({2}, DType::kF16)},
       {},
       "params[0].dtype=f16 must be f32 or f64"},
      {{F32({1}), step, F32({2}), F32({2}), F32({2}), F32({2})}, {}, "learning_rate: expected rank 0"},
      {{Desc({}, f64), step, F32({2}), F32({2}), F32({2}), F32({2})},
       {},
       "learning_rate.dtype=f64 must equal params[0].dtype=f32"},
      {{s0, TensorDesc{Shape{}, DType::kI32}, F32({2}), F32({2}), F32({2}), F32({2})},
       {},
       "step: expected dtype i64, got i32"},
      {{s0, step, F32({2}), F32({2}), F32({2}), F32({2})},
       {{"beta2", 1.0}},
       "attribute beta2: expected a value in [0, 1)"},
      {{s0, step, F32({2}), F32({2}), F32({2}), F32({2})},
       {{"weight_decay", -0.1}},
       "attribute weight_decay: expected a finite value >= 0"}};
  multi.bad_values = {{{Fixed(F32({}), 0.01), Fixed(I64({}), 0), State(F32({3})), State(F32({3})),
                        State(F32({3})), State(F32({3}), 0.0, 0.3)},
                       {},
                       "step: expected a 1-based step >= 1, got 0"}};
  cases.push_back(multi);
  cases.push_back(
      MultiTensorAdam("adamw", {{2, 3, 3}, {4, 2}, {1, 1}}, f64, 7,
                      {{"weight_decay", 0.1}, {"decoupled_weight_decay", true}, {"epsilon", 1e-6}}));
  cases.push_back(MultiTensorAdam("l2_scalar", {{}, {3}}, f32, 1, {{"weight_decay", 0.05}, {"beta1", 0.8}}));

  OpTestCase clip = ClipScale("", f32, 9.0, 1.5);
  clip.bad_inputs = {
      {{F32({1})}, {{"max_norm", 1.0}}, "sum_of_squares: expected rank 0"},
      {{F32({})}, {}, "attribute max_norm: expected a value"},
      {{F32({})}, {{"max_norm", 0.0}}, "attribute max_norm: expected a finite value > 0"},
      {{TensorDesc{Shape{}, DType::kI32}}, {{"max_norm", 1.0}}, "expected dtype f32 or f64, got i32"}};
  cases.push_back(clip);
  cases.push_back(ClipScale("unclipped", f64, 0.25, 2.0));
  cases.push_back(ClipScale("zero", f64, 0.0, 1.0));
  return cases;
}

}  // namespace ofl::testing

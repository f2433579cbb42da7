// Cases of the fused family: bias_add_gelu, bias_add_gelu_grad,
// adam_update_scaled, add_layer_norm. References are written from the math
// in double, not from the unfused ops; the fused-equals-unfused checks are
// in tests/compiler/fusion_test.cc, except add_layer_norm's (no fusion pass
// makes it yet), whose "unfused" cases run add then layer_norm on the eager
// executor as their reference.
#include <cmath>
#include <tuple>

#include "ops/eager.h"
#include "ops/registry.h"
#include "tests/testing/op_test_case.h"

namespace ofl::testing {

namespace {

double GeluErf(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }
double GeluTanh(double x) {
  return 0.5 * x * (1 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}
// d/dx of x Phi(x) = Phi(x) + x phi(x).
double GeluErfDerivative(double x) {
  return 0.5 * (1 + std::erf(x / std::sqrt(2.0))) + x * std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
}
double GeluTanhDerivative(double x) {
  const double k = std::sqrt(2.0 / M_PI);
  const double t = std::tanh(k * (x + 0.044715 * x * x * x));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x);
}

// x + bias[channel of element i] for bias along `axis_attr` of x.
double PreActivation(const HostTensor& x, const HostTensor& bias, int64_t axis_attr, int64_t i) {
  const Shape& s = x.shape();
  const int axis = static_cast<int>(axis_attr < 0 ? axis_attr + s.rank() : axis_attr);
  int64_t inner = 1;
  for (int k = axis + 1; k < s.rank(); ++k) inner *= s[k];
  return x.GetAsDouble(i) + bias.GetAsDouble((i / inner) % s[axis]);
}

bool TanhForm(const AttrMap& attrs) { return attrs.GetString("approximate") == "tanh"; }

TensorDesc BiasOf(const TensorDesc& x, int64_t axis) {
  const int rank = x.shape.rank();
  return TensorDesc{Shape{x.shape[static_cast<int>(axis < 0 ? axis + rank : axis)]}, x.dtype};
}

OpTestCase BiasAddGelu(const std::string& variant, TensorDesc x, int64_t axis, AttrMap extra = {}) {
  OpTestCase c;
  c.name = variant.empty() ? "bias_add_gelu" : "bias_add_gelu/" + variant;
  c.op = "bias_add_gelu";
  // x + bias spans [-4, 4]: both gelu tails and the curved middle.
  c.inputs = {{x, -3.0, 3.0}, {BiasOf(x, axis), -1.0, 1.0}};
  c.attrs = extra;
  c.attrs.Set("axis", axis);
  c.reference = [](const std::vector<HostTensor>& in, const AttrMap& attrs) {
    HostTensor y(in[0].desc());
    for (int64_t i = 0; i < y.NumElements(); ++i) {
      const double pre = PreActivation(in[0], in[1], attrs.GetInt("axis"), i);
      y.SetFromDouble(i, TanhForm(attrs) ? GeluTanh(pre) : GeluErf(pre));
    }
    return std::vector<HostTensor>{y};
  };
  return c;
}

OpTestCase BiasAddGeluGrad(const std::string& variant, TensorDesc x, int64_t axis, AttrMap extra = {}) {
  OpTestCase c;
  c.name = variant.empty() ? "bias_add_gelu_grad" : "bias_add_gelu_grad/" + variant;
  c.op = "bias_add_gelu_grad";
  c.inputs = {{x, -1.0, 1.0}, {x, -3.0, 3.0}, {BiasOf(x, axis), -1.0, 1.0}};
  c.attrs = extra;
  c.attrs.Set("axis", axis);
  c.reference = [](const std::vector<HostTensor>& in, const AttrMap& attrs) {
    HostTensor dx(in[1].desc());
    for (int64_t i = 0; i < dx.NumElements(); ++i) {
      const double pre = PreActivation(in[1], in[2], attrs.GetInt("axis"), i);
      const double derivative = TanhForm(attrs) ? GeluTanhDerivative(pre) : GeluErfDerivative(pre);
      dx.SetFromDouble(i, derivative * in[0].GetAsDouble(i));
    }
    return std::vector<HostTensor>{dx};
  };
  // A helper of gradients with no rule of its own.
  c.check_grad = false;
  return c;
}

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

std::vector<InputSpec> AdamInputs(const Shape& shape, DType dtype, int64_t step, double scale) {
  const TensorDesc tensor{shape, dtype};
  const TensorDesc scalar{Shape{}, dtype};
  return {State(tensor),       State(tensor),        State(tensor, -0.5, 0.5), State(tensor, 0.0, 0.3),
          Fixed(scalar, 0.01), Fixed(I64({}), step), Fixed(scalar, scale)};
}

OpTestCase AdamUpdateScaled(const std::string& variant, Shape shape, DType dtype, int64_t step, double scale,
                            AttrMap attrs) {
  OpTestCase c;
  c.name = variant.empty() ? "adam_update_scaled" : "adam_update_scaled/" + variant;
  c.op = "adam_update_scaled";
  c.inputs = AdamInputs(shape, dtype, step, scale);
  c.attrs = attrs;
  // PyTorch's Adam/AdamW on grad * grad_scale, from the definition.
  c.reference = [](const std::vector<HostTensor>& in, const AttrMap& attrs) {
    return AdamReference(in, attrs, in[6].GetAsDouble(0));
  };
  c.check_grad = false;
  return c;
}

// ---- add_layer_norm --------------------------------------------------------

int64_t ResolvedBegin(const Shape& shape, int64_t begin) { return begin < 0 ? begin + shape.rank() : begin; }

Shape Slice(const Shape& shape, int64_t begin, int64_t end) {
  return Shape(std::vector<int64_t>(shape.dims().begin() + begin, shape.dims().begin() + end));
}

// sum = x + residual rounded to x's dtype (as add stores it), then
// layer_norm of that sum in double: y, sum, mean, inv_std.
std::vector<HostTensor> AddLayerNormReference(const std::vector<HostTensor>& in, const AttrMap& attrs) {
  const Shape& shape = in[0].shape();
  const int64_t begin = ResolvedBegin(shape, attrs.GetInt("begin_norm_axis"));
  const double epsilon = attrs.GetFloat("epsilon");
  int64_t rows = 1, cols = 1;
  for (int k = 0; k < shape.rank(); ++k) (k < begin ? rows : cols) *= shape[k];
  HostTensor sum(in[0].desc());
  for (int64_t i = 0; i < sum.NumElements(); ++i)
    sum.SetFromDouble(i, in[0].GetAsDouble(i) + in[1].GetAsDouble(i));
  HostTensor y(in[0].desc());
  HostTensor mean(TensorDesc{Slice(shape, 0, begin), in[0].dtype()});
  HostTensor inv_std(mean.desc());
  for (int64_t r = 0; r < rows; ++r) {
    double m = 0, v = 0;
    for (int64_t j = 0; j < cols; ++j) m += sum.GetAsDouble(r * cols + j) / cols;
    for (int64_t j = 0; j < cols; ++j) v += std::pow(sum.GetAsDouble(r * cols + j) - m, 2) / cols;
    const double s = 1 / std::sqrt(v + epsilon);
    for (int64_t j = 0; j < cols; ++j) {
      y.SetFromDouble(r * cols + j,
                      (sum.GetAsDouble(r * cols + j) - m) * s * in[2].GetAsDouble(j) + in[3].GetAsDouble(j));
    }
    mean.SetFromDouble(r, m);
    inv_std.SetFromDouble(r, s);
  }
  return {y, sum, mean, inv_std};
}

// The unfused chain on the eager executor: sum = add(x, residual),
// (y, mean, inv_std) = layer_norm(sum, weight, bias).
std::vector<HostTensor> UnfusedAddLayerNorm(const std::vector<HostTensor>& in, const AttrMap& attrs) {
  static const EagerExecutor executor(DefaultRegistries().ops, DefaultRegistries().kernels);
  auto sum = executor.Run("add", {in[0], in[1]}, {});
  if (!sum.ok()) throw Error(sum.status().message());
  const AttrMap norm_attrs = {{"begin_norm_axis", attrs.GetInt("begin_norm_axis")},
                              {"epsilon", attrs.GetFloat("epsilon")}};
  auto norm = executor.Run("layer_norm", {sum.value()[0], in[2], in[3]}, norm_attrs);
  if (!norm.ok()) throw Error(norm.status().message());
  return {norm.value()[0], sum.value()[0], norm.value()[1], norm.value()[2]};
}

OpTestCase AddLayerNorm(const std::string& variant, TensorDesc x, int64_t begin) {
  OpTestCase c;
  c.name = variant.empty() ? "add_layer_norm" : "add_layer_norm/" + variant;
  c.op = "add_layer_norm";
  const TensorDesc param{Slice(x.shape, ResolvedBegin(x.shape, begin), x.shape.rank()), x.dtype};
  c.inputs = {{x, -2.0, 2.0}, {x, -1.0, 1.0}, {param, 0.5, 1.5}, {param}};
  c.attrs = {{"begin_norm_axis", begin}, {"epsilon", 1e-5}};
  c.reference = AddLayerNormReference;
  c.rtol = 1e-4;
  c.atol = 1e-5;
  // y and the sum carry gradients; mean and inv_std are saved statistics.
  c.grad_outputs = {0, 1};
  return c;
}

// The fused op against add then layer_norm on the CPU: equal bit for bit
// (the kernel runs layer_norm's own kernel on the stored sum).
OpTestCase AddLayerNormUnfused(const std::string& variant, TensorDesc x, int64_t begin) {
  OpTestCase c = AddLayerNorm("unfused_" + variant, std::move(x), begin);
  c.reference = UnfusedAddLayerNorm;
  c.rtol = 0.0;
  c.atol = 0.0;
  c.check_grad = false;  // the other cases check the rule
  return c;
}

}  // namespace

std::vector<OpTestCase> FusedCases() {
  std::vector<OpTestCase> cases;
  const DType f64 = DType::kF64;
  const AttrMap tanh_form = {{"approximate", std::string("tanh")}};

  OpTestCase gelu = BiasAddGelu("", F32({5, 4}), -1);
  gelu.bad_inputs = {
      {{F32({5, 4}), F32({5})}, {}, "bias: expected shape [4] (x.shape[1] of x [5, 4]), got [5]"},
      {{F32({5, 4}), F32({4})}, {{"axis", int64_t{2}}}, "attribute axis"},
      {{F32({5, 4}), F32({4})}, {{"approximate", std::string("cubic")}}, "attribute approximate"},
      {{F32({5, 4}), TensorDesc{Shape{4}, f64}}, {}, "bias: expected dtype f32"},
      {{I64({5, 4}), I64({4})}, {}, "x: expected a floating-point dtype"},
      {{F32({}), F32({1})}, {}, "x: expected rank >= 1"},
      {{F32({5, 4}), F32({1, 4})}, {}, "bias: expected rank 1"},
      {{F32({5, 4})}, {}, "inputs: expected 2, got 1"}};
  cases.push_back(gelu);
  cases.push_back(BiasAddGelu("tanh", F32({4, 6}), -1, tanh_form));
  cases.push_back(BiasAddGelu("axis1_3d", F32({3, 4, 5}), 1));
  cases.push_back(BiasAddGelu("axis0", F32({3, 4}), 0, tanh_form));
  cases.push_back(BiasAddGelu("rank1", F32({6}), 0));
  cases.push_back(BiasAddGelu("f64", TensorDesc{Shape{2, 3, 4}, f64}, -1));
  OpTestCase bf16 = BiasAddGelu("bf16", TensorDesc{Shape{4, 5}, DType::kBF16}, -1);
  bf16.rtol = 2e-2;
  bf16.atol = 2e-2;
  bf16.check_grad = false;  // the f64 check of the other cases covers the rule
  cases.push_back(bf16);
  // More than one oneDNN chunk (16384 elements), with rows that straddle
  // chunk boundaries both along the bias axis (last) and across it.
  for (const auto& [variant, shape, axis] : {std::tuple{"chunks_last_axis", Shape{70, 301}, int64_t{-1}},
                                             std::tuple{"chunks_inner", Shape{5, 61, 71}, int64_t{1}}}) {
    OpTestCase big = BiasAddGelu(variant, F32(shape), axis);
    big.check_grad = false;  // finite differences per element would take minutes
    cases.push_back(big);
    OpTestCase big_grad = BiasAddGeluGrad(variant, F32(shape), axis);
    cases.push_back(big_grad);
  }

  OpTestCase grad = BiasAddGeluGrad("", F32({5, 4}), -1);
  grad.rtol = 1e-5;
  grad.atol = 1e-6;
  grad.bad_inputs = {
      {{F32({5, 3}), F32({5, 4}), F32({4})}, {}, "dy: expected shape [5, 4] (the shape of x), got [5, 3]"},
      {{TensorDesc{Shape{5, 4}, f64}, F32({5, 4}), F32({4})}, {}, "dy: expected dtype f32"},
      {{F32({5, 4}), F32({5, 4}), F32({5})}, {}, "bias: expected shape [4]"},
      {{F32({5, 4}), F32({5, 4}), F32({4})},
       {{"approximate", std::string("exact")}},
       "attribute approximate"},
      {{F32({5, 4}), F32({5, 4})}, {}, "inputs: expected 3, got 2"}};
  cases.push_back(grad);
  cases.push_back(BiasAddGeluGrad("tanh", F32({4, 6}), -1, tanh_form));
  cases.push_back(BiasAddGeluGrad("axis1_3d", F32({3, 4, 5}), 1));
  cases.push_back(BiasAddGeluGrad("f64", TensorDesc{Shape{3, 5}, f64}, 0, tanh_form));

  OpTestCase adam = AdamUpdateScaled("", {5, 3}, DType::kF32, 3, 0.4, {});
  adam.bad_inputs = {
      {{F32({5, 3}), F32({5, 3}), F32({5, 3}), F32({5, 3}), F32({}), I64({}), F32({1})},
       {},
       "grad_scale: expected rank 0"},
      {{F32({5, 3}), F32({5, 3}), F32({5, 3}), F32({5, 3}), F32({}), I64({}), TensorDesc{Shape{}, f64}},
       {},
       "grad_scale: expected dtype f32"},
      {{F32({5, 3}), F32({3, 5}), F32({5, 3}), F32({5, 3}), F32({}), I64({}), F32({})},
       {},
       "grad: expected shape [5, 3]"},
      {{F32({5, 3}), F32({5, 3}), F32({5, 3}), F32({5, 3}), F32({}), TensorDesc{Shape{}, DType::kI32},
        F32({})},
       {},
       "step: expected dtype i64, got i32"},
      {{F32({2}), F32({2}), F32({2}), F32({2}), F32({}), I64({}), F32({})},
       {{"beta2", -0.1}},
       "attribute beta2: expected a value in [0, 1)"},
      {{F32({5, 3}), F32({5, 3}), F32({5, 3}), F32({5, 3}), F32({}), I64({})},
       {},
       "inputs: expected 7, got 6"}};
  std::vector<InputSpec> step_zero = AdamInputs({5, 3}, DType::kF32, 0, 0.5);
  adam.bad_values = {{step_zero, {}, "step: expected a 1-based step >= 1, got 0"}};
  cases.push_back(adam);
  cases.push_back(AdamUpdateScaled("unclipped_f64", {4, 3}, f64, 1, 1.0, {}));
  cases.push_back(AdamUpdateScaled("l2", {3, 4}, DType::kF32, 10, 0.05,
                                   {{"weight_decay", 0.05}, {"beta1", 0.8}, {"beta2", 0.99}}));
  cases.push_back(
      AdamUpdateScaled("adamw", {2, 3, 3}, f64, 7, 0.7,
                       {{"weight_decay", 0.1}, {"decoupled_weight_decay", true}, {"epsilon", 1e-6}}));
  cases.push_back(AdamUpdateScaled("scalar_param", {}, f64, 2, 0.25, {}));

  OpTestCase add_norm = AddLayerNorm("", F32({4, 6}), -1);
  add_norm.bad_inputs = {
      {{F32({4, 6}), F32({4, 5}), F32({6}), F32({6})},
       {},
       "residual: expected shape [4, 6] (the shape of x), got [4, 5]"},
      {{F32({4, 6}), F32({4, 6}), F32({5}), F32({6})},
       {},
       "weight: expected shape [6] (x.shape[1:]), got [5]"},
      {{F32({4, 6}), F32({4, 6}), F32({6}), F32({4, 6})}, {}, "bias: expected shape [6] (x.shape[1:])"},
      {{F32({2, 3, 4}), F32({2, 3, 4}), F32({4}), F32({4})},
       {{"begin_norm_axis", int64_t{1}}},
       "weight: expected shape [3, 4] (x.shape[1:]), got [4]"},
      {{F32({4, 6}), TensorDesc{Shape{4, 6}, f64}, F32({6}), F32({6})}, {}, "residual: expected dtype f32"},
      {{F32({4, 6}), F32({4, 6}), F32({6}), TensorDesc{Shape{6}, DType::kBF16}},
       {},
       "bias: expected dtype f32"},
      {{I64({4, 6}), I64({4, 6}), I64({6}), I64({6})}, {}, "x: expected a floating-point dtype"},
      {{F32({}), F32({}), F32({}), F32({})}, {}, "x: expected rank >= 1"},
      {{F32({4, 6}), F32({4, 6}), F32({6}), F32({6})},
       {{"begin_norm_axis", int64_t{2}}},
       "attribute begin_norm_axis"},
      {{F32({4, 6}), F32({4, 6}), F32({6}), F32({6})},
       {{"epsilon", -1.0}},
       "attribute epsilon: expected a value >= 0"},
      {{F32({4, 6}), F32({4, 6}), F32({6})}, {}, "inputs: expected 4, got 3"}};
  cases.push_back(add_norm);
  cases.push_back(AddLayerNorm("two_axes", F32({3, 2, 4}), 1));
  cases.push_back(AddLayerNorm("all_axes", F32({3, 4}), 0));
  cases.push_back(AddLayerNorm("f64", TensorDesc{Shape{3, 5}, f64}, -1));
  for (const auto& [variant, dtype, tolerance] :
       {std::tuple{"f16", DType::kF16, 1e-2}, std::tuple{"bf16", DType::kBF16, 3e-2}}) {
    OpTestCase half = AddLayerNorm(variant, TensorDesc{Shape{4, 40}, dtype}, -1);
    half.rtol = tolerance;
    half.atol = tolerance;
    half.check_grad = false;  // the f64 check of the other cases covers the rule
    cases.push_back(half);
  }
  // Wide rows (oneDNN's vector loops for f32) and an empty piece, against
  // the unfused pair.
  cases.push_back(AddLayerNormUnfused("f32", F32({7, 130}), -1));
  cases.push_back(AddLayerNormUnfused("two_axes_f32", F32({3, 4, 9}), 1));
  cases.push_back(AddLayerNormUnfused("f16", TensorDesc{Shape{5, 33}, DType::kF16}, -1));
  cases.push_back(AddLayerNormUnfused("bf16", TensorDesc{Shape{5, 33}, DType::kBF16}, -1));
  cases.push_back(AddLayerNormUnfused("f64", TensorDesc{Shape{5, 33}, f64}, -1));
  cases.push_back(AddLayerNormUnfused("empty_rows", F32({0, 6}), -1));
  return cases;
}

}  // namespace ofl::testing

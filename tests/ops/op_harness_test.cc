// The table-driven op harness: every case of AllOpTestCases() is checked for
// inference, errors, forward against its reference, gradient against finite
// differences (f64), and SBP consistency on 2, 3 and 4 pieces.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>

#include "ops/eager.h"
#include "ops/registry.h"
#include "ops/sbp_consistency.h"
#include "tests/testing/op_test_case.h"

namespace ofl::testing {
namespace {

const Registries& Reg() { return DefaultRegistries(); }
const EagerExecutor& Executor() {
  static const EagerExecutor executor(Reg().ops, Reg().kernels);
  return executor;
}

uint64_t SeedOf(const std::string& name) { return std::hash<std::string>{}(name) & 0xffffffffu; }

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

const OpSchema& SchemaOf(const OpTestCase& c) {
  const OpSchema* schema = Reg().ops.Find(c.op);
  if (schema == nullptr) throw Error("case " + c.name + " names unknown op " + c.op);
  return *schema;
}

class OpHarness : public ::testing::TestWithParam<OpTestCase> {};

TEST_P(OpHarness, InferenceMatchesReference) {
  const OpTestCase& c = GetParam();
  const std::vector<HostTensor> inputs = GenerateInputs(c);
  auto inferred = Reg().ops.Infer(c.op, DescsOf(inputs), c.attrs);
  ASSERT_TRUE(inferred.ok()) << inferred.status().message();
  const std::vector<HostTensor> expected = c.reference(CloneAll(inputs), inferred.value().attrs);
  if (SchemaOf(c).mutated_inputs.empty()) {
    ASSERT_EQ(inferred.value().outputs.size(), expected.size());
    for (size_t o = 0; o < expected.size(); ++o) {
      EXPECT_EQ(inferred.value().outputs[o], expected[o].desc()) << "output " << o;
    }
  }
}

TEST_P(OpHarness, BadInputsGiveNamedErrors) {
  const OpTestCase& c = GetParam();
  for (const BadInput& bad : c.bad_inputs) {
    auto inferred = Reg().ops.Infer(c.op, bad.inputs, bad.attrs);
    ASSERT_FALSE(inferred.ok()) << "expected an error containing '" << bad.expected_message << "'";
    const std::string message = inferred.status().message();
    EXPECT_EQ(message.rfind("[" + c.op + "]", 0), 0u) << message;
    EXPECT_NE(message.find(bad.expected_message), std::string::npos)
        << "message '" << message << "' lacks '" << bad.expected_message << "'";
  }
}

TEST_P(OpHarness, KernelRejectsBadValues) {
  const OpTestCase& c = GetParam();
  for (const BadValues& bad : c.bad_values) {
    auto outputs = Executor().Run(c.op, GenerateInputs(c.name + "/bad", bad.inputs), bad.attrs);
    ASSERT_FALSE(outputs.ok()) << "expected a kernel error containing '" << bad.expected_message << "'";
    const std::string message = outputs.status().message();
    EXPECT_EQ(message.rfind("[" + c.op + "]", 0), 0u) << message;
    EXPECT_NE(message.find(bad.expected_message), std::string::npos)
        << "message '" << message << "' lacks '" << bad.expected_message << "'";
  }
}

TEST_P(OpHarness, KernelMatchesReference) {
  const OpTestCase& c = GetParam();
  std::vector<HostTensor> inputs = GenerateInputs(c);
  auto inferred = Reg().ops.Infer(c.op, DescsOf(inputs), c.attrs);
  ASSERT_TRUE(inferred.ok()) << inferred.status().message();
  const std::vector<HostTensor> expected = c.reference(CloneAll(inputs), inferred.value().attrs);
  auto outputs = Executor().Run(c.op, inputs, c.attrs);
  ASSERT_TRUE(outputs.ok()) << outputs.status().message();
  // Ops that update inputs in place are compared on those inputs.
  std::vector<HostTensor> actual = outputs.value();
  for (int m : SchemaOf(c).mutated_inputs) actual.push_back(inputs[m]);
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t o = 0; o < expected.size(); ++o) {
    if (!c.compared_outputs.empty() &&
        std::find(c.compared_outputs.begin(), c.compared_outputs.end(), o) == c.compared_outputs.end()) {
      continue;
    }
    ExpectClose(actual[o], expected[o], c.rtol, c.atol, c.name + " output " + std::to_string(o));
  }
}

// L(inputs) = sum over gradient-carrying outputs of <weight, output>.
double WeightedLoss(const OpTestCase& c, const std::vector<HostTensor>& inputs,
                    const std::vector<HostTensor>& weights) {
  auto outputs = Executor().Run(c.op, CloneAll(inputs), c.attrs);
  if (!outputs.ok()) throw Error(outputs.status().message());
  double loss = 0.0;
  for (size_t o = 0; o < weights.size(); ++o) {
    for (int64_t i = 0; i < weights[o].NumElements(); ++i) {
      loss += weights[o].GetAsDouble(i) * outputs.value()[o].GetAsDouble(i);
    }
  }
  return loss;
}

TEST_P(OpHarness, GradientMatchesFiniteDifferences) {
  const OpTestCase& c = GetParam();
  if (!c.check_grad) GTEST_SKIP() << "case declares no gradient check";
  const OpSchema& schema = SchemaOf(c);
  ASSERT_TRUE(schema.grad != nullptr) << c.op << " has no gradient rule but its case asks for a check";
  std::vector<HostTensor> inputs = GenerateInputs(c);
  for (HostTensor& input : inputs) {
    if (IsFloatingPoint(input.dtype())) input = CastTensor(input, DType::kF64);
  }
  auto forward = Executor().Run(c.op, CloneAll(inputs), c.attrs);
  ASSERT_TRUE(forward.ok()) << "f64 forward: " << forward.status().message();
  auto inferred = Reg().ops.Infer(c.op, DescsOf(inputs), c.attrs);
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

  EagerEmitter emitter(Executor());
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
      const double numeric = (WeightedLoss(c, plus, weights) - WeightedLoss(c, minus, weights)) / (2 * eps);
      const double value = analytic.GetAsDouble(j);
      EXPECT_LE(std::abs(value - numeric), c.grad_atol + c.grad_rtol * std::abs(numeric))
          << c.name << ": d/d input " << i << " element " << j << ": rule gives " << value
          << ", finite differences " << numeric;
    }
  }
}

TEST_P(OpHarness, SbpSignaturesAreConsistent) {
  const OpTestCase& c = GetParam();
  if (!c.check_sbp) GTEST_SKIP() << "case declares no SBP check";
  const OpSchema& schema = SchemaOf(c);
  const std::vector<HostTensor> inputs = GenerateInputs(c);
  auto inferred = Reg().ops.Infer(c.op, DescsOf(inputs), c.attrs);
  ASSERT_TRUE(inferred.ok()) << inferred.status().message();
  const AttrMap& attrs = inferred.value().attrs;
  std::vector<HostTensor> whole_inputs = CloneAll(inputs);
  auto whole_outputs = Executor().Run(c.op, whole_inputs, attrs);
  ASSERT_TRUE(whole_outputs.ok()) << whole_outputs.status().message();
  std::vector<HostTensor> expected = whole_outputs.value();
  for (int m : schema.mutated_inputs) expected.push_back(whole_inputs[m]);

  // Some ops (reshape) list more signatures once the piece count is known:
  // each count runs exactly the list that count gets.
  for (int n : {2, 3, 4}) {
    auto signatures = Reg().ops.Signatures(c.op, DescsOf(inputs), attrs, n);
    ASSERT_TRUE(signatures.ok()) << signatures.status().message();
    ASSERT_FALSE(signatures.value().empty()) << c.op << " lists no SBP signature for " << n << " pieces";
    for (const SbpSignature& signature : signatures.value()) {
      EXPECT_FALSE(signature.note.empty())
          << c.op << " signature " << signature.ToString() << " is undocumented";
      const std::string what = c.name + " " + signature.ToString() + " on " + std::to_string(n) + " devices";
      auto assembled =
          RunUnderSignature(Executor(), c.op, attrs, CloneAll(inputs), signature, n, SeedOf(what));
      ASSERT_TRUE(assembled.ok()) << what << ": " << assembled.status().message();
      ASSERT_EQ(assembled.value().size(), expected.size()) << what;
      for (size_t o = 0; o < expected.size(); ++o) {
        ExpectClose(assembled.value()[o], expected[o], c.rtol, c.atol, what + " output " + std::to_string(o));
      }
    }
  }
  // The count-free list (what a caller with no count gets) must be
  // valid for every count: it is a subset of each count's list.
  auto any_count = Reg().ops.Signatures(c.op, DescsOf(inputs), attrs);
  ASSERT_TRUE(any_count.ok()) << any_count.status().message();
  ASSERT_FALSE(any_count.value().empty()) << c.op << " lists no SBP signature";
  for (int n : {2, 3, 4}) {
    auto signatures = Reg().ops.Signatures(c.op, DescsOf(inputs), attrs, n);
    ASSERT_TRUE(signatures.ok());
    for (const SbpSignature& signature : any_count.value()) {
      const bool listed = std::any_of(signatures.value().begin(), signatures.value().end(),
                                      [&](const SbpSignature& s) { return s.SameLayout(signature); });
      EXPECT_TRUE(listed) << c.name << ": " << signature.ToString()
                          << " is listed for any count but not for " << n << " pieces";
    }
  }
}

std::string CaseName(const ::testing::TestParamInfo<OpTestCase>& info) {
  std::string name = info.param.name;
  for (char& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(AllOps, OpHarness, ::testing::ValuesIn(AllOpTestCases()), CaseName);

// Adding an op must add a case: every registered op has one, every
// differentiable op has a gradient-checked one, and every op has a bad input.
TEST(OpHarnessCoverage, EveryOpHasCases) {
  std::map<std::string, std::vector<const OpTestCase*>> by_op;
  const std::vector<OpTestCase> cases = AllOpTestCases();
  std::set<std::string> names;
  for (const OpTestCase& c : cases) {
    EXPECT_TRUE(names.insert(c.name).second) << "duplicate case name " << c.name;
    EXPECT_NE(Reg().ops.Find(c.op), nullptr) << "case " << c.name << " names unknown op " << c.op;
    by_op[c.op].push_back(&c);
  }
  for (const std::string& op : Reg().ops.Names()) {
    auto it = by_op.find(op);
    if (it == by_op.end()) {
      ADD_FAILURE() << "op " << op << " has no test case";
      continue;
    }
    const bool has_grad = Reg().ops.Find(op)->grad != nullptr;
    bool grad_checked = false, has_bad = false;
    for (const OpTestCase* c : it->second) {
      grad_checked |= c->check_grad;
      has_bad |= !c->bad_inputs.empty();
    }
    EXPECT_TRUE(grad_checked || !has_grad) << "op " << op << " has a gradient rule but no gradient-checked case";
    EXPECT_TRUE(has_bad) << "op " << op << " has no bad-input case";
    EXPECT_FALSE(Reg().kernels.DTypesFor(op, DeviceType::kCPU).empty()) << "op " << op << " has no CPU kernel";
    // `ofl ops` prints the signatures of each op's example: it must infer.
    const OpSchema& schema = *Reg().ops.Find(op);
    auto example = Reg().ops.Infer(op, schema.example.inputs, schema.example.attrs);
    EXPECT_TRUE(example.ok()) << "op " << op << ": example does not infer: " << example.status().message();
    EXPECT_FALSE(schema.doc.empty()) << "op " << op << " has no doc";
  }
}

}  // namespace
}  // namespace ofl::testing

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
#include "tests/testing/op_checks.h"
#include "tests/testing/op_test_case.h"

namespace ofl::testing {
namespace {

const Registries& Reg() { return DefaultRegistries(); }
const EagerExecutor& Executor() {
  static const EagerExecutor executor(Reg().ops, Reg().kernels);
  return executor;
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

TEST_P(OpHarness, GradientMatchesFiniteDifferences) {
  const OpTestCase& c = GetParam();
  if (!c.check_grad) GTEST_SKIP() << "case declares no gradient check";
  CheckGradientAgainstFiniteDifferences(c, SchemaOf(c), Executor());
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

std::string CaseName(const ::testing::TestParamInfo<OpTestCase>& info) { return GtestName(info.param.name); }

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

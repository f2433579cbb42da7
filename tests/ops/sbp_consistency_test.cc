// The SBP consistency runner must be able to fail: a signature that claims
// a nonlinear op is linear in a Partial input, or a split the op cannot
// honour, must give a result different from the unsliced run.
#include <gtest/gtest.h>

#include "ops/registry.h"
#include "ops/sbp_consistency.h"

namespace ofl {
namespace {

HostTensor Ramp(const Shape& shape) {
  HostTensor x(TensorDesc{shape, DType::kF32});
  for (int64_t i = 0; i < x.NumElements(); ++i) x.SetFromDouble(i, -1.0 + 0.37 * static_cast<double>(i % 7));
  return x;
}

double WorstAgainstWhole(const std::string& op, const std::vector<HostTensor>& inputs, const AttrMap& attrs,
                         const SbpSignature& signature, int devices) {
  const Registries& registries = DefaultRegistries();
  const EagerExecutor executor(registries.ops, registries.kernels);
  const auto whole = executor.Run(op, inputs, attrs);
  EXPECT_TRUE(whole.ok()) << whole.status().message();
  const auto assembled = RunUnderSignature(executor, op, attrs, inputs, signature, devices, 42);
  EXPECT_TRUE(assembled.ok()) << assembled.status().message();
  return WorstToleranceRatio(assembled.value()[0], whole.value()[0], 1e-5, 1e-6);
}

TEST(SbpConsistency, LinearOpPassesPartial) {
  const SbpSignature partial = SignatureBuilder(1, 1).AllInputs(Sbp::PartialSum()).AllOutputs(Sbp::PartialSum()).Build();
  for (int devices : {2, 3, 4}) EXPECT_LE(WorstAgainstWhole("neg", {Ramp(Shape{6, 5})}, {}, partial, devices), 1.0);
}

TEST(SbpConsistency, NonlinearOpFailsAWrongPartialClaim) {
  const SbpSignature wrong = SignatureBuilder(1, 1).AllInputs(Sbp::PartialSum()).AllOutputs(Sbp::PartialSum()).Build();
  for (int devices : {2, 3, 4}) EXPECT_GT(WorstAgainstWhole("relu", {Ramp(Shape{6, 5})}, {}, wrong, devices), 1.0);
  EXPECT_GT(WorstAgainstWhole("exp", {Ramp(Shape{6, 5})}, {}, wrong, 2), 1.0);
}

TEST(SbpConsistency, WrongSplitIsCaught) {
  // softmax over the last axis cannot be split along that axis.
  const SbpSignature wrong = SignatureBuilder(1, 1).AllInputs(Sbp::Split(1)).AllOutputs(Sbp::Split(1)).Build();
  EXPECT_GT(WorstAgainstWhole("softmax", {Ramp(Shape{4, 6})}, {{"axis", int64_t{-1}}}, wrong, 2), 1.0);
  const SbpSignature right = SignatureBuilder(1, 1).AllInputs(Sbp::Split(0)).AllOutputs(Sbp::Split(0)).Build();
  EXPECT_LE(WorstAgainstWhole("softmax", {Ramp(Shape{4, 6})}, {{"axis", int64_t{-1}}}, right, 3), 1.0);
}

TEST(SbpConsistency, BroadcastCopiesMustAgree) {
  std::vector<HostTensor> pieces = {Ramp(Shape{3}), Ramp(Shape{3})};
  EXPECT_TRUE(AssemblePieces(pieces, Sbp::Broadcast(), pieces[0].desc()).ok());
  pieces[1] = pieces[1].Clone();
  pieces[1].SetFromDouble(2, 9.0);
  auto differing = AssemblePieces(pieces, Sbp::Broadcast(), pieces[0].desc());
  ASSERT_FALSE(differing.ok());
  EXPECT_NE(differing.status().message().find("on device 1"), std::string::npos);
}

}  // namespace
}  // namespace ofl

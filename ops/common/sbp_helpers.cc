#include "ops/common/sbp_helpers.h"

namespace ofl {

std::vector<SbpSignature> ElementwiseSignatures(const OpView& op, const Shape& out_shape, int num_outputs,
                                                PartialRule rule) {
  const int num_inputs = op.num_inputs();
  std::vector<SbpSignature> list;
  AddUnique(list, SignatureBuilder(num_inputs, num_outputs)
                      .Note("B: cpu:0 and cpu:1 both hold every operand whole and compute the whole output")
                      .Build());
  for (int k = 0; k < out_shape.rank(); ++k) {
    SignatureBuilder builder(num_inputs, num_outputs);
    for (int i = 0; i < num_inputs; ++i) {
      const Shape& shape = op.in(i).shape;
      const int aligned = k - (out_shape.rank() - shape.rank());
      if (aligned >= 0 && shape[aligned] == out_shape[k]) builder.Input(i, Sbp::Split(aligned));
    }
    builder.AllOutputs(Sbp::Split(k));
    builder.Note("S(" + std::to_string(k) + "): cpu:0 holds the first half of axis " + std::to_string(k) +
                 " of the output and of every operand that spans it (operands broadcast along it are B), "
                 "cpu:1 the second half; each computes its half");
    AddUnique(list, builder.Build());
  }
  const std::string partial_note =
      "P: the logical operand is x0 + x1 with x0 on cpu:0 and x1 on cpu:1; the op is linear in it, so "
      "f(x0) + f(x1) == f(x0 + x1) and the output is P as well";
  switch (rule) {
    case PartialRule::kNone: break;
    case PartialRule::kAllPartial:
      AddUnique(list, SignatureBuilder(num_inputs, num_outputs)
                          .AllInputs(Sbp::PartialSum())
                          .AllOutputs(Sbp::PartialSum())
                          .Note(partial_note)
                          .Build());
      break;
    case PartialRule::kFirstPartial:
      AddUnique(list, SignatureBuilder(num_inputs, num_outputs)
                          .Input(0, Sbp::PartialSum())
                          .AllOutputs(Sbp::PartialSum())
                          .Note(partial_note + " (other operands B)")
                          .Build());
      break;
    case PartialRule::kEitherPartial:
      for (int i = 0; i < num_inputs; ++i) {
        AddUnique(list, SignatureBuilder(num_inputs, num_outputs)
                            .Input(i, Sbp::PartialSum())
                            .AllOutputs(Sbp::PartialSum())
                            .Note(partial_note + " (other operands B)")
                            .Build());
      }
      break;
  }
  return list;
}

std::vector<SbpSignature> BroadcastOnlySignatures(int num_inputs, int num_outputs) {
  return {SignatureBuilder(num_inputs, num_outputs)
              .Note("B: both devices hold the inputs whole and compute the same output")
              .Build()};
}

}  // namespace ofl

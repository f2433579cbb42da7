// Signature lists shared by families of ops.
#pragma once

#include <string>
#include <vector>

#include "ops/op_schema.h"

namespace ofl {

/// Which inputs may be Partial-sum while the output stays Partial-sum.
enum class PartialRule {
  kNone,           ///< nonlinear: no Partial signature
  kAllPartial,     ///< linear in every input jointly: P, P -> P (add, sub, add_n, neg)
  kFirstPartial,   ///< linear in input 0 only: P, B -> P (div, scale)
  kEitherPartial,  ///< linear in each input separately: P, B -> P and B, P -> P (mul)
};

/// Signatures of an element-wise op whose inputs broadcast (numpy rules) to
/// `out_shape` and whose outputs all have `out_shape`:
///   - all B -> B;
///   - for each output axis k: inputs that have axis k with extent > 1 are
///     S(aligned axis), inputs that broadcast along k are B, outputs S(k);
///   - the Partial signatures allowed by `rule`.
std::vector<SbpSignature> ElementwiseSignatures(const OpView& op, const Shape& out_shape, int num_outputs,
                                                PartialRule rule);

/// Only the all-Broadcast signature.
std::vector<SbpSignature> BroadcastOnlySignatures(int num_inputs, int num_outputs);

}  // namespace ofl

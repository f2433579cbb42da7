// SBP signatures: a legal combination of input and output SBPs for one op
// along one mesh dimension, and the builder ops use to list them.
//
// Ops list 1-D signatures; on an N-D mesh each mesh dimension independently
// picks one of them (ExpandToNd), which is how OneFlow builds N-D signatures
// dimension by dimension.
#pragma once

#include <string>
#include <vector>

#include "sbp/sbp.h"

namespace ofl {

/// One Sbp per input and per output (by position), plus a worked
/// two-device example that documents why it is correct.
struct SbpSignature {
  std::vector<Sbp> inputs;
  std::vector<Sbp> outputs;
  std::string note;

  /// "S(0), B -> S(0)".
  std::string ToString() const;
  bool SameLayout(const SbpSignature& other) const {
    return inputs == other.inputs && outputs == other.outputs;
  }
};

/// One 1-D signature per mesh dimension.
struct NdSbpSignature {
  std::vector<NdSbp> inputs;
  std::vector<NdSbp> outputs;
  std::string ToString() const;
};

/// Builds a signature; entries not set are Broadcast.
///   SignatureBuilder(2, 1).Input(0, Sbp::Split(0)).Output(0, Sbp::Split(0))
///       .Note("cpu:0 holds rows 0-1 of a, cpu:1 rows 2-3; ...").Build();
class SignatureBuilder {
 public:
  SignatureBuilder(int num_inputs, int num_outputs);
  SignatureBuilder& Input(int index, Sbp sbp);
  SignatureBuilder& Output(int index, Sbp sbp);
  SignatureBuilder& AllInputs(Sbp sbp);
  SignatureBuilder& AllOutputs(Sbp sbp);
  SignatureBuilder& Note(std::string note);
  SbpSignature Build() const { return signature_; }

 private:
  SbpSignature signature_;
};

/// Appends `signature` unless one with the same layout is present.
void AddUnique(std::vector<SbpSignature>& list, SbpSignature signature);

/// Every combination of one 1-D signature per mesh dimension.
std::vector<NdSbpSignature> ExpandToNd(const std::vector<SbpSignature>& one_d, int mesh_rank);

/// Every combination of one signature of per_axis[d] on mesh dimension d
/// (lists may differ when an op's list depends on the piece count, i.e. on
/// the mesh extent); the last dimension varies fastest. Empty when any list
/// is; all signatures must have the same numbers of inputs and outputs.
std::vector<NdSbpSignature> ExpandToNd(const std::vector<std::vector<SbpSignature>>& per_axis);

/// Mesh dimension `mesh_axis` of `signature` as a 1-D signature (no note).
SbpSignature SignatureOnMeshAxis(const NdSbpSignature& signature, int mesh_axis);

}  // namespace ofl

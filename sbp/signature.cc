#include "sbp/signature.h"

namespace ofl {

namespace {

std::string JoinSbps(const std::vector<Sbp>& sbps) {
  std::string text;
  for (size_t i = 0; i < sbps.size(); ++i) text += (i ? ", " : "") + sbps[i].ToString();
  return text;
}

std::string JoinNdSbps(const std::vector<NdSbp>& sbps) {
  std::string text;
  for (size_t i = 0; i < sbps.size(); ++i) text += (i ? ", " : "") + NdSbpToString(sbps[i]);
  return text;
}

}  // namespace

std::string SbpSignature::ToString() const { return JoinSbps(inputs) + " -> " + JoinSbps(outputs); }

std::string NdSbpSignature::ToString() const {
  return JoinNdSbps(inputs) + " -> " + JoinNdSbps(outputs);
}

SignatureBuilder::SignatureBuilder(int num_inputs, int num_outputs) {
  signature_.inputs.assign(num_inputs, Sbp::Broadcast());
  signature_.outputs.assign(num_outputs, Sbp::Broadcast());
}

SignatureBuilder& SignatureBuilder::Input(int index, Sbp sbp) {
  signature_.inputs.at(index) = sbp;
  return *this;
}

SignatureBuilder& SignatureBuilder::Output(int index, Sbp sbp) {
  signature_.outputs.at(index) = sbp;
  return *this;
}

SignatureBuilder& SignatureBuilder::AllInputs(Sbp sbp) {
  for (Sbp& entry : signature_.inputs) entry = sbp;
  return *this;
}

SignatureBuilder& SignatureBuilder::AllOutputs(Sbp sbp) {
  for (Sbp& entry : signature_.outputs) entry = sbp;
  return *this;
}

SignatureBuilder& SignatureBuilder::Note(std::string note) {
  signature_.note = std::move(note);
  return *this;
}

void AddUnique(std::vector<SbpSignature>& list, SbpSignature signature) {
  for (const SbpSignature& existing : list) {
    if (existing.SameLayout(signature)) return;
  }
  list.push_back(std::move(signature));
}

std::vector<NdSbpSignature> ExpandToNd(const std::vector<SbpSignature>& one_d, int mesh_rank) {
  std::vector<NdSbpSignature> result;
  if (one_d.empty() || mesh_rank < 1) return result;
  std::vector<size_t> choice(mesh_rank, 0);
  while (true) {
    NdSbpSignature nd;
    nd.inputs.assign(one_d[0].inputs.size(), NdSbp(mesh_rank));
    nd.outputs.assign(one_d[0].outputs.size(), NdSbp(mesh_rank));
    for (int dim = 0; dim < mesh_rank; ++dim) {
      const SbpSignature& s = one_d[choice[dim]];
      for (size_t i = 0; i < s.inputs.size(); ++i) nd.inputs[i][dim] = s.inputs[i];
      for (size_t i = 0; i < s.outputs.size(); ++i) nd.outputs[i][dim] = s.outputs[i];
    }
    result.push_back(std::move(nd));
    int dim = mesh_rank - 1;
    while (dim >= 0 && ++choice[dim] == one_d.size()) choice[dim--] = 0;
    if (dim < 0) break;
  }
  return result;
}

}  // namespace ofl

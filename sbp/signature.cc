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
  if (mesh_rank < 1) return {};
  return ExpandToNd(std::vector<std::vector<SbpSignature>>(mesh_rank, one_d));
}

std::vector<NdSbpSignature> ExpandToNd(const std::vector<std::vector<SbpSignature>>& per_axis) {
  std::vector<NdSbpSignature> result;
  const int mesh_rank = static_cast<int>(per_axis.size());
  if (mesh_rank < 1) return result;
  for (const std::vector<SbpSignature>& list : per_axis) {
    if (list.empty()) return result;
  }
  std::vector<size_t> choice(mesh_rank, 0);
  while (true) {
    NdSbpSignature nd;
    nd.inputs.assign(per_axis[0][0].inputs.size(), NdSbp(mesh_rank));
    nd.outputs.assign(per_axis[0][0].outputs.size(), NdSbp(mesh_rank));
    for (int dim = 0; dim < mesh_rank; ++dim) {
      const SbpSignature& s = per_axis[dim][choice[dim]];
      for (size_t i = 0; i < s.inputs.size() && i < nd.inputs.size(); ++i) nd.inputs[i][dim] = s.inputs[i];
      for (size_t o = 0; o < s.outputs.size() && o < nd.outputs.size(); ++o) {
        nd.outputs[o][dim] = s.outputs[o];
      }
    }
    result.push_back(std::move(nd));
    int dim = mesh_rank - 1;
    while (dim >= 0 && ++choice[dim] == per_axis[dim].size()) choice[dim--] = 0;
    if (dim < 0) break;
  }
  return result;
}

SbpSignature SignatureOnMeshAxis(const NdSbpSignature& signature, int mesh_axis) {
  SbpSignature one_d;
  for (const NdSbp& sbp : signature.inputs) one_d.inputs.push_back(sbp.at(mesh_axis));
  for (const NdSbp& sbp : signature.outputs) one_d.outputs.push_back(sbp.at(mesh_axis));
  return one_d;
}

}  // namespace ofl

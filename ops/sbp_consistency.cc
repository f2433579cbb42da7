#include "ops/sbp_consistency.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "oneflow_like/region.h"
#include "sbp/slicing.h"

namespace ofl {

std::vector<HostTensor> SliceForDevices(const HostTensor& whole, const Sbp& sbp, int devices, uint64_t seed) {
  std::vector<HostTensor> pieces;
  const Placement placement = Placement::Linear(DeviceType::kCPU, devices);
  for (int d = 0; d < devices; ++d) {
    if (sbp.IsSplit()) {
      const Region region = PhysicalRegion(whole.shape(), {sbp}, placement, d);
      HostTensor piece(TensorDesc{region.Extent(), whole.dtype()});
      CopyRegion(whole.AsBlob(), Region::Whole(whole.shape()), piece.AsBlob(), region, region);
      pieces.push_back(piece);
    } else {
      pieces.push_back(whole.Clone());
    }
  }
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  if (sbp.kind == Sbp::Kind::kPartialSum) {
    // Piece d holds w_d * x with per-element random weights of mixed sign
    // that sum to 1: a nonlinear op fails, while the pieces stay on the
    // scale of x, so f32 rounding in a linear op stays on the scale of the
    // unsliced run's own rounding.
    for (int64_t i = 0; i < whole.NumElements(); ++i) {
      const double value = whole.GetAsDouble(i);
      double rest = value;
      for (int d = 1; d < devices; ++d) {
        pieces[d].SetFromDouble(i, uniform(rng) * value);
        rest -= pieces[d].GetAsDouble(i);
      }
      pieces[0].SetFromDouble(i, rest);
    }
  } else if (sbp.kind == Sbp::Kind::kPartialMax) {
    for (int d = 1; d < devices; ++d) {
      for (int64_t i = 0; i < whole.NumElements(); ++i) {
        pieces[d].SetFromDouble(i, whole.GetAsDouble(i) - std::abs(uniform(rng)) - 0.01);
      }
    }
  }
  return pieces;
}

StatusOr<HostTensor> AssemblePieces(const std::vector<HostTensor>& pieces, const Sbp& sbp, const TensorDesc& logical) {
  HostTensor whole(logical);
  const int devices = static_cast<int>(pieces.size());
  const Placement placement = Placement::Linear(DeviceType::kCPU, devices);
  for (int d = 0; d < devices; ++d) {
    if (sbp.IsSplit()) {
      const Region region = PhysicalRegion(logical.shape, {sbp}, placement, d);
      CopyRegion(pieces[d].AsBlob(), region, whole.AsBlob(), Region::Whole(logical.shape), region);
    } else if (sbp.kind == Sbp::Kind::kPartialSum) {
      for (int64_t i = 0; i < whole.NumElements(); ++i) {
        whole.SetFromDouble(i, whole.GetAsDouble(i) + pieces[d].GetAsDouble(i));
      }
    } else if (sbp.kind == Sbp::Kind::kPartialMax) {
      for (int64_t i = 0; i < whole.NumElements(); ++i) {
        const double value = pieces[d].GetAsDouble(i);
        whole.SetFromDouble(i, d == 0 ? value : std::max(whole.GetAsDouble(i), value));
      }
    } else if (d == 0) {
      whole = pieces[0].Clone();
    } else {
      OFL_CHECK_OR_RETURN(std::memcmp(pieces[d].raw(), pieces[0].raw(), pieces[0].ByteSize()) == 0)
          << "[sbp_consistency] broadcast output: expected identical copies on every device, got a different one "
             "on device "
          << d;
    }
  }
  return whole;
}

StatusOr<std::vector<HostTensor>> RunUnderSignature(const EagerExecutor& executor, const std::string& op,
                                                    const AttrMap& attrs, const std::vector<HostTensor>& inputs,
                                                    const SbpSignature& signature, int devices, uint64_t seed) {
  OFL_ASSIGN_OR_RETURN(const OpSchema* schema, executor.ops().Get(op));
  std::vector<TensorDesc> input_descs;
  for (const HostTensor& input : inputs) input_descs.push_back(input.desc());
  OFL_ASSIGN_OR_RETURN(InferredOp inferred, executor.ops().Infer(op, input_descs, attrs));
  const std::vector<TensorDesc>& outputs = inferred.outputs;
  OFL_CHECK_OR_RETURN(signature.inputs.size() == inputs.size() && signature.outputs.size() == outputs.size())
      << "[" << op << "] signature " << signature.ToString() << ": expected " << inputs.size() << " inputs and "
      << outputs.size() << " outputs";
  const Placement placement = Placement::Linear(DeviceType::kCPU, devices);

  std::vector<std::vector<HostTensor>> input_pieces;  // [input][device]
  for (size_t i = 0; i < inputs.size(); ++i) {
    input_pieces.push_back(SliceForDevices(inputs[i], signature.inputs[i], devices, seed + 7919 * i));
  }
  const size_t num_results = outputs.size() + schema->mutated_inputs.size();
  std::vector<std::vector<HostTensor>> result_pieces(num_results);  // [result][device]
  for (int d = 0; d < devices; ++d) {
    std::vector<TensorArg> in_args, out_args;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const Region region = PhysicalRegion(inputs[i].shape(), {signature.inputs[i]}, placement, d);
      in_args.push_back(TensorArg{input_pieces[i][d].AsBlob(), inputs[i].shape(), region.begin});
    }
    for (size_t o = 0; o < outputs.size(); ++o) {
      const Region region = PhysicalRegion(outputs[o].shape, {signature.outputs[o]}, placement, d);
      HostTensor piece(TensorDesc{region.Extent(), outputs[o].dtype});
      out_args.push_back(TensorArg{piece.AsBlob(), outputs[o].shape, region.begin});
      result_pieces[o].push_back(piece);
    }
    const Status status = executor.RunKernel(op, attrs, std::move(in_args), std::move(out_args));
    if (!status.ok()) return status.WithContext("device " + std::to_string(d) + " of " + std::to_string(devices));
    for (size_t k = 0; k < schema->mutated_inputs.size(); ++k) {
      result_pieces[outputs.size() + k].push_back(input_pieces[schema->mutated_inputs[k]][d]);
    }
  }
  std::vector<HostTensor> results;
  for (size_t r = 0; r < num_results; ++r) {
    const bool is_output = r < outputs.size();
    const int mutated = is_output ? -1 : schema->mutated_inputs[r - outputs.size()];
    const Sbp& sbp = is_output ? signature.outputs[r] : signature.inputs[mutated];
    const TensorDesc& desc = is_output ? outputs[r] : inputs[mutated].desc();
    OFL_ASSIGN_OR_RETURN(HostTensor assembled, AssemblePieces(result_pieces[r], sbp, desc));
    results.push_back(assembled);
  }
  return results;
}

double WorstToleranceRatio(const HostTensor& actual, const HostTensor& expected, double rtol, double atol) {
  double worst = 0.0;
  for (int64_t i = 0; i < expected.NumElements(); ++i) {
    const double a = actual.GetAsDouble(i);
    const double e = expected.GetAsDouble(i);
    if ((std::isnan(a) && std::isnan(e)) || a == e) continue;  // equal infinities match
    const double ratio = std::abs(a - e) / (atol + rtol * std::abs(e));
    if (!(ratio <= worst)) worst = std::isnan(ratio) ? INFINITY : ratio;
  }
  return worst;
}

}  // namespace ofl

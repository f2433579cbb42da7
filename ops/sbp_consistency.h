// Runs one op the way n devices would under a 1-D SBP signature, on the
// host: slice the inputs, run the CPU kernel per piece, assemble the
// outputs. The op harness and `ofl selfcheck` compare the result with the
// unsliced run; that is how every signature of every op is verified.
#pragma once

#include <cstdint>
#include <vector>

#include "oneflow_like/host_tensor.h"
#include "ops/eager.h"
#include "sbp/signature.h"

namespace ofl {

/// Pieces of `whole` for `devices` devices under 1-D `sbp`. Split pieces
/// are slices; Broadcast pieces are copies; Partial pieces are a random
/// decomposition (from `seed`) whose sum, or max, is `whole`: per element,
/// sum pieces are w_d * x with mixed-sign weights summing to 1.
std::vector<HostTensor> SliceForDevices(const HostTensor& whole, const Sbp& sbp, int devices, uint64_t seed);

/// The logical tensor from per-device pieces under 1-D `sbp`: Split pieces
/// are placed, Partial pieces summed (or maxed), Broadcast pieces must be
/// bitwise identical (an error names the first device that differs).
StatusOr<HostTensor> AssemblePieces(const std::vector<HostTensor>& pieces, const Sbp& sbp, const TensorDesc& logical);

/// Runs `op` (with complete `attrs`, as returned by OpRegistry::Infer) on
/// `devices` pieces under `signature` and returns the assembled outputs,
/// followed by the assembled mutated inputs of in-place ops.
StatusOr<std::vector<HostTensor>> RunUnderSignature(const EagerExecutor& executor, const std::string& op,
                                                    const AttrMap& attrs, const std::vector<HostTensor>& inputs,
                                                    const SbpSignature& signature, int devices, uint64_t seed);

/// Largest |actual - expected| / (atol + rtol |expected|) over the elements;
/// <= 1 means every element is within tolerance. Shapes must match.
double WorstToleranceRatio(const HostTensor& actual, const HostTensor& expected, double rtol, double atol);

}  // namespace ofl

// The checks of the op harness that do not depend on the backend: input
// generation, tolerant comparison and the finite-difference gradient check.
// tests/ops/op_harness_test.cc runs them on the CPU, tests/cuda/
// cuda_op_harness_test.cc through a CUDA launcher.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ops/eager.h"
#include "tests/testing/op_test_case.h"

namespace ofl::testing {

/// A stable seed derived from a case or check name.
uint64_t SeedOf(const std::string& name);
/// The inputs of `specs`, drawn with the seed of `seed_name`.
std::vector<HostTensor> GenerateInputs(const std::string& seed_name, const std::vector<InputSpec>& specs);
std::vector<HostTensor> GenerateInputs(const OpTestCase& c);
/// A case name as a gtest parameter name (letters, digits and '_').
std::string GtestName(const std::string& case_name);
/// x converted element by element to `dtype`.
HostTensor CastTensor(const HostTensor& x, DType dtype);
std::vector<TensorDesc> DescsOf(const std::vector<HostTensor>& tensors);
std::vector<HostTensor> CloneAll(const std::vector<HostTensor>& tensors);
/// Adds a gtest failure for each of the first few elements outside
/// |actual - expected| <= atol + rtol |expected| (NaN matches NaN).
void ExpectClose(const HostTensor& actual, const HostTensor& expected, double rtol, double atol,
                 const std::string& what);
/// The case's gradient rule, run through `executor`, against central finite
/// differences of the executor's forward in f64. Adds gtest failures.
void CheckGradientAgainstFiniteDifferences(const OpTestCase& c, const OpSchema& schema,
                                           const EagerExecutor& executor);

}  // namespace ofl::testing

// One table of op test cases, in the spirit of ggml's test-backend-ops:
// adding an op adds a case here, not a test file. The harness
// (tests/ops/op_harness_test.cc) checks, for every case:
//   - inference (output descs) and the errors of the case's bad inputs;
//   - the CPU kernel against the case's plain reference (computed in double);
//   - the gradient rule against central finite differences in f64;
//   - SBP consistency: for every signature and 2, 3 and 4 pieces, slicing
//     the inputs, running the kernel per piece and assembling the outputs
//     equals the unsliced result.
#pragma once

#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "oneflow_like/attr.h"
#include "oneflow_like/host_tensor.h"

namespace ofl::testing {

/// How to make one input of a case.
struct InputSpec {
  TensorDesc desc;
  double low = -1.0;  ///< values drawn uniformly from [low, high)
  double high = 1.0;  ///< (integers: from [low, high) rounded down)
  /// Explicit values (overrides the range).
  std::optional<std::vector<double>> values;
  /// Include in the finite-difference check (float inputs only).
  bool differentiable = true;
};

/// Computes the expected outputs from the inputs (as generated, in the
/// case's dtypes) in plain, obviously-correct code.
using ReferenceFn = std::function<std::vector<HostTensor>(const std::vector<HostTensor>&, const AttrMap&)>;

/// Inputs an op must reject, and a piece of the message it must give.
struct BadInput {
  std::vector<TensorDesc> inputs;
  AttrMap attrs;
  std::string expected_message;  ///< substring; "[op]" is checked separately
};

/// Inputs whose shapes are fine but whose values the kernel must reject (a
/// label or index out of range, an optimizer step of 0), and a piece of
/// the message it must give.
struct BadValues {
  std::vector<InputSpec> inputs;
  AttrMap attrs;
  std::string expected_message;  ///< substring; "[op]" is checked separately
};

struct OpTestCase {
  std::string name;  ///< unique: "<op>" or "<op>/<variant>"
  std::string op;
  std::vector<InputSpec> inputs;
  AttrMap attrs;
  ReferenceFn reference;
  double rtol = 1e-5;  ///< forward and SBP tolerance (f32)
  double atol = 1e-6;
  bool check_grad = true;
  double grad_rtol = 1e-5;
  double grad_atol = 1e-6;
  bool check_sbp = true;
  /// Outputs compared against the reference (empty: all).
  std::vector<int> compared_outputs;
  /// Outputs that carry a gradient in the finite-difference check (empty:
  /// all floating-point outputs); auxiliary outputs (saved statistics) get
  /// a zero gradient.
  std::vector<int> grad_outputs;
  std::vector<BadInput> bad_inputs;
  std::vector<BadValues> bad_values;
};

/// gtest prints a case by its name.
inline void PrintTo(const OpTestCase& c, std::ostream* os) { *os << c.name; }

/// Every case of every op family (tests/ops/*_cases.cc).
std::vector<OpTestCase> AllOpTestCases();

// Families, one function per file.
std::vector<OpTestCase> ElementwiseCases();
std::vector<OpTestCase> ReduceCases();
std::vector<OpTestCase> LayoutCases();
std::vector<OpTestCase> MatmulCases();
std::vector<OpTestCase> ConvCases();
std::vector<OpTestCase> SoftmaxCases();
std::vector<OpTestCase> NormCases();
std::vector<OpTestCase> LossCases();
std::vector<OpTestCase> EmbeddingCases();
std::vector<OpTestCase> RandomCases();
std::vector<OpTestCase> OptimizerCases();
std::vector<OpTestCase> ScheduleCases();
std::vector<OpTestCase> FusedCases();
std::vector<OpTestCase> PipelineCases();
std::vector<OpTestCase> AttentionCases();

// Helpers for writing references.
/// y[i] = f(x[i]) in double, dtype of x.
HostTensor MapUnary(const HostTensor& x, const std::function<double(double)>& f);
/// y = f(a, b) with numpy broadcasting, in double, dtype of a.
HostTensor MapBinary(const HostTensor& a, const HostTensor& b,
                     const std::function<double(double, double)>& f);
/// PyTorch's Adam/AdamW from the definition, in double: the updated param,
/// m and v from in = {param, grad, m, v, learning_rate, step} with the
/// gradient multiplied by `grad_scale` (adam_update: 1).
std::vector<HostTensor> AdamReference(const std::vector<HostTensor>& in, const AttrMap& attrs,
                                      double grad_scale);
/// Shorthand for a float tensor description.
inline TensorDesc F32(Shape shape) { return TensorDesc{std::move(shape), DType::kF32}; }
inline TensorDesc I64(Shape shape) { return TensorDesc{std::move(shape), DType::kI64}; }

}  // namespace ofl::testing

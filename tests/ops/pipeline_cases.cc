// Cases of the micro-batch family (ops/pipeline/pipeline.h). The harness
// runs every kernel as a lone act, i.e. micro-batch 0 of a step: unpack
// gives rows 0, M, 2M, ...; pack writes them and leaves zeros elsewhere; acc
// copies; repeat and delay copy. The micro-batch index itself is exercised
// by the runtime and pipeline tests, which run whole steps.
#include "tests/testing/op_test_case.h"

namespace ofl::testing {

namespace {

AttrMap Micro(int64_t micro_batches) { return {{"micro_batches", micro_batches}}; }

// Rows of axis 0 of `x` mapped by `row_of(output row)` (-1: zeros) into `shape`.
HostTensor GatherRows(const HostTensor& x, const Shape& shape,
                      const std::function<int64_t(int64_t)>& row_of) {
  HostTensor y(TensorDesc{shape, x.desc().dtype});
  const int64_t row_size = shape.rank() == 0 || shape[0] == 0 ? 0 : y.NumElements() / shape[0];
  for (int64_t row = 0; row < shape[0]; ++row) {
    const int64_t source = row_of(row);
    for (int64_t k = 0; k < row_size; ++k) {
      y.SetFromDouble(row * row_size + k, source < 0 ? 0.0 : x.GetAsDouble(source * row_size + k));
    }
  }
  return y;
}

OpTestCase Copy(const std::string& op, const std::string& variant, TensorDesc desc, AttrMap attrs) {
  OpTestCase c;
  c.name = variant.empty() ? op : op + "/" + variant;
  c.op = op;
  c.inputs = {InputSpec{std::move(desc)}};
  c.attrs = std::move(attrs);
  c.reference = [](const std::vector<HostTensor>& in, const AttrMap&) {
    return std::vector<HostTensor>{in[0]};
  };
  return c;
}

}  // namespace

std::vector<OpTestCase> PipelineCases() {
  std::vector<OpTestCase> cases;

  for (int64_t micro_batches : {1, 2, 4}) {
    OpTestCase unpack;
    unpack.name = "unpack/m" + std::to_string(micro_batches);
    unpack.op = "unpack";
    unpack.inputs = {InputSpec{F32({8, 3})}};
    unpack.attrs = Micro(micro_batches);
    unpack.reference = [micro_batches](const std::vector<HostTensor>& in, const AttrMap&) {
      return std::vector<HostTensor>{
          GatherRows(in[0], Shape{8 / micro_batches, 3}, [&](int64_t row) { return row * micro_batches; })};
    };
    if (micro_batches == 2) {
      unpack.bad_inputs = {
          {{F32({7, 3})}, Micro(2), "x: expected a batch axis (axis 0) divisible by micro_batches=2"},
          {{F32({})}, Micro(2), "x: expected rank >= 1"},
          {{F32({8})}, Micro(0), "attribute micro_batches: expected a value >= 1, got 0"}};
    }
    cases.push_back(unpack);

    OpTestCase pack;
    pack.name = "pack/m" + std::to_string(micro_batches);
    pack.op = "pack";
    pack.inputs = {InputSpec{F32({4, 3})}};
    pack.attrs = Micro(micro_batches);
    pack.reference = [micro_batches](const std::vector<HostTensor>& in, const AttrMap&) {
      return std::vector<HostTensor>{GatherRows(in[0], Shape{4 * micro_batches, 3}, [&](int64_t row) {
        return row % micro_batches == 0 ? row / micro_batches : -1;
      })};
    };
    if (micro_batches == 2) {
      pack.bad_inputs = {{{F32({})}, Micro(2), "x: expected rank >= 1"},
                         {{F32({4})}, Micro(-3), "attribute micro_batches: expected a value >= 1, got -3"}};
    }
    cases.push_back(pack);
  }

  OpTestCase repeat = Copy("repeat", "", F32({4, 3}), Micro(3));
  repeat.bad_inputs = {{{F32({2})}, Micro(0), "attribute micro_batches: expected a value >= 1, got 0"}};
  cases.push_back(repeat);
  cases.push_back(Copy("repeat", "i64", I64({5}), Micro(2)));
  cases.back().inputs[0].differentiable = false;
  cases.back().check_grad = false;

  OpTestCase acc = Copy("acc", "", F32({4, 3}), Micro(4));
  acc.bad_inputs = {
      {{TensorDesc{Shape{2}, DType::kBool}}, Micro(2), "expected a floating-point, i32 or i64"}};
  cases.push_back(acc);
  cases.push_back(Copy("acc", "f64", TensorDesc{Shape{3, 2}, DType::kF64}, Micro(2)));

  OpTestCase delay = Copy("delay", "", F32({4, 3}), {{"microseconds", int64_t{50}}});
  delay.bad_inputs = {
      {{F32({2})}, {{"microseconds", int64_t{-1}}}, "attribute microseconds: expected a value >= 0"}};
  cases.push_back(delay);
  cases.push_back(Copy("delay", "grad_time", F32({2, 2}),
                       {{"microseconds", int64_t{0}}, {"grad_microseconds", int64_t{20}}}));
  return cases;
}

}  // namespace ofl::testing

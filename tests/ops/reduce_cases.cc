// Cases of the reduce family: reduce_sum, reduce_mean, reduce_max and
// reduce_max_grad. References walk every input element with its
// multi-index, in double.
#include <algorithm>
#include <cmath>
#include <limits>

#include "tests/testing/op_test_case.h"

namespace ofl::testing {

namespace {

enum class Kind { kSum, kMean, kMax };

std::vector<int> NormalizedAxes(const std::vector<int64_t>& axes, int rank) {
  std::vector<int> result;
  for (int axis = 0; axis < rank; ++axis) {
    const bool listed = axes.empty() || std::any_of(axes.begin(), axes.end(),
                                                    [&](int64_t a) { return a == axis || a + rank == axis; });
    if (listed) result.push_back(axis);
  }
  return result;
}

bool Has(const std::vector<int>& axes, int axis) {
  return std::find(axes.begin(), axes.end(), axis) != axes.end();
}

Shape ReducedShape(const Shape& shape, const std::vector<int>& axes, bool keepdims) {
  std::vector<int64_t> dims;
  for (int axis = 0; axis < shape.rank(); ++axis) {
    if (!Has(axes, axis)) {
      dims.push_back(shape[axis]);
    } else if (keepdims) {
      dims.push_back(1);
    }
  }
  return Shape(dims);
}

// The flat index in the reduced tensor of input element `i`.
int64_t OutputIndex(int64_t i, const Shape& shape, const std::vector<int>& axes) {
  std::vector<int64_t> index(shape.rank());
  for (int axis = shape.rank() - 1; axis >= 0; --axis) {
    index[axis] = i % shape[axis];
    i /= shape[axis];
  }
  int64_t out = 0;
  for (int axis = 0; axis < shape.rank(); ++axis) {
    if (!Has(axes, axis)) out = out * shape[axis] + index[axis];
  }
  return out;
}

HostTensor ReduceReference(const HostTensor& x, const AttrMap& attrs, Kind kind) {
  const std::vector<int> axes = NormalizedAxes(attrs.GetInts("axes"), x.shape().rank());
  const Shape out_shape = ReducedShape(x.shape(), axes, attrs.GetBool("keepdims"));
  std::vector<double> acc(out_shape.NumElements(), kind == Kind::kMax ? -INFINITY : 0.0);
  std::vector<double> count(out_shape.NumElements(), 0.0);
  for (int64_t i = 0; i < x.NumElements(); ++i) {
    const int64_t o = OutputIndex(i, x.shape(), axes);
    acc[o] = kind == Kind::kMax ? std::max(acc[o], x.GetAsDouble(i)) : acc[o] + x.GetAsDouble(i);
    count[o] += 1;
  }
  HostTensor y(TensorDesc{out_shape, x.dtype()});
  for (int64_t o = 0; o < y.NumElements(); ++o)
    y.SetFromDouble(o, kind == Kind::kMean ? acc[o] / count[o] : acc[o]);
  return y;
}

const char* OpName(Kind kind) {
  return kind == Kind::kSum ? "reduce_sum" : kind == Kind::kMean ? "reduce_mean" : "reduce_max";
}

OpTestCase Reduce(Kind kind, const std::string& variant, TensorDesc x, std::vector<int64_t> axes,
                  bool keepdims) {
  OpTestCase c;
  c.op = OpName(kind);
  c.name = variant.empty() ? c.op : c.op + "/" + variant;
  c.inputs = {{x, -2.0, 2.0}};
  c.attrs = {{"axes", axes}, {"keepdims", keepdims}};
  c.reference = [kind](const std::vector<HostTensor>& in, const AttrMap& attrs) {
    return std::vector<HostTensor>{ReduceReference(in[0], attrs, kind)};
  };
  // Small shapes are gradient-checked; large ones exercise the blocked loops.
  c.check_grad = x.NumElements() <= 200 && IsFloatingPoint(x.dtype);
  c.bad_inputs = {
      {{F32({3, 4})}, {{"axes", std::vector<int64_t>{2}}}, "attribute axes: expected an axis in [-2, 1]"},
      {{F32({3, 4})}, {{"axes", std::vector<int64_t>{1, -1}}}, "expected distinct axes"},
      {{TensorDesc{Shape{3}, DType::kBool}}, {}, "x: expected"},
      {{F32({3})}, {{"keepdims", int64_t{1}}}, "attribute keepdims: expected bool, got int"}};
  return c;
}

// reduce_max_grad with explicit x and y = max(x) that contain ties.
OpTestCase MaxGrad(const std::string& variant, Shape x_shape, std::vector<double> x_values,
                   std::vector<int64_t> axes, bool keepdims) {
  AttrMap attrs{{"axes", axes}, {"keepdims", keepdims}};
  HostTensor x(F32(x_shape));
  for (int64_t i = 0; i < x.NumElements(); ++i) x.SetFromDouble(i, x_values[i]);
  const HostTensor y = ReduceReference(x, attrs, Kind::kMax);
  OpTestCase c;
  c.op = "reduce_max_grad";
  c.name = variant.empty() ? c.op : c.op + "/" + variant;
  InputSpec y_spec{y.desc()};
  y_spec.values = y.ToDoubles();
  InputSpec x_spec{x.desc()};
  x_spec.values = x_values;
  c.inputs = {x_spec, y_spec, {y.desc()}};
  c.attrs = attrs;
  c.reference = [](const std::vector<HostTensor>& in, const AttrMap& attrs) {
    const std::vector<int> axes = NormalizedAxes(attrs.GetInts("axes"), in[0].shape().rank());
    std::vector<double> ties(in[1].NumElements(), 0.0);
    for (int64_t i = 0; i < in[0].NumElements(); ++i) {
      const int64_t o = OutputIndex(i, in[0].shape(), axes);
      ties[o] += in[0].GetAsDouble(i) == in[1].GetAsDouble(o);
    }
    HostTensor dx(in[0].desc());
    for (int64_t i = 0; i < in[0].NumElements(); ++i) {
      const int64_t o = OutputIndex(i, in[0].shape(), axes);
      dx.SetFromDouble(i,
                       in[0].GetAsDouble(i) == in[1].GetAsDouble(o) ? in[2].GetAsDouble(o) / ties[o] : 0.0);
    }
    return std::vector<HostTensor>{dx};
  };
  c.check_grad = false;  // a backward op without a gradient rule
  c.bad_inputs = {
      {{F32({3, 4}), F32({4}), F32({4})}, {{"axes", std::vector<int64_t>{1}}}, "y: expected shape [3]"},
      {{F32({3, 4}), F32({3}), F32({2})}, {{"axes", std::vector<int64_t>{1}}}, "dy: expected shape [3]"},
      {{F32({3, 4}), F32({3}), TensorDesc{Shape{3}, DType::kF64}},
       {{"axes", std::vector<int64_t>{1}}},
       "dy: expected dtype f32"}};
  return c;
}

}  // namespace

std::vector<OpTestCase> ReduceCases() {
  std::vector<OpTestCase> cases;
  const TensorDesc f16{Shape{6, 20}, DType::kF16};
  const TensorDesc bf16{Shape{6, 20}, DType::kBF16};
  for (Kind kind : {Kind::kSum, Kind::kMean, Kind::kMax}) {
    cases.push_back(Reduce(kind, "", F32({3, 4, 5}), {1}, false));
    cases.push_back(Reduce(kind, "last_keepdims", F32({4, 6}), {-1}, true));
    cases.push_back(Reduce(kind, "leading", F32({6, 4}), {0}, false));
    cases.push_back(Reduce(kind, "all", F32({3, 4}), {}, false));
    cases.push_back(Reduce(kind, "two_runs_keepdims", F32({2, 3, 4, 5}), {0, 2}, true));
    cases.push_back(Reduce(kind, "three_runs", F32({2, 3, 2, 3, 2}), {0, 2, 4}, false));
    cases.push_back(Reduce(kind, "uneven_split", F32({5, 3}), {0}, false));  // 5 rows over 4 pieces: 2,1,1,1
    cases.push_back(Reduce(kind, "scalar", F32({}), {}, false));
    // Long rows and columns: several tasks and row blocks per output.
    cases.push_back(Reduce(kind, "long_rows", F32({3, 70001}), {1}, false));
    cases.push_back(Reduce(kind, "long_columns", F32({40003, 3}), {0}, true));
    cases.push_back(Reduce(kind, "full_large", F32({300, 333}), {}, false));
    cases.push_back(Reduce(kind, "wide_columns", F32({7, 1500}), {0}, false));  // several column blocks
    cases.push_back(Reduce(kind, "f16", f16, {1}, false));
    cases.push_back(Reduce(kind, "bf16", bf16, {0}, false));
    for (const char* variant : {"f16", "bf16"}) {
      OpTestCase& c = *std::find_if(cases.begin(), cases.end(), [&](const OpTestCase& t) {
        return t.name == std::string(OpName(kind)) + "/" + variant;
      });
      c.rtol = 1e-2;
      c.atol = 2e-2;
    }
    for (OpTestCase& c : cases) {  // sums of many f32 values round at the 1e-5 level
      if (c.op == OpName(kind) &&
          (c.name.find("large") != std::string::npos || c.name.find("long") != std::string::npos)) {
        c.rtol = 1e-4;
        c.atol = 1e-4;
      }
    }
  }
  for (Kind kind : {Kind::kSum, Kind::kMax}) {
    OpTestCase c = Reduce(kind, "i64", I64({4, 5}), {1}, false);
    c.inputs[0].low = -50;
    c.inputs[0].high = 50;
    cases.push_back(c);
    c = Reduce(kind, "i32", TensorDesc{Shape{4, 5}, DType::kI32}, {0}, true);
    cases.push_back(c);
  }
  OpTestCase mean_int = Reduce(Kind::kMean, "int_rejected", F32({2}), {}, false);
  mean_int.bad_inputs = {{{I64({3})}, {}, "x: expected a floating-point dtype"}};
  cases.push_back(mean_int);

  cases.push_back(MaxGrad("", {3, 4}, {1, 5, 5, 2, 0.5, -1, 0.25, 0.5, 3, 3, 3, 3}, {1}, false));
  cases.push_back(MaxGrad("leading_keepdims", {4, 3}, {1, 2, 3, 4, 2, 3, 4, 0, -1, 1, 2, 3}, {0}, true));
  cases.push_back(MaxGrad("all", {2, 3}, {1, 7, 7, 7, -2, 0}, {}, false));
  return cases;
}

}  // namespace ofl::testing

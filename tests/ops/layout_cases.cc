// Cases of the layout family: reshape, transpose, slice, slice_grad,
// concat, split, broadcast_to, cast, identity, add_n. References move
// elements by their multi-indices, one element at a time.
#include <algorithm>
#include <cmath>

#include "tests/testing/op_test_case.h"

namespace ofl::testing {

namespace {

using Ints = std::vector<int64_t>;

std::vector<int64_t> Unravel(int64_t i, const Shape& shape) {
  std::vector<int64_t> index(shape.rank());
  for (int axis = shape.rank() - 1; axis >= 0; --axis) {
    index[axis] = i % shape[axis];
    i /= shape[axis];
  }
  return index;
}

int64_t Ravel(const std::vector<int64_t>& index, const Shape& shape) {
  int64_t i = 0;
  for (int axis = 0; axis < shape.rank(); ++axis) i = i * shape[axis] + index[axis];
  return i;
}

TensorDesc Desc(Shape shape, DType dtype) { return TensorDesc{std::move(shape), dtype}; }

OpTestCase Case(const std::string& op, const std::string& variant, std::vector<InputSpec> inputs,
                AttrMap attrs, ReferenceFn reference, std::vector<BadInput> bad = {}) {
  OpTestCase c;
  c.op = op;
  c.name = variant.empty() ? op : op + "/" + variant;
  c.inputs = std::move(inputs);
  c.attrs = std::move(attrs);
  c.reference = std::move(reference);
  c.bad_inputs = std::move(bad);
  c.check_grad = true;
  for (const InputSpec& input : c.inputs) c.check_grad &= IsFloatingPoint(input.desc.dtype);
  return c;
}

// reshape: same values in the same order.
ReferenceFn ReshapeReference(Shape out) {
  return [out](const std::vector<HostTensor>& in, const AttrMap&) {
    HostTensor y(TensorDesc{out, in[0].dtype()});
    for (int64_t i = 0; i < y.NumElements(); ++i) y.SetFromDouble(i, in[0].GetAsDouble(i));
    return std::vector<HostTensor>{y};
  };
}

HostTensor TransposeReference(const HostTensor& x, const Ints& perm) {
  std::vector<int64_t> dims;
  for (int64_t axis : perm) dims.push_back(x.shape()[static_cast<int>(axis)]);
  HostTensor y(TensorDesc{Shape(dims), x.dtype()});
  for (int64_t i = 0; i < y.NumElements(); ++i) {
    const std::vector<int64_t> out_index = Unravel(i, y.shape());
    std::vector<int64_t> in_index(perm.size());
    for (size_t k = 0; k < perm.size(); ++k) in_index[perm[k]] = out_index[k];
    y.SetFromDouble(i, x.GetAsDouble(Ravel(in_index, x.shape())));
  }
  return y;
}

// Python slice of one axis: the selected indices.
std::vector<int64_t> SliceIndices(int64_t dim, int64_t start, int64_t stop, int64_t step) {
  auto clamp = [dim](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + dim : i, 0, dim); };
  std::vector<int64_t> indices;
  for (int64_t i = clamp(start); i < clamp(stop); i += step) indices.push_back(i);
  return indices;
}

std::vector<std::vector<int64_t>> SliceTable(const Shape& shape, const AttrMap& attrs) {
  const Ints& start = attrs.GetInts("start");
  const Ints& stop = attrs.GetInts("stop");
  const Ints& step = attrs.GetInts("step");
  std::vector<std::vector<int64_t>> table;
  for (int axis = 0; axis < shape.rank(); ++axis) {
    table.push_back(SliceIndices(shape[axis], start[axis], stop[axis], step.empty() ? 1 : step[axis]));
  }
  return table;
}

Shape TableShape(const std::vector<std::vector<int64_t>>& table) {
  std::vector<int64_t> dims;
  for (const auto& indices : table) dims.push_back(static_cast<int64_t>(indices.size()));
  return Shape(dims);
}

// Calls fn(sliced flat index, full flat index) for every selected element.
void ForEachSliced(const Shape& full, const std::vector<std::vector<int64_t>>& table,
                   const std::function<void(int64_t, int64_t)>& fn) {
  const Shape sliced = TableShape(table);
  for (int64_t i = 0; i < sliced.NumElements(); ++i) {
    std::vector<int64_t> index = Unravel(i, sliced);
    for (size_t axis = 0; axis < index.size(); ++axis) index[axis] = table[axis][index[axis]];
    fn(i, Ravel(index, full));
  }
}

ReferenceFn SliceReference() {
  return [](const std::vector<HostTensor>& in, const AttrMap& attrs) {
    const auto table = SliceTable(in[0].shape(), attrs);
    HostTensor y(TensorDesc{TableShape(table), in[0].dtype()});
    ForEachSliced(in[0].shape(), table,
                  [&](int64_t i, int64_t j) { y.SetFromDouble(i, in[0].GetAsDouble(j)); });
    return std::vector<HostTensor>{y};
  };
}

ReferenceFn SliceGradReference() {
  return [](const std::vector<HostTensor>& in, const AttrMap& attrs) {
    const Shape& shape = attrs.GetShape("shape");
    HostTensor dx(TensorDesc{shape, in[0].dtype()});
    ForEachSliced(shape, SliceTable(shape, attrs),
                  [&](int64_t i, int64_t j) { dx.SetFromDouble(j, in[0].GetAsDouble(i)); });
    return std::vector<HostTensor>{dx};
  };
}

// concat along `axis`: element (.., k, ..) of y comes from the input whose
// range along axis holds k.
ReferenceFn ConcatReference(int axis) {
  return [axis](const std::vector<HostTensor>& in, const AttrMap&) {
    std::vector<int64_t> dims = in[0].shape().dims();
    dims[axis] = 0;
    for (const HostTensor& x : in) dims[axis] += x.shape()[axis];
    HostTensor y(TensorDesc{Shape(dims), in[0].dtype()});
    for (int64_t i = 0; i < y.NumElements(); ++i) {
      std::vector<int64_t> index = Unravel(i, y.shape());
      size_t part = 0;
      while (index[axis] >= in[part].shape()[axis]) index[axis] -= in[part++].shape()[axis];
      y.SetFromDouble(i, in[part].GetAsDouble(Ravel(index, in[part].shape())));
    }
    return std::vector<HostTensor>{y};
  };
}

ReferenceFn SplitReference(int axis, Ints sizes) {
  return [axis, sizes](const std::vector<HostTensor>& in, const AttrMap&) {
    std::vector<HostTensor> ys;
    int64_t offset = 0;
    for (int64_t size : sizes) {
      std::vector<int64_t> dims = in[0].shape().dims();
      dims[axis] = size;
      HostTensor y(TensorDesc{Shape(dims), in[0].dtype()});
      for (int64_t i = 0; i < y.NumElements(); ++i) {
        std::vector<int64_t> index = Unravel(i, y.shape());
        index[axis] += offset;
        y.SetFromDouble(i, in[0].GetAsDouble(Ravel(index, in[0].shape())));
      }
      ys.push_back(y);
      offset += size;
    }
    return ys;
  };
}

ReferenceFn BroadcastReference(Shape out) {
  return [out](const std::vector<HostTensor>& in, const AttrMap&) {
    const Shape& shape = in[0].shape();
    const int lead = out.rank() - shape.rank();
    HostTensor y(TensorDesc{out, in[0].dtype()});
    for (int64_t i = 0; i < y.NumElements(); ++i) {
      const std::vector<int64_t> index = Unravel(i, out);
      std::vector<int64_t> in_index(shape.rank());
      for (int axis = 0; axis < shape.rank(); ++axis)
        in_index[axis] = shape[axis] == 1 ? 0 : index[axis + lead];
      y.SetFromDouble(i, in[0].GetAsDouble(Ravel(in_index, shape)));
    }
    return std::vector<HostTensor>{y};
  };
}

// cast: the value as the target dtype stores it (HostTensor rounds as a cast).
ReferenceFn CastReference(DType dtype) {
  return [dtype](const std::vector<HostTensor>& in, const AttrMap&) {
    HostTensor y(TensorDesc{in[0].shape(), dtype});
    for (int64_t i = 0; i < y.NumElements(); ++i) {
      const double v = in[0].GetAsDouble(i);
      y.SetFromDouble(i, dtype == DType::kBool ? (v != 0 ? 1.0 : 0.0) : IsInteger(dtype) ? std::trunc(v) : v);
    }
    return std::vector<HostTensor>{y};
  };
}

ReferenceFn AddNReference() {
  return [](const std::vector<HostTensor>& in, const AttrMap&) {
    HostTensor y(in[0].desc());
    for (int64_t i = 0; i < y.NumElements(); ++i) {
      double sum = 0;
      for (const HostTensor& x : in) sum += x.GetAsDouble(i);
      y.SetFromDouble(i, sum);
    }
    return std::vector<HostTensor>{y};
  };
}

// 16-bit results: the P -> P check adds pieces that were each rounded to 16 bits.
void HalfTolerance(OpTestCase& c) {
  c.rtol = 1e-2;
  c.atol = 1e-2;
}

ReferenceFn IdentityReference() {
  return [](const std::vector<HostTensor>& in, const AttrMap&) {
    return std::vector<HostTensor>{in[0].Clone()};
  };
}

}  // namespace

std::vector<OpTestCase> LayoutCases() {
  std::vector<OpTestCase> cases;
  const DType f16 = DType::kF16, bf16 = DType::kBF16, i32 = DType::kI32, boolean = DType::kBool;

  // reshape
  cases.push_back(Case("reshape", "", {{F32({4, 6})}}, {{"shape", Shape{4, 2, 3}}},
                       ReshapeReference({4, 2, 3}),
                       {{{F32({4, 6})}, {{"shape", Shape{5, 5}}}, "attribute shape: expected 24 elements"},
                        {{F32({4, 6})}, {{"shape", Shape{-1, -1}}}, "expected at most one -1"},
                        {{F32({4, 6})}, {{"shape", Shape{-1, 5}}}, "whose product divides 24"},
                        {{F32({4, 6})}, {}, "attribute shape: expected a value"}}));
  cases.push_back(
      Case("reshape", "minus_one", {{F32({2, 3, 4})}}, {{"shape", Shape{-1, 4}}}, ReshapeReference({6, 4})));
  cases.push_back(
      Case("reshape", "flatten", {{F32({5, 3})}}, {{"shape", Shape{15}}}, ReshapeReference({15})));
  cases.push_back(Case("reshape", "unit_axes", {{F32({3, 1, 4})}}, {{"shape", Shape{1, 3, 4, 1}}},
                       ReshapeReference({1, 3, 4, 1})));
  cases.push_back(Case("reshape", "bool", {{Desc({2, 6}, boolean), -1, 1}}, {{"shape", Shape{3, 4}}},
                       ReshapeReference({3, 4})));
  cases.push_back(
      Case("reshape", "i32", {{Desc({2, 6}, i32), -9, 9}}, {{"shape", Shape{12}}}, ReshapeReference({12})));
  // Merged and split axes keep a Split when the piece count divides the
  // smaller extent: [B, T, D] -> [B*T, D] keeps S(0) on 2 and 4 pieces (B=4),
  // [6, 2] -> [2, 3, 2] keeps S(0) on 2, and [B, T, 3D] -> [B, T, H, 3, Dh]
  // keeps the head split S(2) on 2 (H=2).
  cases.push_back(Case("reshape", "merge_batch", {{F32({4, 3, 2})}}, {{"shape", Shape{12, 2}}},
                       ReshapeReference({12, 2})));
  cases.push_back(Case("reshape", "split_rows", {{F32({6, 2})}}, {{"shape", Shape{2, 3, 2}}},
                       ReshapeReference({2, 3, 2})));
  cases.push_back(Case("reshape", "heads", {{F32({2, 3, 12})}}, {{"shape", Shape{2, 3, 2, 3, 2}}},
                       ReshapeReference({2, 3, 2, 3, 2})));

  // transpose
  auto transpose = [](Ints perm) {
    return [perm](const std::vector<HostTensor>& in, const AttrMap&) {
      return std::vector<HostTensor>{TransposeReference(in[0], perm)};
    };
  };
  cases.push_back(Case("transpose", "", {{F32({3, 4})}}, {{"perm", Ints{1, 0}}}, transpose({1, 0}),
                       {{{F32({3, 4})}, {{"perm", Ints{0}}}, "attribute perm: expected 2 entries"},
                        {{F32({3, 4})}, {{"perm", Ints{1, 1}}}, "expected a permutation of the axes"},
                        {{F32({3, 4})}, {{"perm", Ints{0, 2}}}, "attribute perm: expected an axis in"}}));
  cases.push_back(
      Case("transpose", "rotate_3d", {{F32({2, 3, 4})}}, {{"perm", Ints{2, 0, 1}}}, transpose({2, 0, 1})));
  cases.push_back(
      Case("transpose", "keep_last", {{F32({2, 3, 4})}}, {{"perm", Ints{1, 0, 2}}}, transpose({1, 0, 2})));
  cases.push_back(Case("transpose", "nchw_to_nhwc", {{F32({2, 3, 2, 5})}}, {{"perm", Ints{0, 2, 3, 1}}},
                       transpose({0, 2, 3, 1})));
  cases.push_back(Case("transpose", "negative_axes", {{F32({2, 1, 3})}}, {{"perm", Ints{-1, 1, 0}}},
                       transpose({2, 1, 0})));
  OpTestCase tiled =
      Case("transpose", "tiled", {{F32({2, 45, 70})}}, {{"perm", Ints{0, 2, 1}}}, transpose({0, 2, 1}));
  tiled.check_grad = false;  // large: the 32x32 tiles with ragged edges
  cases.push_back(tiled);
  cases.push_back(Case("transpose", "f16", {{Desc({3, 5}, f16)}}, {{"perm", Ints{1, 0}}}, transpose({1, 0})));
  HalfTolerance(cases.back());
  cases.push_back(
      Case("transpose", "bool", {{Desc({3, 5}, boolean), -1, 1}}, {{"perm", Ints{1, 0}}}, transpose({1, 0})));

  // slice and slice_grad
  const AttrMap strided{{"start", Ints{0, 1}}, {"stop", Ints{4, 6}}, {"step", Ints{1, 2}}};
  cases.push_back(Case(
      "slice", "", {{F32({4, 6})}}, strided, SliceReference(),
      {{{F32({4, 6})},
        {{"start", Ints{0, 0}}, {"stop", Ints{4, 6}}, {"step", Ints{1, 0}}},
        "attribute step: expected steps > 0"},
       {{F32({4, 6})}, {{"start", Ints{0}}, {"stop", Ints{4, 6}}}, "attribute start: expected 2 entries"},
       {{F32({4, 6})}, {{"start", Ints{0, 0}}}, "attribute stop: expected a value"}}));
  cases.push_back(Case("slice", "negative_and_clamped", {{F32({5, 4, 3})}},
                       {{"start", Ints{-4, 0, 0}}, {"stop", Ints{100, 4, -1}}, {"step", Ints{2, 1, 1}}},
                       SliceReference()));
  cases.push_back(Case("slice", "default_step", {{F32({3, 5})}},
                       {{"start", Ints{1, 0}}, {"stop", Ints{3, 5}}}, SliceReference()));
  cases.push_back(Case("slice", "empty", {{F32({3, 4})}}, {{"start", Ints{2, 0}}, {"stop", Ints{1, 4}}},
                       SliceReference()));
  cases.push_back(Case("slice", "i32", {{Desc({6, 4}, i32), -9, 9}},
                       {{"start", Ints{1, 0}}, {"stop", Ints{6, 4}}, {"step", Ints{3, 1}}},
                       SliceReference()));
  AttrMap grad_attrs = strided;
  grad_attrs.Set("shape", Shape{4, 6});
  cases.push_back(Case("slice_grad", "", {{F32({4, 3})}}, grad_attrs, SliceGradReference(),
                       {{{F32({4, 2})}, grad_attrs, "dy: expected shape [4, 3]"}}));
  cases.push_back(Case("slice_grad", "negative", {{F32({2, 4, 2})}},
                       {{"shape", Shape{5, 4, 3}},
                        {"start", Ints{-4, 0, 0}},
                        {"stop", Ints{100, 4, -1}},
                        {"step", Ints{2, 1, 1}}},
                       SliceGradReference()));

  // concat and split
  cases.push_back(Case(
      "concat", "", {{F32({2, 3})}, {F32({2, 2})}, {F32({2, 1})}}, {{"axis", int64_t{1}}}, ConcatReference(1),
      {{{F32({2, 3}), F32({3, 2})}, {{"axis", int64_t{1}}}, "xs[1]: expected the extents of [2, 3]"},
       {{F32({2, 3}), Desc({2, 3}, DType::kF64)}, {}, "xs[1]: expected dtype f32"},
       {{F32({2, 3})}, {{"axis", int64_t{2}}}, "attribute axis: expected an axis in"},
       {{F32({})}, {}, "xs[0]: expected rank >= 1"}}));
  cases.push_back(Case("concat", "axis0_uneven", {{F32({1, 3})}, {F32({4, 3})}}, {}, ConcatReference(0)));
  cases.push_back(Case("concat", "negative_axis", {{F32({2, 2, 3})}, {F32({2, 2, 3})}},
                       {{"axis", int64_t{-2}}}, ConcatReference(1)));
  cases.push_back(Case("concat", "single", {{F32({3, 2})}}, {}, ConcatReference(0)));
  cases.push_back(Case("concat", "bool", {{Desc({2, 2}, boolean), -1, 1}, {Desc({2, 3}, boolean), -1, 1}},
                       {{"axis", int64_t{1}}}, ConcatReference(1)));
  cases.push_back(Case("split", "", {{F32({2, 6})}}, {{"axis", int64_t{1}}, {"sizes", Ints{1, 3, 2}}},
                       SplitReference(1, {1, 3, 2}),
                       {{{F32({2, 6})},
                         {{"axis", int64_t{1}}, {"sizes", Ints{1, 2}}},
                         "expected one or more extents adding up to 6"},
                        {{F32({2, 6})}, {{"sizes", Ints{3, -1}}}, "attribute sizes: expected extents >= 0"},
                        {{F32({2, 6})}, {}, "attribute sizes: expected a value"}}));
  cases.push_back(
      Case("split", "with_empty", {{F32({5, 2})}}, {{"sizes", Ints{2, 0, 3}}}, SplitReference(0, {2, 0, 3})));
  cases.push_back(Case("split", "i32", {{Desc({3, 4}, i32), -9, 9}},
                       {{"axis", int64_t{-1}}, {"sizes", Ints{1, 3}}}, SplitReference(1, {1, 3})));

  // broadcast_to
  cases.push_back(
      Case("broadcast_to", "", {{F32({3})}}, {{"shape", Shape{4, 3}}}, BroadcastReference({4, 3}),
           {{{F32({2, 3})}, {{"shape", Shape{4, 3}}}, "x: expected a shape broadcastable to [4, 3]"},
            {{F32({2, 3})}, {{"shape", Shape{3}}}, "x: expected rank <= 1"}}));
  cases.push_back(Case("broadcast_to", "middle", {{F32({2, 1, 3})}}, {{"shape", Shape{2, 4, 3}}},
                       BroadcastReference({2, 4, 3})));
  cases.push_back(Case("broadcast_to", "new_leading", {{F32({1, 3})}}, {{"shape", Shape{2, 5, 3}}},
                       BroadcastReference({2, 5, 3})));
  cases.push_back(
      Case("broadcast_to", "column", {{F32({5, 1})}}, {{"shape", Shape{5, 3}}}, BroadcastReference({5, 3})));
  cases.push_back(
      Case("broadcast_to", "scalar", {{F32({})}}, {{"shape", Shape{3, 2}}}, BroadcastReference({3, 2})));
  cases.push_back(Case("broadcast_to", "bf16", {{Desc({1, 4}, bf16)}}, {{"shape", Shape{3, 4}}},
                       BroadcastReference({3, 4})));
  HalfTolerance(cases.back());

  // cast
  cases.push_back(
      Case("cast", "", {{F32({3, 4})}}, {{"dtype", DType::kF64}}, CastReference(DType::kF64),
           {{{F32({3})}, {}, "attribute dtype: expected a value"},
            {{F32({3})}, {{"dtype", std::string("f16")}}, "attribute dtype: expected dtype, got string"}}));
  // Finite differences cannot resolve 16-bit outputs: forward and SBP only.
  OpTestCase to_f16 =
      Case("cast", "to_f16", {{F32({3, 4}), -4, 4}}, {{"dtype", DType::kF16}}, CastReference(DType::kF16));
  to_f16.check_grad = false;
  HalfTolerance(to_f16);
  cases.push_back(to_f16);
  OpTestCase to_bf16 = Case("cast", "f64_to_bf16", {{Desc({3, 4}, DType::kF64)}}, {{"dtype", DType::kBF16}},
                            CastReference(DType::kBF16));
  to_bf16.check_grad = false;
  HalfTolerance(to_bf16);
  cases.push_back(to_bf16);
  OpTestCase to_int = Case("cast", "to_i32", {{F32({3, 4}), -3, 3}}, {{"dtype", i32}}, CastReference(i32));
  to_int.check_grad = false;  // piecewise constant
  cases.push_back(to_int);
  cases.push_back(Case("cast", "i64_to_f32", {{I64({3, 4}), -100, 100}}, {{"dtype", DType::kF32}},
                       CastReference(DType::kF32)));
  InputSpec with_zeros{F32({2, 4})};
  with_zeros.values = std::vector<double>{0, 1.5, -2, 0, 0.25, 0, -0.5, 3};
  OpTestCase to_bool = Case("cast", "to_bool", {with_zeros}, {{"dtype", boolean}}, CastReference(boolean));
  to_bool.check_grad = false;
  cases.push_back(to_bool);
  cases.push_back(Case("cast", "bool_to_f32", {{Desc({2, 3}, boolean), -1, 1}}, {{"dtype", DType::kF32}},
                       CastReference(DType::kF32)));
  cases.push_back(Case("cast", "u8_to_f32", {{Desc({2, 3}, DType::kU8), 0, 255}}, {{"dtype", DType::kF32}},
                       CastReference(DType::kF32)));

  // identity and add_n
  cases.push_back(Case("identity", "", {{F32({3, 4})}}, {}, IdentityReference(),
                       {{{F32({3}), F32({3})}, {}, "inputs: expected 1, got 2"}}));
  cases.push_back(Case("identity", "bool", {{Desc({3, 2}, boolean), -1, 1}}, {}, IdentityReference()));
  cases.push_back(Case("add_n", "", {{F32({3, 4})}, {F32({3, 4})}, {F32({3, 4})}}, {}, AddNReference(),
                       {{{F32({3, 4}), F32({4, 3})}, {}, "xs[1]: expected shape [3, 4]"},
                        {{F32({3, 4}), Desc({3, 4}, DType::kF64)}, {}, "xs[1]: expected dtype f32"},
                        {{Desc({3}, boolean)}, {}, "xs[0]: expected a numeric dtype"},
                        {{}, {}, "inputs: expected at least 1, got 0"}}));
  cases.push_back(Case("add_n", "single", {{F32({5})}}, {}, AddNReference()));
  cases.push_back(Case("add_n", "large", {{F32({70000})}, {F32({70000})}}, {}, AddNReference()));
  cases.back().check_grad = false;
  OpTestCase add_n_bf16 =
      Case("add_n", "bf16", {{Desc({4, 3}, bf16)}, {Desc({4, 3}, bf16)}}, {}, AddNReference());
  HalfTolerance(add_n_bf16);
  cases.push_back(add_n_bf16);
  cases.push_back(Case("add_n", "i64", {{I64({2, 3}), -9, 9}, {I64({2, 3}), -9, 9}}, {}, AddNReference()));
  return cases;
}

}  // namespace ofl::testing

// fill, random_uniform and random_normal: ops without inputs that produce a
// tensor of attribute-given shape and dtype. Random values are keyed on
// (seed, logical element index), so every SBP gives the single-device tensor.
#include <cmath>
#include <limits>
#include <type_traits>

#include "ops/common/kernel_helpers.h"
#include "ops/random/logical_index.h"
#include "ops/random/philox.h"
#include "ops/random/random.h"
#include "ops/random/sampling.h"

namespace ofl {

namespace {

using FillTypes = TypeList<float, double, Float16, BFloat16, int32_t, int64_t>;

Status CheckShapeAttr(const OpView& op) {
  const Shape& shape = op.attrs.GetShape("shape");
  for (int axis = 0; axis < shape.rank(); ++axis) {
    OFL_CHECK_OR_RETURN(shape[axis] >= 0)
        << op.Who() << " attribute shape: expected non-negative extents, got " << shape.ToString();
  }
  return Status::Ok();
}

Status CheckFinite(const OpView& op, const std::string& name) {
  const double value = op.attrs.GetFloat(name);
  OFL_CHECK_OR_RETURN(std::isfinite(value))
      << op.Who() << " attribute " << name << ": expected a finite number, got " << value;
  return Status::Ok();
}

// B and S(k) for every axis: values depend only on the logical index.
std::vector<SbpSignature> InitializerSignatures(const OpView& op, const std::string& what) {
  const Shape& shape = op.attrs.GetShape("shape");
  std::vector<SbpSignature> list;
  list.push_back(SignatureBuilder(0, 1)
                     .Note("B: cpu:0 and cpu:1 each produce the whole tensor; " + what +
                           ", so the two copies are identical")
                     .Build());
  for (int axis = 0; axis < shape.rank(); ++axis) {
    const std::string k = std::to_string(axis);
    list.push_back(SignatureBuilder(0, 1)
                       .Output(0, Sbp::Split(axis))
                       .Note("S(" + k + "): cpu:0 produces the first half of axis " + k +
                             ", cpu:1 the second half; " + what +
                             ", so the halves concatenate to the single-device tensor")
                       .Build());
  }
  return list;
}

OpSchema InitializerSchema(const std::string& name, const std::string& doc, std::vector<AttrDef> extra_attrs,
                           std::function<Status(const OpView&)> check, const std::string& sbp_reason) {
  OpSchema schema;
  schema.name = name;
  schema.doc = doc;
  schema.outputs = {{"y", "the produced tensor, of attributes shape and dtype"}};
  schema.attrs = {{"shape", Shape{}, true, "shape of the produced tensor"},
                  {"dtype", DType::kF32, false, "dtype of the produced tensor"}};
  for (AttrDef& def : extra_attrs) schema.attrs.push_back(std::move(def));
  schema.infer = [check = std::move(check)](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_RETURN_IF_ERROR(CheckShapeAttr(op));
    OFL_RETURN_IF_ERROR(check(op));
    return std::vector<TensorDesc>{TensorDesc{op.attrs.GetShape("shape"), op.attrs.GetDType("dtype")}};
  };
  schema.sbp = [sbp_reason](const OpView& op) { return InitializerSignatures(op, sbp_reason); };
  schema.example = {{}, {{"shape", Shape{4, 3}}, {"seed", int64_t{0}}}};
  return schema;
}

// Random ops produce floating-point tensors only.
Status CheckFloatDType(const OpView& op) {
  const DType dtype = op.attrs.GetDType("dtype");
  OFL_CHECK_OR_RETURN(IsFloatingPoint(dtype))
      << op.Who() << " attribute dtype: expected a floating-point dtype (f32, f64, f16, bf16), got "
      << DTypeName(dtype);
  return Status::Ok();
}

Status CheckFill(const OpView& op) {
  const DType dtype = op.attrs.GetDType("dtype");
  OFL_CHECK_OR_RETURN(VisitDTypeIn(FillTypes{}, dtype, [](auto) {}))
      << op.Who() << " attribute dtype: expected one of f32, f64, f16, bf16, i32, i64, got "
      << DTypeName(dtype);
  const double value = op.attrs.GetFloat("value");
  if (dtype == DType::kI32 || dtype == DType::kI64) {
    const double limit = dtype == DType::kI32 ? 2147483648.0 : 9223372036854775808.0;
    OFL_CHECK_OR_RETURN(std::isfinite(value) && value == std::trunc(value) && value >= -limit &&
                        value < limit)
        << op.Who() << " attribute value: expected an integer within the range of " << DTypeName(dtype)
        << ", got " << value;
  }
  return Status::Ok();
}

Status CheckUniform(const OpView& op) {
  OFL_RETURN_IF_ERROR(CheckFloatDType(op));
  OFL_RETURN_IF_ERROR(CheckFinite(op, "low"));
  OFL_RETURN_IF_ERROR(CheckFinite(op, "high"));
  const double low = op.attrs.GetFloat("low");
  const double high = op.attrs.GetFloat("high");
  OFL_CHECK_OR_RETURN(low < high) << op.Who() << " attribute high: expected a value above low (" << low
                                  << "), got " << high;
  return Status::Ok();
}

Status CheckNormal(const OpView& op) {
  OFL_RETURN_IF_ERROR(CheckFloatDType(op));
  OFL_RETURN_IF_ERROR(CheckFinite(op, "mean"));
  OFL_RETURN_IF_ERROR(CheckFinite(op, "std"));
  const double std_dev = op.attrs.GetFloat("std");
  OFL_CHECK_OR_RETURN(std_dev >= 0) << op.Who() << " attribute std: expected >= 0, got " << std_dev;
  return Status::Ok();
}

Status FillKernel(KernelContext& ctx) {
  const double value = ctx.attr().GetFloat("value");
  const Blob& out = ctx.out(0);
  return DispatchOr(ctx, FillTypes{}, out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T stored = FromCompute<T>(value);
    T* data = out.As<T>();
    ParallelFor(out.NumElements(), 1 << 16, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) data[i] = stored;
    });
  });
}

// Writes sample(logical index) (a double) converted to T for every element
// of the output piece.
template <typename Sample>
Status GenerateKernel(KernelContext& ctx, Sample sample, double exclusive_upper_bound) {
  OFL_RETURN_IF_ERROR(CheckPieceInLogical(ctx.op_name, ctx.outputs[0]));
  const Blob& out = ctx.out(0);
  return DispatchOr(ctx, FloatTypes{}, out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    // Rounding to T may carry a value just below the bound onto it; such a
    // value becomes the largest T below the bound, keeping the range half-open.
    const T bound = FromCompute<T>(exclusive_upper_bound);
    const double bound_value = static_cast<double>(bound);
    const T below_bound = NextBelow(bound);
    const bool bounded = std::isfinite(exclusive_upper_bound);
    T* data = out.As<T>();
    ForEachLogicalRun(ctx.outputs[0], [&](int64_t local, int64_t logical, int64_t count) {
      for (int64_t j = 0; j < count; ++j) {
        T value = FromCompute<T>(sample(static_cast<uint64_t>(logical + j)));
        if (bounded && static_cast<double>(value) >= bound_value) value = below_bound;
        data[local + j] = value;
      }
    });
  });
}

Status UniformKernel(KernelContext& ctx) {
  const UniformSample sample{static_cast<uint64_t>(ctx.attr().GetInt("seed")), ctx.attr().GetFloat("low"),
                             ctx.attr().GetFloat("high")};
  return GenerateKernel(ctx, sample, sample.high);
}

Status NormalKernel(KernelContext& ctx) {
  const NormalSample sample{static_cast<uint64_t>(ctx.attr().GetInt("seed")), ctx.attr().GetFloat("mean"),
                            ctx.attr().GetFloat("std")};
  return GenerateKernel(ctx, sample, std::numeric_limits<double>::infinity());
}

const char* const kRandomReason =
    "element i of the logical tensor takes the Philox value of (seed, i) whichever device holds it";

}  // namespace

Status RegisterInitializerOps(OpRegistry& ops, KernelRegistry& kernels) {
  const std::vector<DType> floats = DTypesOf(FloatTypes{});

  OpSchema fill =
      InitializerSchema("fill", "y = value everywhere", {{"value", 0.0, false, "the value of every element"}},
                        CheckFill, "every element is `value`");
  fill.example = {{}, {{"shape", Shape{4, 3}}, {"value", 1.0}}};
  OFL_RETURN_IF_ERROR(ops.Register(std::move(fill)));
  OFL_RETURN_IF_ERROR(kernels.RegisterForDTypes("fill", DeviceType::kCPU, DTypesOf(FillTypes{}),
                                                MakeFunctionKernel(FillKernel)));

  OFL_RETURN_IF_ERROR(ops.Register(InitializerSchema(
      "random_uniform", "y uniform in [low, high), keyed on (seed, logical element index)",
      {{"low", 0.0, false, "inclusive lower bound"},
       {"high", 1.0, false, "exclusive upper bound (> low)"},
       {"seed", int64_t{0}, true, "Philox key; equal seeds give equal tensors on any device count"}},
      CheckUniform, kRandomReason)));
  OFL_RETURN_IF_ERROR(kernels.RegisterForDTypes("random_uniform", DeviceType::kCPU, floats,
                                                MakeFunctionKernel(UniformKernel)));

  OFL_RETURN_IF_ERROR(ops.Register(InitializerSchema(
      "random_normal", "y normal with mean and std (Box-Muller), keyed on (seed, logical element index)",
      {{"mean", 0.0, false, "mean of the distribution"},
       {"std", 1.0, false, "standard deviation (>= 0)"},
       {"seed", int64_t{0}, true, "Philox key; equal seeds give equal tensors on any device count"}},
      CheckNormal, kRandomReason)));
  OFL_RETURN_IF_ERROR(
      kernels.RegisterForDTypes("random_normal", DeviceType::kCPU, floats, MakeFunctionKernel(NormalKernel)));
  return Status::Ok();
}

}  // namespace ofl

// rms_norm over the last axis, and its two backward ops: rms_norm_grad (dx)
// and rms_norm_param_grad (dweight).
#include <array>
#include <cmath>
#include <vector>

#include "oneflow_like/parallel.h"
#include "ops/common/kernel_helpers.h"
#include "ops/elementwise/functors.h"
#include "ops/norm/column_sums.h"
#include "ops/norm/norm.h"
#include "ops/norm/norm_common.h"
#include "ops/common/vector_math.h"

namespace ofl {

namespace {

NormRows LastAxisRows(const Shape& shape) { return NormRows::Of(shape, shape.rank() - 1); }

// ---- Kernels ---------------------------------------------------------------

// Per row: inv_rms = 1 / sqrt(mean(x^2) + epsilon), y = x * inv_rms * weight.
KernelFactory RmsNormKernel() {
  return MakeFunctionKernel([](KernelContext& ctx) {
    const NormRows view = LastAxisRows(ctx.in(0).shape());
    const double epsilon = ctx.attr().GetFloat("epsilon");
    return DispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
      using T = decltype(tag);
      using C = ComputeType<T>;
      const T* x = ctx.in(0).As<T>();
      const T* weight = ctx.in(1).As<T>();
      T* y = ctx.out(0).As<T>();
      T* inv_rms_out = ctx.out(1).As<T>();
      const int64_t cols = view.cols;
      ParallelFor(view.rows, view.grain(), [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          const T* __restrict xr = x + r * cols;
          T* __restrict yr = y + r * cols;
          const C squares = SumOf<C>(cols, [&](int64_t j) { return ToCompute<C>(xr[j]) * ToCompute<C>(xr[j]); });
          const C mean_square = cols > 0 ? squares / static_cast<C>(cols) : C(0);
          const C inv_rms = C(1) / std::sqrt(mean_square + static_cast<C>(epsilon));
          for (int64_t j = 0; j < cols; ++j) {
            yr[j] = FromCompute<T>(ToCompute<C>(xr[j]) * inv_rms * ToCompute<C>(weight[j]));
          }
          inv_rms_out[r] = FromCompute<T>(inv_rms);
        }
      });
    });
  });
}

// With g = dy * weight and xhat = x * inv_rms, per row:
//   dx = inv_rms * (g - xhat * mean(g * xhat)).
KernelFactory RmsNormGradKernel() {
  return MakeFunctionKernel([](KernelContext& ctx) {
    const NormRows view = LastAxisRows(ctx.in(1).shape());
    return DispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
      using T = decltype(tag);
      using C = ComputeType<T>;
      const T* dy = ctx.in(0).As<T>();
      const T* x = ctx.in(1).As<T>();
      const T* inv_rms = ctx.in(2).As<T>();
      const T* weight = ctx.in(3).As<T>();
      T* dx = ctx.out(0).As<T>();
      const int64_t cols = view.cols;
      ParallelFor(view.rows, view.grain(), [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          const T* __restrict dyr = dy + r * cols;
          const T* __restrict xr = x + r * cols;
          T* __restrict dxr = dx + r * cols;
          const C s = ToCompute<C>(inv_rms[r]);
          // mean(g * xhat) = inv_rms * mean(g * x): one multiply per row, not per element.
          const C sum_g_x = SumOf<C>(
              cols, [&](int64_t j) { return ToCompute<C>(dyr[j]) * ToCompute<C>(weight[j]) * ToCompute<C>(xr[j]); });
          const C mean_g_xhat = sum_g_x * s / static_cast<C>(cols);
          for (int64_t j = 0; j < cols; ++j) {
            const C g = ToCompute<C>(dyr[j]) * ToCompute<C>(weight[j]);
            const C xhat = ToCompute<C>(xr[j]) * s;
            dxr[j] = FromCompute<T>(s * (g - xhat * mean_g_xhat));
          }
        }
      });
    });
  });
}

// dweight = sum over rows of dy * x * inv_rms.
KernelFactory RmsNormParamGradKernel() {
  return MakeFunctionKernel([](KernelContext& ctx) {
    const NormRows view = LastAxisRows(ctx.in(1).shape());
    return DispatchOr(ctx, FloatTypes{}, ctx.in(0).dtype(), [&](auto tag) {
      using T = decltype(tag);
      using C = ComputeType<T>;
      const T* dy = ctx.in(0).As<T>();
      const T* x = ctx.in(1).As<T>();
      const T* inv_rms = ctx.in(2).As<T>();
      const int64_t cols = view.cols;
      std::vector<C> dweight(cols);
      SumOverRows<1, C>(
          view.rows, cols,
          [&](int64_t row_begin, int64_t row_end, int64_t col_begin, int64_t col_end, const std::array<C*, 1>& sums) {
            C* __restrict sum = sums[0];
            for (int64_t r = row_begin; r < row_end; ++r) {
              const T* __restrict dyr = dy + r * cols + col_begin;
              const T* __restrict xr = x + r * cols + col_begin;
              const C s = ToCompute<C>(inv_rms[r]);
              for (int64_t j = 0; j < col_end - col_begin; ++j) {
                sum[j] += ToCompute<C>(dyr[j]) * ToCompute<C>(xr[j]) * s;
              }
            }
          },
          std::array<C*, 1>{dweight.data()});
      T* out = ctx.out(0).As<T>();
      for (int64_t j = 0; j < cols; ++j) out[j] = FromCompute<T>(dweight[j]);
    });
  });
}

// ---- Schemas ---------------------------------------------------------------

// x (input x_index) is floating with rank >= 1 and every input shares its
// dtype; inv_rms (input rms_index, if >= 0) has x.shape[:-1]; weight (input
// weight_index, if >= 0) has [x.shape[-1]].
Status CheckRmsInputs(const OpView& op, int x_index, int rms_index, int weight_index) {
  OFL_RETURN_IF_ERROR(ExpectFloating(op, x_index));
  OFL_RETURN_IF_ERROR(ExpectMinRank(op, x_index, 1));
  for (int i = 0; i < op.num_inputs(); ++i) {
    if (i != x_index) OFL_RETURN_IF_ERROR(ExpectSameDType(op, x_index, i));
  }
  const Shape& shape = op.in(x_index).shape;
  const int last = shape.rank() - 1;
  if (rms_index >= 0) {
    OFL_RETURN_IF_ERROR(ExpectShape(op, rms_index, SubShape(shape, 0, last), "x.shape[:-1]"));
  }
  if (weight_index >= 0) {
    OFL_RETURN_IF_ERROR(ExpectShape(op, weight_index, Shape{shape[last]}, "x.shape[-1:]"));
  }
  return Status::Ok();
}

const char* kBroadcastNote = "B: cpu:0 and cpu:1 both hold every operand whole and compute the whole result";

std::string RowSplitNote(int k, const std::string& tail) {
  return "S(" + std::to_string(k) +
         "): x [4, 6] split on axis 0: cpu:0 holds rows 0-1 of every row-shaped "
         "operand, cpu:1 rows 2-3 (for axis " +
         std::to_string(k) +
         " likewise); each row is normalised whole on "
         "one device" +
         tail;
}

std::vector<SbpSignature> RmsNormSignatures(const OpView& op) {
  const int rank = op.in(0).shape.rank();
  std::vector<SbpSignature> list;
  AddUnique(list, SignatureBuilder(2, 2).Note(kBroadcastNote).Build());
  for (int k = 0; k < rank - 1; ++k) {
    AddUnique(list, SignatureBuilder(2, 2)
                        .Input(0, Sbp::Split(k))
                        .AllOutputs(Sbp::Split(k))
                        .Note(RowSplitNote(k, "; weight is B; y and inv_rms come out split the same way"))
                        .Build());
  }
  return list;
}

std::vector<SbpSignature> RmsNormGradSignatures(const OpView& op) {
  const int rank = op.in(1).shape.rank();
  std::vector<SbpSignature> list;
  AddUnique(list, SignatureBuilder(4, 1).Note(kBroadcastNote).Build());
  for (int k = 0; k < rank - 1; ++k) {
    AddUnique(list, SignatureBuilder(4, 1)
                        .Input(0, Sbp::Split(k))
                        .Input(1, Sbp::Split(k))
                        .Input(2, Sbp::Split(k))
                        .Output(0, Sbp::Split(k))
                        .Note(RowSplitNote(k, " (dy, x, inv_rms; weight B), so dx is split too"))
                        .Build());
  }
  const std::string linear =
      " whole on both; dx is linear in g = dy * weight, so the results of the two "
      "devices sum to dx";
  AddUnique(list, SignatureBuilder(4, 1)
                      .Input(0, Sbp::PartialSum())
                      .Output(0, Sbp::PartialSum())
                      .Note("P: dy = dy0 + dy1 on cpu:0 and cpu:1, the other operands" + linear)
                      .Build());
  AddUnique(list, SignatureBuilder(4, 1)
                      .Input(3, Sbp::PartialSum())
                      .Output(0, Sbp::PartialSum())
                      .Note("P: weight = weight0 + weight1 on cpu:0 and cpu:1, the other operands" + linear)
                      .Build());
  return list;
}

std::vector<SbpSignature> RmsNormParamGradSignatures(const OpView& op) {
  const int rank = op.in(1).shape.rank();
  std::vector<SbpSignature> list;
  AddUnique(list, SignatureBuilder(3, 1).Note(kBroadcastNote).Build());
  for (int k = 0; k < rank - 1; ++k) {
    AddUnique(list, SignatureBuilder(3, 1)
                        .AllInputs(Sbp::Split(k))
                        .Output(0, Sbp::PartialSum())
                        .Note(RowSplitNote(k,
                                           "; dweight sums over rows, so each device sums its own rows and "
                                           "the two partial sums add up: P"))
                        .Build());
  }
  AddUnique(list,
            SignatureBuilder(3, 1)
                .Input(0, Sbp::Split(rank - 1))
                .Input(1, Sbp::Split(rank - 1))
                .Output(0, Sbp::Split(0))
                .Note("S(" + std::to_string(rank - 1) +
                      "): x [4, 6] split on axis 1: cpu:0 holds columns "
                      "0-2 of dy and x, cpu:1 columns 3-5, inv_rms B; each element of dweight needs only "
                      "its own column, so dweight comes out S(0)")
                .Build());
  AddUnique(list,
            SignatureBuilder(3, 1)
                .Input(0, Sbp::PartialSum())
                .Output(0, Sbp::PartialSum())
                .Note("P: dy = dy0 + dy1 on cpu:0 and cpu:1, x and inv_rms whole on both; dweight is linear "
                      "in dy, so the results of the two devices sum to it")
                .Build());
  return list;
}

OpSchema RmsNormSchema() {
  OpSchema schema;
  schema.name = "rms_norm";
  schema.doc = "y = x * inv_rms * weight, inv_rms = 1 / sqrt(mean(x^2) + epsilon) over the last axis";
  schema.inputs = {{"x", "input, rank >= 1"}, {"weight", "scale, shaped [x.shape[-1]]"}};
  schema.outputs = {{"y", "result, shaped like x"},
                    {"inv_rms", "per-row 1 / rms, shaped x.shape[:-1] (saved for backward; no gradient)"}};
  schema.attrs = {{"epsilon", 1e-6, false, "added to the mean square before the square root"}};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_RETURN_IF_ERROR(CheckRmsInputs(op, 0, -1, 1));
    OFL_CHECK_OR_RETURN(op.attrs.GetFloat("epsilon") >= 0)
        << op.Who() << " attribute epsilon: expected a value >= 0, got " << op.attrs.GetFloat("epsilon");
    const Shape& shape = op.in(0).shape;
    return std::vector<TensorDesc>{op.in(0), {SubShape(shape, 0, shape.rank() - 1), op.in(0).dtype}};
  };
  schema.sbp = RmsNormSignatures;
  schema.grad = [](GradContext& ctx) -> Status {
    const ValueRef dy = ctx.output_grads[0];
    const ValueRef x = ctx.inputs[0];
    const ValueRef inv_rms = ctx.outputs[1];
    if (ctx.needs_input_grad[0]) {
      OFL_ASSIGN_OR_RETURN(ctx.input_grads[0], ctx.Emit1("rms_norm_grad", {dy, x, inv_rms, ctx.inputs[1]}));
    }
    if (ctx.needs_input_grad[1]) {
      OFL_ASSIGN_OR_RETURN(ctx.input_grads[1], ctx.Emit1("rms_norm_param_grad", {dy, x, inv_rms}));
    }
    return Status::Ok();
  };
  schema.example = {{{Shape{4, 6}, DType::kF32}, {Shape{6}, DType::kF32}}, {}};
  return schema;
}

OpSchema RmsNormGradSchema() {
  OpSchema schema;
  schema.name = "rms_norm_grad";
  schema.doc = "dx of rms_norm: inv_rms * (g - xhat * mean(g * xhat)), g = dy * weight, xhat = x * inv_rms";
  schema.inputs = {{"dy", "gradient of y"},
                   {"x", "forward input"},
                   {"inv_rms", "forward inv_rms output"},
                   {"weight", "forward scale"}};
  schema.outputs = {{"dx", "gradient of x"}};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_RETURN_IF_ERROR(CheckRmsInputs(op, 1, 2, 3));
    OFL_RETURN_IF_ERROR(ExpectSameShape(op, 1, 0));
    return std::vector<TensorDesc>{op.in(1)};
  };
  schema.sbp = RmsNormGradSignatures;
  schema.example = {{{Shape{4, 6}, DType::kF32},
                     {Shape{4, 6}, DType::kF32},
                     {Shape{4}, DType::kF32},
                     {Shape{6}, DType::kF32}},
                    {}};
  return schema;
}

OpSchema RmsNormParamGradSchema() {
  OpSchema schema;
  schema.name = "rms_norm_param_grad";
  schema.doc = "dweight = sum over rows of dy * x * inv_rms";
  schema.inputs = {{"dy", "gradient of y"}, {"x", "forward input"}, {"inv_rms", "forward inv_rms output"}};
  schema.outputs = {{"dweight", "gradient of weight, shaped [x.shape[-1]]"}};
  schema.infer = [](const OpView& op) -> StatusOr<std::vector<TensorDesc>> {
    OFL_RETURN_IF_ERROR(CheckRmsInputs(op, 1, 2, -1));
    OFL_RETURN_IF_ERROR(ExpectSameShape(op, 1, 0));
    const Shape& shape = op.in(1).shape;
    return std::vector<TensorDesc>{{Shape{shape[shape.rank() - 1]}, op.in(1).dtype}};
  };
  schema.sbp = RmsNormParamGradSignatures;
  schema.example = {{{Shape{4, 6}, DType::kF32}, {Shape{4, 6}, DType::kF32}, {Shape{4}, DType::kF32}}, {}};
  return schema;
}

}  // namespace

Status RegisterRmsNormOps(OpRegistry& ops, KernelRegistry& kernels) {
  const std::vector<DType> floats = DTypesOf(FloatTypes{});
  OFL_RETURN_IF_ERROR(ops.Register(RmsNormSchema()));
  OFL_RETURN_IF_ERROR(kernels.RegisterForDTypes("rms_norm", DeviceType::kCPU, floats, RmsNormKernel()));
  OFL_RETURN_IF_ERROR(ops.Register(RmsNormGradSchema()));
  OFL_RETURN_IF_ERROR(
      kernels.RegisterForDTypes("rms_norm_grad", DeviceType::kCPU, floats, RmsNormGradKernel()));
  OFL_RETURN_IF_ERROR(ops.Register(RmsNormParamGradSchema()));
  OFL_RETURN_IF_ERROR(
      kernels.RegisterForDTypes("rms_norm_param_grad", DeviceType::kCPU, floats, RmsNormParamGradKernel()));
  return Status::Ok();
}

}  // namespace ofl

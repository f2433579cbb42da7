// max_pool2d, avg_pool2d and their backward ops: schema, inference, SBP
// signatures and gradient rules. Layout NCHW; windows in floor mode.
#include "ops/common/infer_helpers.h"
#include "ops/conv/conv.h"
#include "ops/conv/conv_params.h"
#include "ops/conv/pool_kernels.h"

namespace ofl {

namespace {

std::vector<AttrDef> PoolAttrDefs(bool average) {
  std::vector<AttrDef> defs = {
      {"kernel", std::vector<int64_t>{}, true, "window extent (H, W)"},
      {"stride", std::vector<int64_t>{}, false, "step of the window (H, W); [] means the kernel"},
      {"padding", std::vector<int64_t>{0, 0}, false,
       "implicit padding before and after each axis (H, W), at most "
       "half the kernel; max ignores it"}};
  if (average) {
    defs.push_back({"count_include_pad", true, false,
                    "divide by the whole window (true) or only by its taps inside x (false)"});
  }
  return defs;
}

// The pooling attributes of an instance, to pass on to the backward op.
AttrMap PoolAttrsOf(const AttrMap& attrs, bool average) {
  AttrMap copy;
  for (const char* name : {"kernel", "stride", "padding"}) copy.Set(name, attrs.Get(name));
  if (average) copy.Set("count_include_pad", attrs.Get("count_include_pad"));
  return copy;
}

// The shape of the pooled x; `x_who` names where x came from.
StatusOr<Shape> PoolOutputShape(const std::string& x_who, const Shape& x, const Pool2dParams& p) {
  OFL_CHECK_OR_RETURN(x.rank() == 4) << x_who << ": expected rank 4 [N, C, H, W], got shape " << x.ToString();
  std::vector<int64_t> y{x[0], x[1], 0, 0};
  for (int axis = 0; axis < 2; ++axis) {
    y[2 + axis] = WindowOutputExtent(x[2 + axis], p.kernel[axis], p.stride[axis], p.padding[axis], 1);
  }
  OFL_CHECK_OR_RETURN(x[2] >= 1 && x[3] >= 1 && y[2] >= 1 && y[3] >= 1)
      << x_who << ": expected H, W >= 1 and, with padding [" << p.padding[0] << ", " << p.padding[1]
      << "], at least the kernel [" << p.kernel[0] << ", " << p.kernel[1] << "], got shape " << x.ToString();
  return Shape(std::move(y));
}

Status ExpectShape(const OpView& op, int i, const Shape& expected, const std::string& how) {
  OFL_CHECK_OR_RETURN(op.in(i).shape == expected) << op.Who(i) << ": expected shape " << expected.ToString()
                                                  << " (" << how << "), got " << op.in(i).shape.ToString();
  return Status::Ok();
}

StatusOr<std::vector<TensorDesc>> InferPool(const OpView& op, bool average) {
  OFL_RETURN_IF_ERROR(ExpectFloating(op, 0));
  OFL_ASSIGN_OR_RETURN(Pool2dParams p, ReadPool2dParams(op.Who(), op.attrs, average));
  OFL_ASSIGN_OR_RETURN(Shape y, PoolOutputShape(op.Who(0), op.in(0).shape, p));
  return std::vector<TensorDesc>{{y, op.in(0).dtype}};
}

// max_pool2d_grad: (x, y, dy) -> dx.
StatusOr<std::vector<TensorDesc>> InferMaxPoolGrad(const OpView& op) {
  OFL_RETURN_IF_ERROR(ExpectFloating(op, 0));
  OFL_RETURN_IF_ERROR(ExpectAllSameDType(op));
  OFL_ASSIGN_OR_RETURN(Pool2dParams p, ReadPool2dParams(op.Who(), op.attrs, false));
  OFL_ASSIGN_OR_RETURN(Shape y, PoolOutputShape(op.Who(0), op.in(0).shape, p));
  OFL_RETURN_IF_ERROR(ExpectShape(op, 1, y, "max_pool2d of x"));
  OFL_RETURN_IF_ERROR(ExpectShape(op, 2, y, "max_pool2d of x"));
  return std::vector<TensorDesc>{op.in(0)};
}

// avg_pool2d_grad: (dy) -> dx of input_shape.
StatusOr<std::vector<TensorDesc>> InferAvgPoolGrad(const OpView& op) {
  OFL_RETURN_IF_ERROR(ExpectFloating(op, 0));
  OFL_ASSIGN_OR_RETURN(Pool2dParams p, ReadPool2dParams(op.Who(), op.attrs, true));
  const Shape& x = op.attrs.GetShape("input_shape");
  OFL_ASSIGN_OR_RETURN(Shape y, PoolOutputShape(op.Who() + " attribute input_shape", x, p));
  OFL_RETURN_IF_ERROR(ExpectShape(op, 0, y, "avg_pool2d of input_shape " + x.ToString()));
  return std::vector<TensorDesc>{{x, op.in(0).dtype}};
}

// B, S(0) (images) and S(1) (channels) for every operand at once.
std::vector<SbpSignature> PlaneSignatures(int num_inputs, const std::string& what) {
  std::vector<SbpSignature> list;
  AddUnique(list, SignatureBuilder(num_inputs, 1)
                      .Note("B: cpu:0 and cpu:1 both hold every operand whole and compute the whole " + what)
                      .Build());
  AddUnique(
      list,
      SignatureBuilder(num_inputs, 1)
          .AllInputs(Sbp::Split(0))
          .AllOutputs(Sbp::Split(0))
          .Note("S(0): N=4, cpu:0 holds images 0-1 of every operand and cpu:1 images 2-3; windows never "
                "mix images, so each computes " +
                what + " for its images")
          .Build());
  AddUnique(list,
            SignatureBuilder(num_inputs, 1)
                .AllInputs(Sbp::Split(1))
                .AllOutputs(Sbp::Split(1))
                .Note("S(1): C=6, cpu:0 holds channels 0-2 of every operand and cpu:1 channels 3-5; windows "
                      "never mix channels, so each computes " +
                      what + " for its channels")
                .Build());
  return list;
}

std::vector<SbpSignature> MaxPoolSignatures(const OpView&) {
  std::vector<SbpSignature> list = PlaneSignatures(1, "y");
  AddUnique(list,
            SignatureBuilder(1, 1)
                .Input(0, Sbp::PartialMax())
                .Output(0, Sbp::PartialMax())
                .Note("P(max): x = max(x0, x1) element-wise (x0 on cpu:0, x1 on cpu:1); a window maximum of "
                      "an element-wise maximum is the maximum of the window maxima, so y = max(y0, y1)")
                .Build());
  return list;
}

std::vector<SbpSignature> MaxPoolGradSignatures(const OpView&) {
  std::vector<SbpSignature> list = PlaneSignatures(3, "dx");
  AddUnique(list,
            SignatureBuilder(3, 1)
                .Input(2, Sbp::PartialSum())
                .Output(0, Sbp::PartialSum())
                .Note("dy = dy0 + dy1 (dy0 on cpu:0, dy1 on cpu:1), x and y whole on both: the routing to "
                      "each window's maximum is linear in dy, so dx0 + dx1 == dx")
                .Build());
  return list;
}

// avg_pool2d and avg_pool2d_grad are linear in their one input.
std::vector<SbpSignature> AveragePoolSignatures(const std::string& what) {
  std::vector<SbpSignature> list = PlaneSignatures(1, what);
  AddUnique(list,
            SignatureBuilder(1, 1)
                .Input(0, Sbp::PartialSum())
                .Output(0, Sbp::PartialSum())
                .Note("P: the input is a0 + a1 (a0 on cpu:0, a1 on cpu:1); window averages are linear, so "
                      "the outputs of the two devices sum to " +
                      what)
                .Build());
  return list;
}

Status MaxPoolGrad(GradContext& ctx) {
  if (!ctx.needs_input_grad[0]) return Status::Ok();
  OFL_ASSIGN_OR_RETURN(ctx.input_grads[0],
                       ctx.Emit1("max_pool2d_grad", {ctx.inputs[0], ctx.outputs[0], ctx.output_grads[0]},
                                 PoolAttrsOf(ctx.attr(), false)));
  return Status::Ok();
}

Status AvgPoolGrad(GradContext& ctx) {
  if (!ctx.needs_input_grad[0]) return Status::Ok();
  AttrMap attrs = PoolAttrsOf(ctx.attr(), true);
  attrs.Set("input_shape", ctx.Desc(ctx.inputs[0]).shape);
  OFL_ASSIGN_OR_RETURN(ctx.input_grads[0], ctx.Emit1("avg_pool2d_grad", {ctx.output_grads[0]}, attrs));
  return Status::Ok();
}

const AttrMap kExampleAttrs{{"kernel", std::vector<int64_t>{2, 2}}};

OpSchema MaxPoolSchema() {
  OpSchema schema;
  schema.name = "max_pool2d";
  schema.doc =
      "2-D max pooling (NCHW): y[n, c, i, j] = max of x[n, c] over window (i, j); padding never wins";
  schema.inputs = {{"x", "[N, C, H, W]"}};
  schema.outputs = {{"y", "[N, C, Ho, Wo], Ho = (H + 2 padding - kernel) / stride + 1"}};
  schema.attrs = PoolAttrDefs(false);
  schema.infer = [](const OpView& op) { return InferPool(op, false); };
  schema.sbp = MaxPoolSignatures;
  schema.grad = MaxPoolGrad;
  schema.example = {{{Shape{2, 3, 8, 8}, DType::kF32}}, kExampleAttrs};
  return schema;
}

OpSchema MaxPoolGradSchema() {
  OpSchema schema;
  schema.name = "max_pool2d_grad";
  schema.doc = "backward of max_pool2d: each window's dy goes to its first maximum in x";
  schema.inputs = {{"x", "the forward input [N, C, H, W]"},
                   {"y", "the forward output [N, C, Ho, Wo]"},
                   {"dy", "gradient of y"}};
  schema.outputs = {{"dx", "gradient of x"}};
  schema.attrs = PoolAttrDefs(false);
  schema.infer = InferMaxPoolGrad;
  schema.sbp = MaxPoolGradSignatures;
  const TensorDesc y{Shape{2, 3, 4, 4}, DType::kF32};
  schema.example = {{{Shape{2, 3, 8, 8}, DType::kF32}, y, y}, kExampleAttrs};
  return schema;
}

OpSchema AvgPoolSchema() {
  OpSchema schema;
  schema.name = "avg_pool2d";
  schema.doc = "2-D average pooling (NCHW): y[n, c, i, j] = mean of x[n, c] over window (i, j)";
  schema.inputs = {{"x", "[N, C, H, W]"}};
  schema.outputs = {{"y", "[N, C, Ho, Wo], Ho = (H + 2 padding - kernel) / stride + 1"}};
  schema.attrs = PoolAttrDefs(true);
  schema.infer = [](const OpView& op) { return InferPool(op, true); };
  schema.sbp = [](const OpView&) { return AveragePoolSignatures("y"); };
  schema.grad = AvgPoolGrad;
  schema.example = {{{Shape{2, 3, 8, 8}, DType::kF32}}, kExampleAttrs};
  return schema;
}

OpSchema AvgPoolGradSchema() {
  OpSchema schema;
  schema.name = "avg_pool2d_grad";
  schema.doc = "backward of avg_pool2d: each window's dy spread evenly over the taps it averaged";
  schema.inputs = {{"dy", "gradient of y [N, C, Ho, Wo]"}};
  schema.outputs = {{"dx", "gradient of x, input_shape"}};
  schema.attrs = PoolAttrDefs(true);
  schema.attrs.push_back({"input_shape", Shape{}, true, "shape of the forward x [N, C, H, W]"});
  schema.infer = InferAvgPoolGrad;
  schema.sbp = [](const OpView&) { return AveragePoolSignatures("dx"); };
  AttrMap attrs = kExampleAttrs;
  attrs.Set("input_shape", Shape{2, 3, 8, 8});
  schema.example = {{{Shape{2, 3, 4, 4}, DType::kF32}}, attrs};
  return schema;
}

}  // namespace

Status RegisterPoolOps(OpRegistry& ops, KernelRegistry& kernels) {
  struct Entry {
    OpSchema schema;
    KernelFactory f32;
    KernelFactory f64;
  };
  const Entry entries[] = {
      {MaxPoolSchema(), DnnlPoolKernel(PoolKind::kMax), LoopPoolKernel(PoolKind::kMax)},
      {MaxPoolGradSchema(), DnnlPoolGradKernel(PoolKind::kMax), LoopPoolGradKernel(PoolKind::kMax)},
      {AvgPoolSchema(), DnnlPoolKernel(PoolKind::kAverage), LoopPoolKernel(PoolKind::kAverage)},
      {AvgPoolGradSchema(), DnnlPoolGradKernel(PoolKind::kAverage), LoopPoolGradKernel(PoolKind::kAverage)},
  };
  for (const Entry& entry : entries) {
    OFL_RETURN_IF_ERROR(ops.Register(entry.schema));
    OFL_RETURN_IF_ERROR(
        kernels.Register(KernelKey{entry.schema.name, DeviceType::kCPU, DType::kF32}, entry.f32));
    OFL_RETURN_IF_ERROR(
        kernels.Register(KernelKey{entry.schema.name, DeviceType::kCPU, DType::kF64}, entry.f64));
  }
  return Status::Ok();
}

}  // namespace ofl

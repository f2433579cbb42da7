// conv2d and its two backward ops: schema, inference, SBP signatures and the
// gradient rule. Layout NCHW, weights [O, C/groups, kh, kw].
#include "ops/common/infer_helpers.h"
#include "ops/conv/conv.h"
#include "ops/conv/conv_kernels.h"
#include "ops/conv/conv_params.h"

namespace ofl {

namespace {

std::vector<AttrDef> ConvAttrDefs() {
  return {{"stride", std::vector<int64_t>{1, 1}, false, "step of the window (H, W)"},
          {"padding", std::vector<int64_t>{0, 0}, false, "zeros added before and after each axis (H, W)"},
          {"dilation", std::vector<int64_t>{1, 1}, false, "spacing between kernel taps (H, W)"},
          {"groups", int64_t{1}, false,
           "independent channel groups: group g maps input channels g C/groups.. "
           "to output channels g O/groups.."}};
}

// The conv2d attributes of an instance, to pass on to the backward ops.
AttrMap ConvAttrsOf(const AttrMap& attrs) {
  AttrMap copy;
  for (const char* name : {"stride", "padding", "dilation", "groups"}) copy.Set(name, attrs.Get(name));
  return copy;
}

// The shape of y = conv2d(x, w) after checking x and w against each other and
// the attributes; `x_who` and `w_who` name where x and w came from (an input
// or the input_shape / filter_shape attribute).
StatusOr<Shape> ConvOutputShape(const std::string& x_who, const Shape& x, const std::string& w_who,
                                const Shape& w, const Conv2dParams& p) {
  OFL_CHECK_OR_RETURN(x.rank() == 4) << x_who << ": expected rank 4 [N, C, H, W], got shape " << x.ToString();
  OFL_CHECK_OR_RETURN(w.rank() == 4) << w_who << ": expected rank 4 [O, C/groups, kh, kw], got shape "
                                     << w.ToString();
  OFL_CHECK_OR_RETURN(x[2] >= 1 && x[3] >= 1) << x_who << ": expected H, W >= 1, got shape " << x.ToString();
  OFL_CHECK_OR_RETURN(w[2] >= 1 && w[3] >= 1)
      << w_who << ": expected kh, kw >= 1, got shape " << w.ToString();
  OFL_CHECK_OR_RETURN(x[1] % p.groups == 0)
      << x_who << ": expected channels (shape[1]) divisible by groups=" << p.groups << ", got shape "
      << x.ToString();
  OFL_CHECK_OR_RETURN(w[0] % p.groups == 0)
      << w_who << ": expected output channels (shape[0]) divisible by groups=" << p.groups << ", got shape "
      << w.ToString();
  OFL_CHECK_OR_RETURN(w[1] * p.groups == x[1])
      << w_who << ": expected shape[1] = " << x[1] / p.groups << " (x channels " << x[1] << " / groups "
      << p.groups << "), got " << w[1] << " (shape " << w.ToString() << ")";
  std::vector<int64_t> y{x[0], w[0], 0, 0};
  for (int axis = 0; axis < 2; ++axis) {
    y[2 + axis] =
        WindowOutputExtent(x[2 + axis], w[2 + axis], p.stride[axis], p.padding[axis], p.dilation[axis]);
  }
  OFL_CHECK_OR_RETURN(y[2] >= 1 && y[3] >= 1)
      << x_who << ": expected H, W plus padding to cover the dilated kernel ("
      << DilatedExtent(w[2], p.dilation[0]) << ", " << DilatedExtent(w[3], p.dilation[1]) << "), got shape "
      << x.ToString() << " with padding [" << p.padding[0] << ", " << p.padding[1] << "]";
  return Shape(std::move(y));
}

Status ExpectDyShape(const OpView& op, const Shape& expected, const std::string& how) {
  OFL_CHECK_OR_RETURN(op.in(0).shape == expected) << op.Who(0) << ": expected shape " << expected.ToString()
                                                  << " (" << how << "), got " << op.in(0).shape.ToString();
  return Status::Ok();
}

StatusOr<std::vector<TensorDesc>> InferConv2d(const OpView& op) {
  OFL_RETURN_IF_ERROR(ExpectFloating(op, 0));
  OFL_RETURN_IF_ERROR(ExpectSameDType(op, 0, 1));
  OFL_ASSIGN_OR_RETURN(Conv2dParams p, ReadConv2dParams(op.Who(), op.attrs));
  OFL_ASSIGN_OR_RETURN(Shape y, ConvOutputShape(op.Who(0), op.in(0).shape, op.Who(1), op.in(1).shape, p));
  return std::vector<TensorDesc>{{y, op.in(0).dtype}};
}

StatusOr<std::vector<TensorDesc>> InferConv2dGradData(const OpView& op) {
  OFL_RETURN_IF_ERROR(ExpectFloating(op, 0));
  OFL_RETURN_IF_ERROR(ExpectSameDType(op, 0, 1));
  OFL_ASSIGN_OR_RETURN(Conv2dParams p, ReadConv2dParams(op.Who(), op.attrs));
  const Shape& x = op.attrs.GetShape("input_shape");
  OFL_ASSIGN_OR_RETURN(Shape y,
                       ConvOutputShape(op.Who() + " attribute input_shape", x, op.Who(1), op.in(1).shape, p));
  OFL_RETURN_IF_ERROR(ExpectDyShape(op, y, "conv2d of input_shape " + x.ToString() + " with w"));
  return std::vector<TensorDesc>{{x, op.in(0).dtype}};
}

StatusOr<std::vector<TensorDesc>> InferConv2dGradFilter(const OpView& op) {
  OFL_RETURN_IF_ERROR(ExpectFloating(op, 0));
  OFL_RETURN_IF_ERROR(ExpectSameDType(op, 0, 1));
  OFL_ASSIGN_OR_RETURN(Conv2dParams p, ReadConv2dParams(op.Who(), op.attrs));
  const Shape& w = op.attrs.GetShape("filter_shape");
  OFL_ASSIGN_OR_RETURN(
      Shape y, ConvOutputShape(op.Who(1), op.in(1).shape, op.Who() + " attribute filter_shape", w, p));
  OFL_RETURN_IF_ERROR(ExpectDyShape(op, y, "conv2d of x with filter_shape " + w.ToString()));
  return std::vector<TensorDesc>{{w, op.in(0).dtype}};
}

bool SingleGroup(const OpView& op) { return op.attrs.GetInt("groups") == 1; }

SbpSignature Signature(Sbp first, Sbp second, Sbp out, const std::string& note) {
  return SignatureBuilder(2, 1).Input(0, first).Input(1, second).Output(0, out).Note(note).Build();
}

const Sbp kB = Sbp::Broadcast();
const Sbp kP = Sbp::PartialSum();

// y = conv2d(x, w): linear in x and in w separately.
std::vector<SbpSignature> Conv2dSignatures(const OpView& op) {
  std::vector<SbpSignature> list;
  AddUnique(list,
            Signature(kB, kB, kB, "B: cpu:0 and cpu:1 both hold x and w whole and compute the whole y"));
  AddUnique(list,
            Signature(Sbp::Split(0), kB, Sbp::Split(0),
                      "data parallel: x [4,C,H,W], cpu:0 holds images 0-1 and cpu:1 images 2-3, w whole on "
                      "both; each computes y for its images"));
  if (SingleGroup(op)) {
    AddUnique(list,
              Signature(kB, Sbp::Split(0), Sbp::Split(1),
                        "output channels: w [8,C,kh,kw], cpu:0 holds filters 0-3 and cpu:1 filters 4-7, x "
                        "whole on both; each computes its channels of y [N,8,Ho,Wo] (groups = 1)"));
    AddUnique(list, Signature(Sbp::Split(1), Sbp::Split(1), kP,
                              "input channels: C=6, cpu:0 holds x[:, 0:3] and w[:, 0:3], cpu:1 x[:, 3:6] and "
                              "w[:, 3:6]; y is the sum over channels, so y0 + y1 == y (groups = 1)"));
  }
  AddUnique(list, Signature(kP, kB, kP,
                            "x = x0 + x1 (x0 on cpu:0, x1 on cpu:1), w whole on both: conv(x0, w) + "
                            "conv(x1, w) == conv(x, w)"));
  AddUnique(list, Signature(kB, kP, kP,
                            "w = w0 + w1 (w0 on cpu:0, w1 on cpu:1), x whole on both: conv(x, w0) + "
                            "conv(x, w1) == conv(x, w)"));
  return list;
}

// dx = conv2d_grad_data(dy, w): linear in dy and in w separately.
std::vector<SbpSignature> Conv2dGradDataSignatures(const OpView& op) {
  std::vector<SbpSignature> list;
  AddUnique(list,
            Signature(kB, kB, kB, "B: cpu:0 and cpu:1 both hold dy and w whole and compute the whole dx"));
  AddUnique(
      list,
      Signature(Sbp::Split(0), kB, Sbp::Split(0),
                "data parallel: dy [4,O,Ho,Wo], cpu:0 holds images 0-1 and cpu:1 images 2-3, w whole on "
                "both; each computes dx for its images"));
  if (SingleGroup(op)) {
    AddUnique(list, Signature(Sbp::Split(1), Sbp::Split(0), kP,
                              "output channels: O=8, cpu:0 holds dy[:, 0:4] and w[0:4], cpu:1 dy[:, 4:8] and "
                              "w[4:8]; dx sums over output channels, so dx0 + dx1 == dx (groups = 1)"));
    AddUnique(
        list,
        Signature(kB, Sbp::Split(1), Sbp::Split(1),
                  "input channels: w [O,6,kh,kw], cpu:0 holds w[:, 0:3] and cpu:1 w[:, 3:6], dy whole on "
                  "both; each computes its channels of dx (groups = 1)"));
  }
  AddUnique(list, Signature(kP, kB, kP,
                            "dy = dy0 + dy1 (dy0 on cpu:0, dy1 on cpu:1), w whole on both: the op is "
                            "linear in dy, so dx0 + dx1 == dx"));
  AddUnique(list, Signature(kB, kP, kP,
                            "w = w0 + w1 (w0 on cpu:0, w1 on cpu:1), dy whole on both: the op is "
                            "linear in w, so dx0 + dx1 == dx"));
  return list;
}

// dw = conv2d_grad_filter(dy, x): linear in dy and in x separately.
std::vector<SbpSignature> Conv2dGradFilterSignatures(const OpView& op) {
  std::vector<SbpSignature> list;
  AddUnique(list,
            Signature(kB, kB, kB, "B: cpu:0 and cpu:1 both hold dy and x whole and compute the whole dw"));
  AddUnique(
      list,
      Signature(Sbp::Split(0), Sbp::Split(0), kP,
                "data parallel: N=4, cpu:0 holds images 0-1 of dy and x, cpu:1 images 2-3; dw sums over "
                "images, so dw0 + dw1 == dw"));
  if (SingleGroup(op)) {
    AddUnique(
        list,
        Signature(Sbp::Split(1), kB, Sbp::Split(0),
                  "output channels: dy [N,8,Ho,Wo], cpu:0 holds dy[:, 0:4] and cpu:1 dy[:, 4:8], x whole "
                  "on both; each computes filters 0-3 or 4-7 of dw (groups = 1)"));
    AddUnique(list,
              Signature(kB, Sbp::Split(1), Sbp::Split(1),
                        "input channels: x [N,6,H,W], cpu:0 holds x[:, 0:3] and cpu:1 x[:, 3:6], dy whole on "
                        "both; each computes dw[:, 0:3] or dw[:, 3:6] (groups = 1)"));
  }
  AddUnique(list, Signature(kP, kB, kP,
                            "dy = dy0 + dy1 (dy0 on cpu:0, dy1 on cpu:1), x whole on both: the op is "
                            "linear in dy, so dw0 + dw1 == dw"));
  AddUnique(list, Signature(kB, kP, kP,
                            "x = x0 + x1 (x0 on cpu:0, x1 on cpu:1), dy whole on both: the op is "
                            "linear in x, so dw0 + dw1 == dw"));
  return list;
}

// dx and dw come from the two backward ops, which carry x's and w's shapes
// (not derivable from dy: floor division loses the tail of H and W).
Status Conv2dGrad(GradContext& ctx) {
  const ValueRef x = ctx.inputs[0], w = ctx.inputs[1], dy = ctx.output_grads[0];
  if (ctx.needs_input_grad[0]) {
    AttrMap attrs = ConvAttrsOf(ctx.attr());
    attrs.Set("input_shape", ctx.Desc(x).shape);
    OFL_ASSIGN_OR_RETURN(ctx.input_grads[0], ctx.Emit1("conv2d_grad_data", {dy, w}, attrs));
  }
  if (ctx.needs_input_grad[1]) {
    AttrMap attrs = ConvAttrsOf(ctx.attr());
    attrs.Set("filter_shape", ctx.Desc(w).shape);
    OFL_ASSIGN_OR_RETURN(ctx.input_grads[1], ctx.Emit1("conv2d_grad_filter", {dy, x}, attrs));
  }
  return Status::Ok();
}

const TensorDesc kExampleX{Shape{2, 3, 8, 8}, DType::kF32};
const TensorDesc kExampleW{Shape{4, 3, 3, 3}, DType::kF32};
const TensorDesc kExampleY{Shape{2, 4, 6, 6}, DType::kF32};

OpSchema Conv2dSchema() {
  OpSchema schema;
  schema.name = "conv2d";
  schema.doc =
      "2-D cross-correlation (NCHW): y[n, o] = sum over c in o's group of x[n, c] * w[o, c] with stride, "
      "zero padding, dilation and channel groups";
  schema.inputs = {{"x", "[N, C, H, W]"}, {"w", "[O, C/groups, kh, kw]"}};
  schema.outputs = {{"y", "[N, O, Ho, Wo], Ho = (H + 2 padding - dilation (kh - 1) - 1) / stride + 1"}};
  schema.attrs = ConvAttrDefs();
  schema.infer = InferConv2d;
  schema.sbp = Conv2dSignatures;
  schema.grad = Conv2dGrad;
  schema.example = {{kExampleX, kExampleW}, {}};
  return schema;
}

OpSchema Conv2dGradDataSchema() {
  OpSchema schema;
  schema.name = "conv2d_grad_data";
  schema.doc = "backward of conv2d with respect to x (a transposed convolution of dy with w)";
  schema.inputs = {{"dy", "gradient of y, [N, O, Ho, Wo]"},
                   {"w", "the forward weights [O, C/groups, kh, kw]"}};
  schema.outputs = {{"dx", "gradient of x, input_shape"}};
  schema.attrs = ConvAttrDefs();
  schema.attrs.push_back({"input_shape", Shape{}, true, "shape of the forward x [N, C, H, W]"});
  schema.infer = InferConv2dGradData;
  schema.sbp = Conv2dGradDataSignatures;
  schema.example = {{kExampleY, kExampleW}, {{"input_shape", kExampleX.shape}}};
  return schema;
}

OpSchema Conv2dGradFilterSchema() {
  OpSchema schema;
  schema.name = "conv2d_grad_filter";
  schema.doc = "backward of conv2d with respect to w (dy correlated with x, summed over images)";
  schema.inputs = {{"dy", "gradient of y, [N, O, Ho, Wo]"}, {"x", "the forward input [N, C, H, W]"}};
  schema.outputs = {{"dw", "gradient of w, filter_shape"}};
  schema.attrs = ConvAttrDefs();
  schema.attrs.push_back({"filter_shape", Shape{}, true, "shape of the forward w [O, C/groups, kh, kw]"});
  schema.infer = InferConv2dGradFilter;
  schema.sbp = Conv2dGradFilterSignatures;
  schema.example = {{kExampleY, kExampleX}, {{"filter_shape", kExampleW.shape}}};
  return schema;
}

}  // namespace

Status RegisterConvOps(OpRegistry& ops, KernelRegistry& kernels) {
  const std::pair<OpSchema, ConvPass> entries[] = {{Conv2dSchema(), ConvPass::kForward},
                                                   {Conv2dGradDataSchema(), ConvPass::kBackwardData},
                                                   {Conv2dGradFilterSchema(), ConvPass::kBackwardFilter}};
  for (const auto& [schema, pass] : entries) {
    OFL_RETURN_IF_ERROR(ops.Register(schema));
    OFL_RETURN_IF_ERROR(
        kernels.Register(KernelKey{schema.name, DeviceType::kCPU, DType::kF32}, DnnlConvKernel(pass)));
    OFL_RETURN_IF_ERROR(
        kernels.Register(KernelKey{schema.name, DeviceType::kCPU, DType::kF64}, LoopConvKernel(pass)));
  }
  return RegisterPoolOps(ops, kernels);
}

}  // namespace ofl

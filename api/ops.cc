#include "api/ops.h"

#include <algorithm>

namespace ofl::api {

namespace {

// The builder of the first input that has one. Inputs that are all
// default-constructed have no builder to record an error in; they give an
// empty Tensor and the mistake surfaces where that Tensor meets a builder.
GraphBuilder* BuilderOf(const std::vector<Tensor>& inputs) {
  for (const Tensor& input : inputs) {
    if (input.builder() != nullptr) return input.builder();
  }
  return nullptr;
}

Tensor Emit1(const std::string& op, const std::vector<Tensor>& inputs, const AttrMap& attrs = {}) {
  GraphBuilder* builder = BuilderOf(inputs);
  return builder == nullptr ? Tensor() : builder->Op1(op, inputs, attrs);
}

// Op() with exactly `count` results (empty Tensors when the op failed).
std::vector<Tensor> EmitN(const std::string& op, const std::vector<Tensor>& inputs, const AttrMap& attrs,
                          size_t count) {
  GraphBuilder* builder = BuilderOf(inputs);
  if (builder == nullptr) return std::vector<Tensor>(count);
  std::vector<Tensor> outputs = builder->Op(op, inputs, attrs);
  outputs.resize(count, builder->Empty());
  return outputs;
}

AttrMap ConvAttrs(const Conv2dOptions& options) {
  return {{"stride", options.stride},
          {"padding", options.padding},
          {"dilation", options.dilation},
          {"groups", options.groups}};
}

AttrMap PoolAttrs(const Pool2dOptions& options, bool average) {
  AttrMap attrs{{"kernel", options.kernel}, {"stride", options.stride}, {"padding", options.padding}};
  if (average) attrs.Set("count_include_pad", options.count_include_pad);
  return attrs;
}

AttrMap MatmulAttrs(const MatmulOptions& options) {
  return {
      {"transpose_a", options.transpose_a}, {"transpose_b", options.transpose_b}, {"alpha", options.alpha}};
}

AttrMap ReduceAttrs(const std::vector<int64_t>& axes, bool keepdims) {
  return {{"axes", axes}, {"keepdims", keepdims}};
}

}  // namespace

Tensor Add(const Tensor& a, const Tensor& b) { return Emit1("add", {a, b}); }
Tensor Sub(const Tensor& a, const Tensor& b) { return Emit1("sub", {a, b}); }
Tensor Mul(const Tensor& a, const Tensor& b) { return Emit1("mul", {a, b}); }
Tensor Div(const Tensor& a, const Tensor& b) { return Emit1("div", {a, b}); }
Tensor Maximum(const Tensor& a, const Tensor& b) { return Emit1("maximum", {a, b}); }
Tensor Minimum(const Tensor& a, const Tensor& b) { return Emit1("minimum", {a, b}); }
Tensor Pow(const Tensor& a, const Tensor& b) { return Emit1("pow", {a, b}); }

BinaryGrads MaximumGrad(const Tensor& a, const Tensor& b, const Tensor& dy) {
  std::vector<Tensor> out = EmitN("maximum_grad", {a, b, dy}, {}, 2);
  return {out[0], out[1]};
}
BinaryGrads MinimumGrad(const Tensor& a, const Tensor& b, const Tensor& dy) {
  std::vector<Tensor> out = EmitN("minimum_grad", {a, b, dy}, {}, 2);
  return {out[0], out[1]};
}
BinaryGrads PowGrad(const Tensor& a, const Tensor& b, const Tensor& y, const Tensor& dy) {
  std::vector<Tensor> out = EmitN("pow_grad", {a, b, y, dy}, {}, 2);
  return {out[0], out[1]};
}

Tensor Neg(const Tensor& x) { return Emit1("neg", {x}); }
Tensor Abs(const Tensor& x) { return Emit1("abs", {x}); }
Tensor Sign(const Tensor& x) { return Emit1("sign", {x}); }
Tensor Exp(const Tensor& x) { return Emit1("exp", {x}); }
Tensor Log(const Tensor& x) { return Emit1("log", {x}); }
Tensor Sqrt(const Tensor& x) { return Emit1("sqrt", {x}); }
Tensor Rsqrt(const Tensor& x) { return Emit1("rsqrt", {x}); }
Tensor Tanh(const Tensor& x) { return Emit1("tanh", {x}); }
Tensor Sigmoid(const Tensor& x) { return Emit1("sigmoid", {x}); }
Tensor Relu(const Tensor& x) { return Emit1("relu", {x}); }
Tensor Silu(const Tensor& x) { return Emit1("silu", {x}); }
Tensor Gelu(const Tensor& x, const std::string& approximate) {
  return Emit1("gelu", {x}, {{"approximate", approximate}});
}
Tensor ReluGrad(const Tensor& y, const Tensor& dy) { return Emit1("relu_grad", {y, dy}); }
Tensor TanhGrad(const Tensor& y, const Tensor& dy) { return Emit1("tanh_grad", {y, dy}); }
Tensor SigmoidGrad(const Tensor& y, const Tensor& dy) { return Emit1("sigmoid_grad", {y, dy}); }
Tensor SiluGrad(const Tensor& x, const Tensor& dy) { return Emit1("silu_grad", {x, dy}); }
Tensor GeluGrad(const Tensor& x, const Tensor& dy, const std::string& approximate) {
  return Emit1("gelu_grad", {x, dy}, {{"approximate", approximate}});
}

Tensor ScalarAdd(const Tensor& x, double scalar) { return Emit1("scalar_add", {x}, {{"scalar", scalar}}); }
Tensor ScalarSub(const Tensor& x, double scalar) { return Emit1("scalar_sub", {x}, {{"scalar", scalar}}); }
Tensor ScalarMul(const Tensor& x, double scalar) { return Emit1("scalar_mul", {x}, {{"scalar", scalar}}); }
Tensor ScalarDiv(const Tensor& x, double scalar) { return Emit1("scalar_div", {x}, {{"scalar", scalar}}); }
Tensor ScalarPow(const Tensor& x, double scalar) { return Emit1("scalar_pow", {x}, {{"scalar", scalar}}); }

Tensor ReduceSum(const Tensor& x, const std::vector<int64_t>& axes, bool keepdims) {
  return Emit1("reduce_sum", {x}, ReduceAttrs(axes, keepdims));
}
Tensor ReduceMean(const Tensor& x, const std::vector<int64_t>& axes, bool keepdims) {
  return Emit1("reduce_mean", {x}, ReduceAttrs(axes, keepdims));
}
Tensor ReduceMax(const Tensor& x, const std::vector<int64_t>& axes, bool keepdims) {
  return Emit1("reduce_max", {x}, ReduceAttrs(axes, keepdims));
}
Tensor ReduceMaxGrad(const Tensor& x, const Tensor& y, const Tensor& dy, const std::vector<int64_t>& axes,
                     bool keepdims) {
  return Emit1("reduce_max_grad", {x, y, dy}, ReduceAttrs(axes, keepdims));
}

Tensor Reshape(const Tensor& x, const Shape& shape) { return Emit1("reshape", {x}, {{"shape", shape}}); }
Tensor Transpose(const Tensor& x, const std::vector<int64_t>& perm) {
  return Emit1("transpose", {x}, {{"perm", perm}});
}
Tensor Slice(const Tensor& x, const std::vector<int64_t>& start, const std::vector<int64_t>& stop,
             const std::vector<int64_t>& step) {
  return Emit1("slice", {x}, {{"start", start}, {"stop", stop}, {"step", step}});
}
Tensor SliceGrad(const Tensor& dy, const Shape& shape, const std::vector<int64_t>& start,
                 const std::vector<int64_t>& stop, const std::vector<int64_t>& step) {
  return Emit1("slice_grad", {dy}, {{"shape", shape}, {"start", start}, {"stop", stop}, {"step", step}});
}
Tensor Concat(const std::vector<Tensor>& xs, int64_t axis) { return Emit1("concat", xs, {{"axis", axis}}); }
std::vector<Tensor> Split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t axis) {
  return EmitN("split", {x}, {{"axis", axis}, {"sizes", sizes}}, sizes.size());
}
Tensor BroadcastTo(const Tensor& x, const Shape& shape) {
  return Emit1("broadcast_to", {x}, {{"shape", shape}});
}
Tensor Cast(const Tensor& x, DType dtype) { return Emit1("cast", {x}, {{"dtype", dtype}}); }
Tensor Identity(const Tensor& x) { return Emit1("identity", {x}); }
Tensor AddN(const std::vector<Tensor>& xs) { return Emit1("add_n", xs); }

Tensor Matmul(const Tensor& a, const Tensor& b, const MatmulOptions& options) {
  return Emit1("matmul", {a, b}, MatmulAttrs(options));
}
Tensor BatchMatmul(const Tensor& a, const Tensor& b, const MatmulOptions& options) {
  return Emit1("batch_matmul", {a, b}, MatmulAttrs(options));
}
Tensor BiasAdd(const Tensor& x, const Tensor& bias, int64_t axis) {
  return Emit1("bias_add", {x, bias}, {{"axis", axis}});
}

Tensor Conv2d(const Tensor& x, const Tensor& w, const Conv2dOptions& options) {
  return Emit1("conv2d", {x, w}, ConvAttrs(options));
}
Tensor Conv2dGradData(const Tensor& dy, const Tensor& w, const Shape& input_shape,
                      const Conv2dOptions& options) {
  return Emit1("conv2d_grad_data", {dy, w}, ConvAttrs(options).Set("input_shape", input_shape));
}
Tensor Conv2dGradFilter(const Tensor& dy, const Tensor& x, const Shape& filter_shape,
                        const Conv2dOptions& options) {
  return Emit1("conv2d_grad_filter", {dy, x}, ConvAttrs(options).Set("filter_shape", filter_shape));
}
Tensor MaxPool2d(const Tensor& x, const Pool2dOptions& options) {
  return Emit1("max_pool2d", {x}, PoolAttrs(options, false));
}
Tensor MaxPool2dGrad(const Tensor& x, const Tensor& y, const Tensor& dy, const Pool2dOptions& options) {
  return Emit1("max_pool2d_grad", {x, y, dy}, PoolAttrs(options, false));
}
Tensor AvgPool2d(const Tensor& x, const Pool2dOptions& options) {
  return Emit1("avg_pool2d", {x}, PoolAttrs(options, true));
}
Tensor AvgPool2dGrad(const Tensor& dy, const Shape& input_shape, const Pool2dOptions& options) {
  return Emit1("avg_pool2d_grad", {dy}, PoolAttrs(options, true).Set("input_shape", input_shape));
}

Tensor Softmax(const Tensor& x, int64_t axis) { return Emit1("softmax", {x}, {{"axis", axis}}); }
Tensor LogSoftmax(const Tensor& x, int64_t axis) { return Emit1("log_softmax", {x}, {{"axis", axis}}); }
Tensor SoftmaxGrad(const Tensor& y, const Tensor& dy, int64_t axis) {
  return Emit1("softmax_grad", {y, dy}, {{"axis", axis}});
}
Tensor LogSoftmaxGrad(const Tensor& y, const Tensor& dy, int64_t axis) {
  return Emit1("log_softmax_grad", {y, dy}, {{"axis", axis}});
}
Tensor CausalSoftmax(const Tensor& x, double scale) {
  return Emit1("causal_softmax", {x}, {{"scale", scale}});
}
Tensor CausalSoftmaxGrad(const Tensor& y, const Tensor& dy, double scale) {
  return Emit1("causal_softmax_grad", {y, dy}, {{"scale", scale}});
}

LayerNormOutputs LayerNorm(const Tensor& x, const Tensor& gamma, const Tensor& beta, int64_t begin_norm_axis,
                           double epsilon) {
  std::vector<Tensor> out =
      EmitN("layer_norm", {x, gamma, beta}, {{"begin_norm_axis", begin_norm_axis}, {"epsilon", epsilon}}, 3);
  return {out[0], out[1], out[2]};
}
Tensor LayerNormGrad(const Tensor& dy, const Tensor& x, const Tensor& mean, const Tensor& inv_std,
                     const Tensor& gamma, int64_t begin_norm_axis) {
  return Emit1("layer_norm_grad", {dy, x, mean, inv_std, gamma}, {{"begin_norm_axis", begin_norm_axis}});
}
LayerNormParamGrads LayerNormParamGrad(const Tensor& dy, const Tensor& x, const Tensor& mean,
                                       const Tensor& inv_std, int64_t begin_norm_axis) {
  std::vector<Tensor> out =
      EmitN("layer_norm_param_grad", {dy, x, mean, inv_std}, {{"begin_norm_axis", begin_norm_axis}}, 2);
  return {out[0], out[1]};
}
RmsNormOutputs RmsNorm(const Tensor& x, const Tensor& weight, double epsilon) {
  std::vector<Tensor> out = EmitN("rms_norm", {x, weight}, {{"epsilon", epsilon}}, 2);
  return {out[0], out[1]};
}
Tensor RmsNormGrad(const Tensor& dy, const Tensor& x, const Tensor& inv_rms, const Tensor& weight) {
  return Emit1("rms_norm_grad", {dy, x, inv_rms, weight});
}
Tensor RmsNormParamGrad(const Tensor& dy, const Tensor& x, const Tensor& inv_rms) {
  return Emit1("rms_norm_param_grad", {dy, x, inv_rms});
}

CrossEntropyOutputs SparseSoftmaxCrossEntropy(const Tensor& logits, const Tensor& labels) {
  std::vector<Tensor> out = EmitN("sparse_softmax_cross_entropy", {logits, labels}, {}, 2);
  return {out[0], out[1]};
}
Tensor SparseSoftmaxCrossEntropyGrad(const Tensor& prob, const Tensor& labels, const Tensor& dloss) {
  return Emit1("sparse_softmax_cross_entropy_grad", {prob, labels, dloss});
}
Tensor MseLoss(const Tensor& pred, const Tensor& target) { return Emit1("mse_loss", {pred, target}); }

Tensor Embedding(const Tensor& weight, const Tensor& indices) {
  return Emit1("embedding", {weight, indices});
}
Tensor EmbeddingGrad(const Tensor& indices, const Tensor& dy, int64_t num_embeddings) {
  return Emit1("embedding_grad", {indices, dy}, {{"num_embeddings", num_embeddings}});
}

Tensor Fill(GraphBuilder& builder, const Shape& shape, double value, DType dtype) {
  return builder.Op1("fill", {}, {{"shape", shape}, {"value", value}, {"dtype", dtype}});
}
Tensor RandomUniform(GraphBuilder& builder, const Shape& shape, int64_t seed, double low, double high,
                     DType dtype) {
  return builder.Op1("random_uniform", {},
                     {{"shape", shape}, {"seed", seed}, {"low", low}, {"high", high}, {"dtype", dtype}});
}
Tensor RandomNormal(GraphBuilder& builder, const Shape& shape, int64_t seed, double mean, double stddev,
                    DType dtype) {
  return builder.Op1("random_normal", {},
                     {{"shape", shape}, {"seed", seed}, {"mean", mean}, {"std", stddev}, {"dtype", dtype}});
}
Tensor Dropout(const Tensor& x, double rate, int64_t seed) {
  return Emit1("dropout", {x}, {{"rate", rate}, {"seed", seed}});
}

Tensor ClipScale(const Tensor& sum_of_squares, double max_norm) {
  return Emit1("clip_scale", {sum_of_squares}, {{"max_norm", max_norm}});
}
Tensor ScheduleLearningRate(const Tensor& step, double learning_rate, const LearningRateSchedule& schedule,
                            DType dtype) {
  return Emit1("learning_rate_schedule", {step},
               {{"learning_rate", learning_rate},
                {"warmup_steps", schedule.warmup_steps},
                {"decay_steps", schedule.decay_steps},
                {"min_learning_rate", schedule.min_learning_rate},
                {"dtype", dtype}});
}

Tensor BiasAddGelu(const Tensor& x, const Tensor& bias, int64_t axis, const std::string& approximate) {
  return Emit1("bias_add_gelu", {x, bias}, {{"axis", axis}, {"approximate", approximate}});
}
Tensor BiasAddGeluGrad(const Tensor& dy, const Tensor& x, const Tensor& bias, int64_t axis,
                       const std::string& approximate) {
  return Emit1("bias_add_gelu_grad", {dy, x, bias}, {{"axis", axis}, {"approximate", approximate}});
}

Tensor Delay(const Tensor& x, int64_t microseconds, int64_t grad_microseconds) {
  return Emit1("delay", {x}, {{"microseconds", microseconds}, {"grad_microseconds", grad_microseconds}});
}

const std::vector<std::string>& WrappedOpNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> list = {"add",
                                     "sub",
                                     "mul",
                                     "div",
                                     "maximum",
                                     "minimum",
                                     "pow",
                                     "maximum_grad",
                                     "minimum_grad",
                                     "pow_grad",
                                     "neg",
                                     "abs",
                                     "sign",
                                     "exp",
                                     "log",
                                     "sqrt",
                                     "rsqrt",
                                     "tanh",
                                     "sigmoid",
                                     "relu",
                                     "silu",
                                     "gelu",
                                     "relu_grad",
                                     "tanh_grad",
                                     "sigmoid_grad",
                                     "silu_grad",
                                     "gelu_grad",
                                     "scalar_add",
                                     "scalar_sub",
                                     "scalar_mul",
                                     "scalar_div",
                                     "scalar_pow",
                                     "reduce_sum",
                                     "reduce_mean",
                                     "reduce_max",
                                     "reduce_max_grad",
                                     "reshape",
                                     "transpose",
                                     "slice",
                                     "slice_grad",
                                     "concat",
                                     "split",
                                     "broadcast_to",
                                     "cast",
                                     "identity",
                                     "add_n",
                                     "matmul",
                                     "batch_matmul",
                                     "bias_add",
                                     "conv2d",
                                     "conv2d_grad_data",
                                     "conv2d_grad_filter",
                                     "max_pool2d",
                                     "max_pool2d_grad",
                                     "avg_pool2d",
                                     "avg_pool2d_grad",
                                     "softmax",
                                     "log_softmax",
                                     "softmax_grad",
                                     "log_softmax_grad",
                                     "causal_softmax",
                                     "causal_softmax_grad",
                                     "layer_norm",
                                     "layer_norm_grad",
                                     "layer_norm_param_grad",
                                     "rms_norm",
                                     "rms_norm_grad",
                                     "rms_norm_param_grad",
                                     "sparse_softmax_cross_entropy",
                                     "sparse_softmax_cross_entropy_grad",
                                     "mse_loss",
                                     "embedding",
                                     "embedding_grad",
                                     "fill",
                                     "random_uniform",
                                     "random_normal",
                                     "dropout",
                                     "clip_scale",
                                     "learning_rate_schedule",
                                     "bias_add_gelu",
                                     "bias_add_gelu_grad",
                                     "delay"};
    std::sort(list.begin(), list.end());
    return list;
  }();
  return names;
}

const std::map<std::string, std::string>& InternalOpNames() {
  static const std::map<std::string, std::string> names = {
      {"sgd_update", "updates a variable in place; emitted by the optimizer pass from Minimize"},
      {"adam_update", "updates a variable in place; emitted by the optimizer pass from Minimize"},
      {"adam_update_scaled", "updates a variable in place; made by the fusion pass from Minimize's updates"},
      {"increment", "advances the optimizer step counter in place; emitted by the optimizer pass"},
      {"unpack", "splits an input into micro-batches; emitted by the micro_batching pass"},
      {"pack", "joins a fetched tensor's micro-batches; emitted by the micro_batching pass"},
      {"repeat", "reuses a per-step value in every micro-batch; emitted by the micro_batching pass"},
      {"acc", "sums gradients and fetched scalars over micro-batches; emitted by the micro_batching pass"},
      {"add_layer_norm", "fused residual add + layer_norm for the CUDA backend; no fusion pass emits it yet"},
      {"fused_causal_attention", "flash-style fused attention for the CUDA backend; no fusion pass emits it yet"},
      {"fused_causal_attention_grad", "gradient of fused_causal_attention; emitted by its gradient rule"},
      {"multi_tensor_adam_update",
       "Adam/AdamW over many variables in one launch; no optimizer pass emits it yet"},
  };
  return names;
}

Tensor operator+(const Tensor& a, const Tensor& b) { return Add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return Sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return Mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return Div(a, b); }
Tensor operator-(const Tensor& x) { return Neg(x); }
Tensor operator+(const Tensor& x, double scalar) { return ScalarAdd(x, scalar); }
Tensor operator-(const Tensor& x, double scalar) { return ScalarSub(x, scalar); }
Tensor operator*(const Tensor& x, double scalar) { return ScalarMul(x, scalar); }
Tensor operator/(const Tensor& x, double scalar) { return ScalarDiv(x, scalar); }
Tensor operator+(double scalar, const Tensor& x) { return ScalarAdd(x, scalar); }
Tensor operator-(double scalar, const Tensor& x) { return ScalarAdd(Neg(x), scalar); }
Tensor operator*(double scalar, const Tensor& x) { return ScalarMul(x, scalar); }

}  // namespace ofl::api

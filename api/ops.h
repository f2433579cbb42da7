// Every op of the op library (docs/ops.md) as a typed C++ function with
// named attributes, on api::Tensor. Each function emits through the
// tensors' GraphBuilder (GraphBuilder::Op), so the op is inferred when it is
// added and a mistake is recorded in the builder, naming the op and the
// tensors (see the error convention in graph_builder.h); the function then
// returns an empty Tensor. Ops without inputs take the builder.
//
// Attribute defaults are the schema's. Functions returning several outputs
// return a small struct (or a vector for split). Ops that update their
// inputs in place (optimizer updates, the step counter) are emitted by the
// optimizer pass from GraphBuilder::Minimize and have no wrapper here
// (InternalOpNames says why); GraphBuilder::Op reaches any op by name.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "api/graph_builder.h"
#include "api/optimizer.h"

namespace ofl::api {

// ---- element-wise binary (numpy broadcasting) -------------------------------
/// a + b.
Tensor Add(const Tensor& a, const Tensor& b);
/// a - b.
Tensor Sub(const Tensor& a, const Tensor& b);
/// a * b.
Tensor Mul(const Tensor& a, const Tensor& b);
/// a / b.
Tensor Div(const Tensor& a, const Tensor& b);
/// max(a, b) (NaN propagates).
Tensor Maximum(const Tensor& a, const Tensor& b);
/// min(a, b) (NaN propagates).
Tensor Minimum(const Tensor& a, const Tensor& b);
/// a ** b (floating point).
Tensor Pow(const Tensor& a, const Tensor& b);

/// Gradients of a binary op with respect to both operands.
struct BinaryGrads {
  Tensor da;
  Tensor db;
};
/// Backward of maximum (ties split evenly).
BinaryGrads MaximumGrad(const Tensor& a, const Tensor& b, const Tensor& dy);
/// Backward of minimum (ties split evenly).
BinaryGrads MinimumGrad(const Tensor& a, const Tensor& b, const Tensor& dy);
/// Backward of pow given its output y.
BinaryGrads PowGrad(const Tensor& a, const Tensor& b, const Tensor& y, const Tensor& dy);

// ---- element-wise unary -----------------------------------------------------
/// -x.
Tensor Neg(const Tensor& x);
/// |x|.
Tensor Abs(const Tensor& x);
/// sign(x).
Tensor Sign(const Tensor& x);
/// e^x.
Tensor Exp(const Tensor& x);
/// ln x.
Tensor Log(const Tensor& x);
/// sqrt(x).
Tensor Sqrt(const Tensor& x);
/// 1 / sqrt(x).
Tensor Rsqrt(const Tensor& x);
/// tanh(x).
Tensor Tanh(const Tensor& x);
/// 1 / (1 + e^-x).
Tensor Sigmoid(const Tensor& x);
/// max(x, 0).
Tensor Relu(const Tensor& x);
/// x sigmoid(x).
Tensor Silu(const Tensor& x);
/// gelu(x); `approximate` is "none" (erf) or "tanh".
Tensor Gelu(const Tensor& x, const std::string& approximate = "none");
/// Backward of relu from its output y.
Tensor ReluGrad(const Tensor& y, const Tensor& dy);
/// Backward of tanh from its output y.
Tensor TanhGrad(const Tensor& y, const Tensor& dy);
/// Backward of sigmoid from its output y.
Tensor SigmoidGrad(const Tensor& y, const Tensor& dy);
/// Backward of silu from its input x.
Tensor SiluGrad(const Tensor& x, const Tensor& dy);
/// Backward of gelu from its input x.
Tensor GeluGrad(const Tensor& x, const Tensor& dy, const std::string& approximate = "none");

// ---- tensor op scalar ---------------------------------------------------------
/// x + scalar.
Tensor ScalarAdd(const Tensor& x, double scalar);
/// x - scalar.
Tensor ScalarSub(const Tensor& x, double scalar);
/// x * scalar.
Tensor ScalarMul(const Tensor& x, double scalar);
/// x / scalar.
Tensor ScalarDiv(const Tensor& x, double scalar);
/// x ** scalar (floating point).
Tensor ScalarPow(const Tensor& x, double scalar);

// ---- reductions ([] axes = all) -----------------------------------------------
/// Sum over `axes`.
Tensor ReduceSum(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdims = false);
/// Mean over `axes`.
Tensor ReduceMean(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdims = false);
/// Maximum over `axes`.
Tensor ReduceMax(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdims = false);
/// Backward of reduce_max (ties split evenly).
Tensor ReduceMaxGrad(const Tensor& x, const Tensor& y, const Tensor& dy,
                     const std::vector<int64_t>& axes = {}, bool keepdims = false);

// ---- layout -----------------------------------------------------------------
/// x viewed with `shape` (one -1 allowed).
Tensor Reshape(const Tensor& x, const Shape& shape);
/// Axes permuted: y.shape[i] = x.shape[perm[i]].
Tensor Transpose(const Tensor& x, const std::vector<int64_t>& perm);
/// x[start:stop:step] per axis (Python rules; [] step = all 1).
Tensor Slice(const Tensor& x, const std::vector<int64_t>& start, const std::vector<int64_t>& stop,
             const std::vector<int64_t>& step = {});
/// Backward of slice: dy placed into zeros of `shape`.
Tensor SliceGrad(const Tensor& dy, const Shape& shape, const std::vector<int64_t>& start,
                 const std::vector<int64_t>& stop, const std::vector<int64_t>& step = {});
/// `xs` joined along `axis`.
Tensor Concat(const std::vector<Tensor>& xs, int64_t axis = 0);
/// x cut along `axis` into pieces of `sizes`.
std::vector<Tensor> Split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t axis = 0);
/// x broadcast (numpy rules) to `shape`.
Tensor BroadcastTo(const Tensor& x, const Shape& shape);
/// x converted to `dtype`.
Tensor Cast(const Tensor& x, DType dtype);
/// x unchanged (a copy; a place to hang a hint).
Tensor Identity(const Tensor& x);
/// Sum of same-shaped `xs`.
Tensor AddN(const std::vector<Tensor>& xs);

// ---- matmul -------------------------------------------------------------------
/// Attributes of matmul and batch_matmul.
struct MatmulOptions {
  bool transpose_a = false;
  bool transpose_b = false;
  double alpha = 1;
};
/// alpha op(a) op(b) for a [M, K], b [K, N].
Tensor Matmul(const Tensor& a, const Tensor& b, const MatmulOptions& options = {});
/// Matmul over the last two axes, same leading (batch) axes.
Tensor BatchMatmul(const Tensor& a, const Tensor& b, const MatmulOptions& options = {});
/// x + bias along `axis`.
Tensor BiasAdd(const Tensor& x, const Tensor& bias, int64_t axis = -1);

// ---- convolution and pooling (NCHW) ---------------------------------------------
/// Attributes of conv2d and its gradients.
struct Conv2dOptions {
  std::vector<int64_t> stride = {1, 1};
  std::vector<int64_t> padding = {0, 0};
  std::vector<int64_t> dilation = {1, 1};
  int64_t groups = 1;
};
/// x [N, C, H, W] convolved with w [O, C/groups, kh, kw].
Tensor Conv2d(const Tensor& x, const Tensor& w, const Conv2dOptions& options = {});
/// Backward of conv2d for x of `input_shape`.
Tensor Conv2dGradData(const Tensor& dy, const Tensor& w, const Shape& input_shape,
                      const Conv2dOptions& options = {});
/// Backward of conv2d for w of `filter_shape`.
Tensor Conv2dGradFilter(const Tensor& dy, const Tensor& x, const Shape& filter_shape,
                        const Conv2dOptions& options = {});
/// Attributes of the pooling ops.
struct Pool2dOptions {
  std::vector<int64_t> kernel;       ///< required (H, W)
  std::vector<int64_t> stride = {};  ///< [] = kernel
  std::vector<int64_t> padding = {0, 0};
  bool count_include_pad = true;  ///< avg only
};
/// Max pooling.
Tensor MaxPool2d(const Tensor& x, const Pool2dOptions& options);
/// Backward of max pooling.
Tensor MaxPool2dGrad(const Tensor& x, const Tensor& y, const Tensor& dy, const Pool2dOptions& options);
/// Average pooling.
Tensor AvgPool2d(const Tensor& x, const Pool2dOptions& options);
/// Backward of average pooling for x of `input_shape`.
Tensor AvgPool2dGrad(const Tensor& dy, const Shape& input_shape, const Pool2dOptions& options);

// ---- softmax --------------------------------------------------------------------
/// softmax along `axis`.
Tensor Softmax(const Tensor& x, int64_t axis = -1);
/// log softmax along `axis`.
Tensor LogSoftmax(const Tensor& x, int64_t axis = -1);
/// Backward of softmax from its output y.
Tensor SoftmaxGrad(const Tensor& y, const Tensor& dy, int64_t axis = -1);
/// Backward of log_softmax from its output y.
Tensor LogSoftmaxGrad(const Tensor& y, const Tensor& dy, int64_t axis = -1);
/// softmax(scale x) over the last axis with keys after the query masked.
Tensor CausalSoftmax(const Tensor& x, double scale = 1);
/// Backward of causal_softmax from its output y.
Tensor CausalSoftmaxGrad(const Tensor& y, const Tensor& dy, double scale = 1);

// ---- normalisation --------------------------------------------------------------
/// layer_norm's outputs; mean and inv_std are saved for backward.
struct LayerNormOutputs {
  Tensor y;
  Tensor mean;
  Tensor inv_std;
};
/// Layer norm over axes >= begin_norm_axis, then gamma x + beta.
LayerNormOutputs LayerNorm(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                           int64_t begin_norm_axis = -1, double epsilon = 1e-5);
/// Backward of layer_norm for x.
Tensor LayerNormGrad(const Tensor& dy, const Tensor& x, const Tensor& mean, const Tensor& inv_std,
                     const Tensor& gamma, int64_t begin_norm_axis = -1);
/// Gradients of gamma and beta.
struct LayerNormParamGrads {
  Tensor dgamma;
  Tensor dbeta;
};
/// Backward of layer_norm for gamma and beta.
LayerNormParamGrads LayerNormParamGrad(const Tensor& dy, const Tensor& x, const Tensor& mean,
                                       const Tensor& inv_std, int64_t begin_norm_axis = -1);
/// rms_norm's outputs; inv_rms is saved for backward.
struct RmsNormOutputs {
  Tensor y;
  Tensor inv_rms;
};
/// RMS norm over the last axis times `weight`.
RmsNormOutputs RmsNorm(const Tensor& x, const Tensor& weight, double epsilon = 1e-6);
/// Backward of rms_norm for x.
Tensor RmsNormGrad(const Tensor& dy, const Tensor& x, const Tensor& inv_rms, const Tensor& weight);
/// Backward of rms_norm for weight.
Tensor RmsNormParamGrad(const Tensor& dy, const Tensor& x, const Tensor& inv_rms);

// ---- losses ---------------------------------------------------------------------
/// sparse_softmax_cross_entropy's outputs: the mean loss [] and the saved
/// probabilities (not differentiable).
struct CrossEntropyOutputs {
  Tensor loss;
  Tensor prob;
};
/// Mean cross entropy of logits [N, C] against integer labels [N].
CrossEntropyOutputs SparseSoftmaxCrossEntropy(const Tensor& logits, const Tensor& labels);
/// Backward of sparse_softmax_cross_entropy.
Tensor SparseSoftmaxCrossEntropyGrad(const Tensor& prob, const Tensor& labels, const Tensor& dloss);
/// Mean squared error [].
Tensor MseLoss(const Tensor& pred, const Tensor& target);

// ---- embedding ------------------------------------------------------------------
/// Rows of weight [V, D] at integer `indices`: [..., D].
Tensor Embedding(const Tensor& weight, const Tensor& indices);
/// Backward of embedding: scatter-add of dy into [num_embeddings, D].
Tensor EmbeddingGrad(const Tensor& indices, const Tensor& dy, int64_t num_embeddings);

// ---- random and constants ---------------------------------------------------------
/// A tensor of `shape` filled with `value`.
Tensor Fill(GraphBuilder& builder, const Shape& shape, double value = 0, DType dtype = DType::kF32);
/// Uniform in [low, high), keyed on (seed, element index).
Tensor RandomUniform(GraphBuilder& builder, const Shape& shape, int64_t seed, double low = 0, double high = 1,
                     DType dtype = DType::kF32);
/// Normal(mean, std), keyed on (seed, element index).
Tensor RandomNormal(GraphBuilder& builder, const Shape& shape, int64_t seed, double mean = 0,
                    double stddev = 1, DType dtype = DType::kF32);
/// Zeroes each element with probability `rate`, scales the rest by 1/(1-rate).
Tensor Dropout(const Tensor& x, double rate, int64_t seed);

// ---- optimizer helpers -------------------------------------------------------------
/// min(1, max_norm / (sqrt(sum_of_squares) + 1e-6)).
Tensor ClipScale(const Tensor& sum_of_squares, double max_norm);
/// The learning rate of 1-based `step` (i64 []) under `schedule` with peak
/// `learning_rate`, as a [] tensor of `dtype` (f32 or f64).
Tensor ScheduleLearningRate(const Tensor& step, double learning_rate, const LearningRateSchedule& schedule,
                            DType dtype = DType::kF32);

// ---- fused ops (normally made by the fusion pass) --------------------------------
/// gelu(bias_add(x, bias, axis)) in one pass.
Tensor BiasAddGelu(const Tensor& x, const Tensor& bias, int64_t axis = -1,
                   const std::string& approximate = "none");
/// Backward of bias_add_gelu for x (and the pre-activation).
Tensor BiasAddGeluGrad(const Tensor& dy, const Tensor& x, const Tensor& bias, int64_t axis = -1,
                       const std::string& approximate = "none");

// ---- test ops -----------------------------------------------------------------------
/// y = x after sleeping `microseconds` per act; its gradient sleeps
/// `grad_microseconds` (-1: the same). Pipeline benchmarks and tests use it
/// to give stages a known duration without using a core.
Tensor Delay(const Tensor& x, int64_t microseconds, int64_t grad_microseconds = -1);

// ---- the table of wrappers ---------------------------------------------------------
/// Registry names of the ops wrapped above, sorted.
const std::vector<std::string>& WrappedOpNames();
/// Registry ops deliberately without a typed wrapper, each with the reason.
const std::map<std::string, std::string>& InternalOpNames();

// ---- arithmetic operators (element-wise ops, numpy broadcasting) ---------------------
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& x);
Tensor operator+(const Tensor& x, double scalar);
Tensor operator-(const Tensor& x, double scalar);
Tensor operator*(const Tensor& x, double scalar);
Tensor operator/(const Tensor& x, double scalar);
Tensor operator+(double scalar, const Tensor& x);
Tensor operator-(double scalar, const Tensor& x);
Tensor operator*(double scalar, const Tensor& x);

}  // namespace ofl::api

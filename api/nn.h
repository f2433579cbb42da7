// Layers over api/ops.h: each creates its variables ("<scope>/<layer>.weight")
// and emits its ops under a Scope named after the layer ("<scope>/<layer>/
// matmul"), so errors and the graph name the user's layer. Layers follow the
// builder's error convention (graph_builder.h): a mistake is recorded in the
// builder, naming the layer, and the layer returns an empty Tensor.
//
// Tensor parallelism (Megatron): a Linear's weight [in, out] is split along
// the placement's last mesh axis, the other mesh axes stay Broadcast (data
// parallel): column parallel = weight S(1), bias S(0), output split on its
// last axis; row parallel = weight S(0), bias B, output Partial-sum, which
// SBP deduction turns back into what the next op needs. An MLP alternates
// column, row; attention splits its heads (column-parallel q/k/v, with the
// fused projection laid out head by head so that a column split is a head
// split) and ends in a row-parallel output projection: Megatron's layout,
// whose ideal cost is one all-reduce per MLP and per attention in forward.
// The layers only place the hints; the layouts in between are deduced.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api/graph_builder.h"
#include "api/ops.h"

namespace ofl::api::nn {

/// Element-wise activations for layers.
enum class Activation : int8_t { kNone, kRelu, kGelu, kGeluTanh, kTanh, kSigmoid, kSilu };

/// `activation` applied to x (x itself for kNone).
Tensor Activate(const Tensor& x, Activation activation);

/// Options of Linear.
struct LinearOptions {
  bool bias = true;
  /// Tensor parallelism of the weight; unset: the scope's (ScopeOptions::linear_parallel).
  std::optional<TensorParallel> parallel;
  /// Weight initializer; unset: Uniform(-1/sqrt(in), 1/sqrt(in)) (PyTorch's bound).
  std::optional<Initializer> weight_init;
  Initializer bias_init = Initializer::Zeros();
  DType dtype = DType::kF32;
};
/// y = x W (+ b) for x [..., in], W "<name>.weight" [in, out], b "<name>.bias" [out].
Tensor Linear(const Tensor& x, int64_t out_features, const std::string& name,
              const LinearOptions& options = {});

/// Options of LayerNorm.
struct LayerNormOptions {
  double epsilon = 1e-5;
  /// Normalise over axes >= this one (negative counts from the end).
  int64_t begin_norm_axis = -1;
  DType dtype = DType::kF32;
};
/// Layer norm with "<name>.weight" (ones) and "<name>.bias" (zeros) shaped like the normalised axes.
Tensor LayerNorm(const Tensor& x, const std::string& name, const LayerNormOptions& options = {});

/// Options of Conv2d.
struct Conv2dLayerOptions {
  std::vector<int64_t> stride = {1, 1};
  std::vector<int64_t> padding = {0, 0};
  std::vector<int64_t> dilation = {1, 1};
  int64_t groups = 1;
  bool bias = true;
  /// Weight initializer; unset: Uniform(+-1/sqrt(C/groups * kh * kw)) (PyTorch's bound).
  std::optional<Initializer> weight_init;
  DType dtype = DType::kF32;
};
/// conv2d of x [N, C, H, W] with "<name>.weight" [out_channels, C/groups, kh, kw]
/// (+ "<name>.bias" [out_channels] along axis 1); `kernel` is {kh, kw}.
Tensor Conv2d(const Tensor& x, int64_t out_channels, const std::vector<int64_t>& kernel,
              const std::string& name, const Conv2dLayerOptions& options = {});

/// Options of Embedding.
struct EmbeddingOptions {
  /// Weight initializer; unset: Normal(0.02) (GPT-2's).
  std::optional<Initializer> init;
  /// Split the vocabulary over the tensor-parallel (last) mesh axis: weight S(0).
  bool vocab_parallel = false;
  DType dtype = DType::kF32;
};
/// Rows of "<name>.weight" [num_embeddings, dim] at integer `indices`: [..., dim].
Tensor Embedding(const Tensor& indices, int64_t num_embeddings, int64_t dim, const std::string& name,
                 const EmbeddingOptions& options = {});

/// Options of MLP.
struct MlpOptions {
  Activation activation = Activation::kRelu;
  bool bias = true;
  /// Apply the activation after the last layer too.
  bool activate_last = false;
  /// Megatron: layers alternate column- and row-parallel.
  bool tensor_parallel = false;
};
/// Linear layers "<name>/fc0", "<name>/fc1", ... of `widths`, the activation between them.
Tensor Mlp(const Tensor& x, const std::vector<int64_t>& widths, const std::string& name,
           const MlpOptions& options = {});

/// Options of CausalSelfAttention.
struct AttentionOptions {
  /// One projection "<name>/qkv" [D, 3D] (laid out [D, H, 3, Dh]) instead of "q", "k", "v".
  bool fused_qkv = true;
  bool bias = true;
  /// Split the heads over the tensor-parallel (last) mesh axis.
  bool tensor_parallel = false;
};
/// Multi-head causal self-attention of x [B, T, D] with `num_heads` heads
/// (D divisible by it), ending in the projection "<name>/out" [D, D].
Tensor CausalSelfAttention(const Tensor& x, int64_t num_heads, const std::string& name,
                           const AttentionOptions& options = {});

/// Options of TransformerBlock.
struct TransformerBlockOptions {
  /// Hidden width of the MLP = mlp_ratio * D.
  int64_t mlp_ratio = 4;
  double epsilon = 1e-5;
  bool fused_qkv = true;
  /// Megatron tensor parallelism of attention and MLP; the sublayers'
  /// inputs and outputs are hinted B on the tensor (last) mesh axis and
  /// S(0) (batch) on the others, Megatron's f/g.
  bool tensor_parallel = false;
};
/// Pre-LN block: h = x + attn(ln1(x)); y = h + mlp(ln2(h)) with a gelu MLP.
Tensor TransformerBlock(const Tensor& x, int64_t num_heads, const std::string& name,
                        const TransformerBlockOptions& options = {});

}  // namespace ofl::api::nn

#include "api/nn.h"

#include <cmath>

#include "ops/attention/attention.h"

namespace ofl::api::nn {

namespace {

// The builder `x` belongs to when layers may add to it: null when x has no
// builder (nothing to record in) or the builder already holds an error. An
// empty x of a healthy builder is recorded as the layer's error.
GraphBuilder* ActiveBuilder(const Tensor& x, const std::string& layer, const std::string& name) {
  GraphBuilder* builder = x.builder();
  if (builder == nullptr || !builder->ok()) return nullptr;
  if (!x.valid()) {
    builder->Record(Status::Error("[nn." + layer + "] '" + builder->ScopedName(name) +
                                  "': the input is an empty Tensor"));
    return nullptr;
  }
  return builder;
}

Tensor Fail(const Tensor& x, GraphBuilder* builder, const std::string& layer, const std::string& name,
            const std::string& message) {
  if (builder == nullptr) return x.builder() != nullptr ? x.builder()->Empty() : Tensor();
  builder->Record(Status::Error("[nn." + layer + "] '" + builder->ScopedName(name) + "': " + message));
  return builder->Empty();
}

// Broadcast on every mesh axis but the last (data parallel), `last` on it.
NdSbp TensorParallelSbp(const Placement& placement, Sbp last) {
  NdSbp nd_sbp(placement.hierarchy().rank(), Sbp::Broadcast());
  nd_sbp.back() = last;
  return nd_sbp;
}

std::string Describe(const Tensor& x) {
  return "x '" + x.name() + "' " + DTypeName(x.dtype()) + x.shape().ToString();
}

}  // namespace

Tensor Activate(const Tensor& x, Activation activation) {
  switch (activation) {
    case Activation::kNone:
      return x;
    case Activation::kRelu:
      return Relu(x);
    case Activation::kGelu:
      return Gelu(x, "none");
    case Activation::kGeluTanh:
      return Gelu(x, "tanh");
    case Activation::kTanh:
      return Tanh(x);
    case Activation::kSigmoid:
      return Sigmoid(x);
    case Activation::kSilu:
      return Silu(x);
  }
  return x;
}

Tensor Linear(const Tensor& x, int64_t out_features, const std::string& name, const LinearOptions& options) {
  GraphBuilder* builder = ActiveBuilder(x, "linear", name);
  if (builder == nullptr) return Fail(x, builder, "linear", name, "");
  const Shape shape = x.shape();
  if (shape.rank() < 1) {
    return Fail(x, builder, "linear", name, Describe(x) + ": expected rank >= 1 [..., in_features]");
  }
  if (out_features <= 0) {
    return Fail(x, builder, "linear", name,
                "out_features: expected > 0, got " + std::to_string(out_features));
  }
  const int64_t in_features = shape[shape.rank() - 1];
  const Placement placement = builder->PlacementFor({x});
  const TensorParallel parallel = options.parallel.value_or(builder->current_linear_parallel());
  NdSbp weight_sbp;
  NdSbp bias_sbp;
  if (parallel == TensorParallel::kColumn) {
    weight_sbp = TensorParallelSbp(placement, Sbp::Split(1));
    bias_sbp = TensorParallelSbp(placement, Sbp::Split(0));
  } else if (parallel == TensorParallel::kRow) {
    weight_sbp = TensorParallelSbp(placement, Sbp::Split(0));
    bias_sbp = TensorParallelSbp(placement, Sbp::Broadcast());
  }
  const double bound = 1.0 / std::sqrt(static_cast<double>(std::max<int64_t>(in_features, 1)));
  const Initializer weight_init = options.weight_init.value_or(Initializer::Uniform(-bound, bound));
  const VariableOptions variable{.dtype = options.dtype, .trainable = true};
  Tensor weight = builder->Variable(name + ".weight", Shape{in_features, out_features}, weight_init,
                                    placement, weight_sbp, variable);
  Tensor bias;
  if (options.bias) {
    bias = builder->Variable(name + ".bias", Shape{out_features}, options.bias_init, placement, bias_sbp,
                             variable);
  }
  if (!builder->ok()) return builder->Empty();

  Scope scope(*builder, name);
  // matmul is 2-D: fold the leading axes into rows and unfold them after.
  Tensor rows = shape.rank() == 2 ? x : Reshape(x, Shape{-1, in_features});
  Tensor y = Matmul(rows, weight);
  if (options.bias) y = BiasAdd(y, bias);
  if (shape.rank() != 2) {
    std::vector<int64_t> dims(shape.dims().begin(), shape.dims().end() - 1);
    dims.push_back(out_features);
    y = Reshape(y, Shape(dims));
  }
  return y;
}

Tensor LayerNorm(const Tensor& x, const std::string& name, const LayerNormOptions& options) {
  GraphBuilder* builder = ActiveBuilder(x, "layer_norm", name);
  if (builder == nullptr) return Fail(x, builder, "layer_norm", name, "");
  const Shape shape = x.shape();
  const int64_t begin =
      options.begin_norm_axis < 0 ? options.begin_norm_axis + shape.rank() : options.begin_norm_axis;
  if (begin < 0 || begin >= shape.rank()) {
    return Fail(x, builder, "layer_norm", name,
                "begin_norm_axis: expected an axis of " + Describe(x) + ", got " +
                    std::to_string(options.begin_norm_axis));
  }
  const Shape normalized(std::vector<int64_t>(shape.dims().begin() + begin, shape.dims().end()));
  const Placement placement = builder->PlacementFor({x});
  const VariableOptions variable{.dtype = options.dtype, .trainable = true};
  Tensor gamma =
      builder->Variable(name + ".weight", normalized, Initializer::Ones(), placement, {}, variable);
  Tensor beta = builder->Variable(name + ".bias", normalized, Initializer::Zeros(), placement, {}, variable);
  if (!builder->ok()) return builder->Empty();
  Scope scope(*builder, name);
  return api::LayerNorm(x, gamma, beta, options.begin_norm_axis, options.epsilon).y;
}

Tensor Conv2d(const Tensor& x, int64_t out_channels, const std::vector<int64_t>& kernel,
              const std::string& name, const Conv2dLayerOptions& options) {
  const std::string layer = "conv2d";
  GraphBuilder* builder = ActiveBuilder(x, layer, name);
  if (builder == nullptr) return Fail(x, builder, layer, name, "");
  const Shape shape = x.shape();
  if (shape.rank() != 4) return Fail(x, builder, layer, name, Describe(x) + ": expected rank 4 [N, C, H, W]");
  if (kernel.size() != 2 || kernel[0] <= 0 || kernel[1] <= 0) {
    return Fail(x, builder, layer, name, "kernel: expected two positive extents {kh, kw}");
  }
  if (out_channels <= 0 || options.groups <= 0 || shape[1] % options.groups != 0 ||
      out_channels % options.groups != 0) {
    return Fail(x, builder, layer, name,
                Describe(x) + ": expected channels C=" + std::to_string(shape[1]) +
                    " and out_channels=" + std::to_string(out_channels) +
                    " to be positive multiples of groups=" + std::to_string(options.groups));
  }
  const int64_t fan_in = shape[1] / options.groups * kernel[0] * kernel[1];
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  const Placement placement = builder->PlacementFor({x});
  const VariableOptions variable{.dtype = options.dtype, .trainable = true};
  Tensor weight = builder->Variable(
      name + ".weight", Shape{out_channels, shape[1] / options.groups, kernel[0], kernel[1]},
      options.weight_init.value_or(Initializer::Uniform(-bound, bound)), placement, {}, variable);
  Tensor bias;
  if (options.bias) {
    bias = builder->Variable(name + ".bias", Shape{out_channels}, Initializer::Uniform(-bound, bound),
                             placement, {}, variable);
  }
  if (!builder->ok()) return builder->Empty();
  Scope scope(*builder, name);
  Tensor y = api::Conv2d(x, weight,
                         {.stride = options.stride,
                          .padding = options.padding,
                          .dilation = options.dilation,
                          .groups = options.groups});
  return options.bias ? BiasAdd(y, bias, 1) : y;
}

Tensor Embedding(const Tensor& indices, int64_t num_embeddings, int64_t dim, const std::string& name,
                 const EmbeddingOptions& options) {
  GraphBuilder* builder = ActiveBuilder(indices, "embedding", name);
  if (builder == nullptr) return Fail(indices, builder, "embedding", name, "");
  if (num_embeddings <= 0 || dim <= 0) {
    return Fail(indices, builder, "embedding", name,
                "expected num_embeddings > 0 and dim > 0, got " + std::to_string(num_embeddings) + " and " +
                    std::to_string(dim));
  }
  const Placement placement = builder->PlacementFor({indices});
  const NdSbp weight_sbp = options.vocab_parallel ? TensorParallelSbp(placement, Sbp::Split(0)) : NdSbp{};
  Tensor weight = builder->Variable(name + ".weight", Shape{num_embeddings, dim},
                                    options.init.value_or(Initializer::Normal(0.02)), placement, weight_sbp,
                                    VariableOptions{.dtype = options.dtype, .trainable = true});
  if (!builder->ok()) return builder->Empty();
  Scope scope(*builder, name);
  return api::Embedding(weight, indices);
}

Tensor Mlp(const Tensor& x, const std::vector<int64_t>& widths, const std::string& name,
           const MlpOptions& options) {
  GraphBuilder* builder = ActiveBuilder(x, "mlp", name);
  if (builder == nullptr) return Fail(x, builder, "mlp", name, "");
  if (widths.empty()) return Fail(x, builder, "mlp", name, "widths: expected at least one layer, got none");
  Scope scope(*builder, name);
  Tensor h = x;
  for (size_t i = 0; i < widths.size(); ++i) {
    LinearOptions linear{.bias = options.bias};
    if (options.tensor_parallel)
      linear.parallel = i % 2 == 0 ? TensorParallel::kColumn : TensorParallel::kRow;
    h = Linear(h, widths[i], "fc" + std::to_string(i), linear);
    if (i + 1 < widths.size() || options.activate_last) h = Activate(h, options.activation);
  }
  return h;
}

Tensor CausalSelfAttention(const Tensor& x, int64_t num_heads, const std::string& name,
                           const AttentionOptions& options) {
  GraphBuilder* builder = ActiveBuilder(x, "causal_self_attention", name);
  const std::string layer = "causal_self_attention";
  if (builder == nullptr) return Fail(x, builder, layer, name, "");
  const Shape shape = x.shape();
  if (shape.rank() != 3) return Fail(x, builder, layer, name, Describe(x) + ": expected rank 3 [B, T, D]");
  const int64_t batch = shape[0];
  const int64_t time = shape[1];
  const int64_t width = shape[2];
  if (num_heads <= 0 || width % num_heads != 0) {
    return Fail(x, builder, layer, name,
                Describe(x) + ": expected the width D=" + std::to_string(width) +
                    " to be divisible by num_heads=" + std::to_string(num_heads));
  }
  const int64_t head_dim = width / num_heads;
  const LinearOptions in_projection{
      .bias = options.bias,
      .parallel = options.tensor_parallel ? TensorParallel::kColumn : TensorParallel::kNone};
  const LinearOptions out_projection{
      .bias = options.bias,
      .parallel = options.tensor_parallel ? TensorParallel::kRow : TensorParallel::kNone};

  Scope scope(*builder, name);
  // [B, T, H, Dh] -> [B, H, T, Dh]: heads become a batch axis of attention.
  auto heads_first = [&](const Tensor& t) {
    return Transpose(Reshape(t, Shape{batch, time, num_heads, head_dim}), {0, 2, 1, 3});
  };
  Tensor q, k, v;
  if (options.fused_qkv) {
    // Columns laid out [H, 3, Dh]: a split of the columns over devices is a
    // split of the heads, each device holding q, k and v of its heads.
    Tensor qkv = Linear(x, 3 * width, "qkv", in_projection);
    std::vector<Tensor> parts = Split(Reshape(qkv, Shape{batch, time, num_heads, 3, head_dim}), {1, 1, 1}, 3);
    q = heads_first(parts[0]);
    k = heads_first(parts[1]);
    v = heads_first(parts[2]);
  } else {
    q = heads_first(Linear(x, width, "q", in_projection));
    k = heads_first(Linear(x, width, "k", in_projection));
    v = heads_first(Linear(x, width, "v", in_projection));
  }
  if (!builder->ok()) return builder->Empty();
  StatusOr<ValueRef> attended =
      ::ofl::CausalSelfAttention(builder->emitter(), ValueRef{q.id()}, ValueRef{k.id()}, ValueRef{v.id()});
  if (!attended.ok()) {
    builder->Record(Status::Error("[nn." + layer + "] '" + builder->current_prefix() +
                                  "': " + attended.status().message()));
    return builder->Empty();
  }
  Tensor y = builder->FromRef(attended.value());
  y = Reshape(Transpose(y, {0, 2, 1, 3}), Shape{batch, time, width});
  return Linear(y, width, "out", out_projection);
}

Tensor TransformerBlock(const Tensor& x, int64_t num_heads, const std::string& name,
                        const TransformerBlockOptions& options) {
  GraphBuilder* builder = ActiveBuilder(x, "transformer_block", name);
  if (builder == nullptr) return Fail(x, builder, "transformer_block", name, "");
  if (x.rank() != 3) {
    return Fail(x, builder, "transformer_block", name, Describe(x) + ": expected rank 3 [B, T, D]");
  }
  if (options.mlp_ratio <= 0) {
    return Fail(x, builder, "transformer_block", name,
                "mlp_ratio: expected > 0, got " + std::to_string(options.mlp_ratio));
  }
  const int64_t width = x.dim(2);
  Scope scope(*builder, name);
  const LayerNormOptions norm{.epsilon = options.epsilon};
  // Megatron's f and g: with tensor parallelism, the input of each sublayer
  // (a LayerNorm output) and its output are pinned to B on the tensor
  // (last) mesh axis and to the batch split S(0) on the data axes. SBP
  // deduction then all-reduces each sublayer's Partial output in forward
  // (g) and the gradient of its input in backward (f: autograd carries the
  // hint to the gradient), and nothing else moves.
  auto pin = [&](const Tensor& tensor) {
    if (!options.tensor_parallel) return tensor;
    NdSbp boundary(tensor.placement().hierarchy().rank(), Sbp::Split(0));
    boundary.back() = Sbp::Broadcast();
    return tensor.WithSbp(boundary);
  };
  Tensor attended =
      pin(CausalSelfAttention(pin(LayerNorm(x, "ln1", norm)), num_heads, "attn",
                              {.fused_qkv = options.fused_qkv, .tensor_parallel = options.tensor_parallel}));
  Tensor h = x + attended;
  Tensor mlp = pin(Mlp(pin(LayerNorm(h, "ln2", norm)), {options.mlp_ratio * width, width}, "mlp",
                       {.activation = Activation::kGelu, .tensor_parallel = options.tensor_parallel}));
  return h + mlp;
}

}  // namespace ofl::api::nn

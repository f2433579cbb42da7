// The small GPT of examples/gpt_char and bench/vs_pytorch: token and
// position embeddings, pre-LN transformer blocks (api/nn.h TransformerBlock:
// fused q/k/v laid out [D, H, 3, Dh], exact-erf gelu MLP of width 4D), a
// final LayerNorm and an untied linear head with bias.
//
// Variables (the contract bench/vs_pytorch maps onto PyTorch; Linear weights
// are [in, out], i.e. transposed against torch.nn.Linear):
//   <name>/wte.weight [vocab, D]            Normal(0.02)
//   <name>/wpe        [context, D]          Normal(0.02), added to every sequence
//   <name>/h<i>/ln1.{weight,bias}, <name>/h<i>/attn/qkv.{weight,bias},
//   <name>/h<i>/attn/out.{weight,bias}, <name>/h<i>/ln2.{weight,bias},
//   <name>/h<i>/mlp/fc0.{weight,bias}, <name>/h<i>/mlp/fc1.{weight,bias}
//   <name>/ln_f.{weight,bias}
//   <name>/head.{weight,bias} [D, vocab], [vocab]
#pragma once

#include <cstdint>
#include <string>

#include "api/api.h"

namespace ofl::examples {

/// Shape of the model. `tensor_parallel` splits heads and MLP (Megatron)
/// over the placement's last mesh axis; the batch is split over the others.
struct GptConfig {
  int64_t vocab = 0;
  int64_t context = 128;
  int64_t layers = 4;
  int64_t dim = 256;
  int64_t heads = 4;
  bool tensor_parallel = false;
};

/// Logits [B, T, vocab] for integer tokens [B, T] (T == config.context).
api::Tensor GptLogits(const api::Tensor& tokens, const GptConfig& config, const std::string& name = "gpt");

}  // namespace ofl::examples

#include "examples/common/gpt_model.h"

#include <string>

namespace ofl::examples {

using api::GraphBuilder;
using api::Tensor;

Tensor GptLogits(const Tensor& tokens, const GptConfig& config, const std::string& name) {
  GraphBuilder* builder = tokens.builder();
  if (builder == nullptr) return Tensor();
  if (!builder->ok()) return builder->Empty();
  // The shape contract is checked here so that a wrong token shape names the
  // model rather than an op deep inside it.
  const Shape shape = tokens.shape();
  if (!tokens.valid() || shape.rank() != 2 || shape[1] != config.context) {
    builder->Record(Status::Error("[gpt] '" + name + "': expected tokens [B, " +
                                  std::to_string(config.context) + "] (T = context), found " + tokens.name() +
                                  " " + shape.ToString()));
    return builder->Empty();
  }
  if (config.vocab <= 0 || config.dim <= 0 || config.layers < 0 || config.heads <= 0 ||
      config.dim % config.heads != 0) {
    builder->Record(Status::Error(
        "[gpt] '" + name + "': expected vocab > 0, dim > 0 divisible by heads > 0 and " +
        "layers >= 0, found vocab " + std::to_string(config.vocab) + ", dim " + std::to_string(config.dim) +
        ", heads " + std::to_string(config.heads) + ", layers " + std::to_string(config.layers)));
    return builder->Empty();
  }
  api::Scope scope(*builder, name);
  Tensor h =
      api::nn::Embedding(tokens, config.vocab, config.dim, "wte", {.init = api::Initializer::Normal(0.02)});
  // The activations' layout between blocks: the batch split over the data
  // (all but the tensor-parallel) mesh axes, Broadcast on the tensor axis,
  // which is what TransformerBlock pins at its sublayer boundaries. Without
  // tensor parallelism every mesh axis is a data axis.
  NdSbp activation_sbp(h.placement().hierarchy().rank(), Sbp::Split(0));
  if (config.tensor_parallel) activation_sbp.back() = Sbp::Broadcast();
  Tensor position = builder->Variable("wpe", Shape{config.context, config.dim},
                                      api::Initializer::Normal(0.02), h.placement());
  h = (h + position).WithSbp(activation_sbp);  // [B, T, D] + [T, D]
  for (int64_t layer = 0; layer < config.layers; ++layer) {
    h = api::nn::TransformerBlock(h, config.heads, "h" + std::to_string(layer),
                                  {.tensor_parallel = config.tensor_parallel});
  }
  h = api::nn::LayerNorm(h, "ln_f");
  // The head is small (D x vocab) and stays replicated: a vocabulary split
  // would only pay off for vocabularies far larger than a character set.
  return api::nn::Linear(h, config.vocab, "head", {.parallel = api::TensorParallel::kNone});
}

}  // namespace ofl::examples

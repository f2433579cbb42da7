// GraphBuilder::Compile: graphs built with the API go through the whole
// compiler, and the mistakes only the compiler can see (an SBP hint that no
// signature of the op satisfies) come back naming the user's op and hint.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "api/api.h"

namespace ofl::api {
namespace {

using ::testing::HasSubstr;

int CountOps(const compiler::Graph& graph, const std::string& op) {
  int count = 0;
  for (compiler::NodeId id : graph.LiveNodes()) count += graph.node(id).op == op ? 1 : 0;
  return count;
}

TEST(ApiCompile, HintNoSignatureSatisfiesNamesTheOpAndTheHint) {
  GraphBuilder builder(Placement::Linear(DeviceType::kCPU, 2));
  Tensor x = builder.Input("x", Shape{8, 4}).WithSbp("S(0)");
  Tensor y;
  {
    Scope scope(builder, "act");
    // relu is not linear: no signature produces a Partial-sum output.
    y = Relu(x).WithSbp("P");
  }
  builder.Fetch("y", y);
  ASSERT_TRUE(builder.ok()) << builder.status().message();  // legal on its own: only deduction can tell
  StatusOr<compiler::CompileResult> result =
      builder.Compile({.enable_fusion = false, .enable_training = false});
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.status().message(), HasSubstr("act/relu"));
  EXPECT_THAT(result.status().message(), HasSubstr("hint P"));
}

TEST(ApiCompile, InferenceMlpCompilesAndKeepsTheUsersHints) {
  GraphBuilder builder(Placement::Linear(DeviceType::kCPU, 2));
  Tensor x = builder.Input("x", Shape{8, 4}).WithSbp("S(0)");
  Tensor y = nn::Mlp(x, {16, 3}, "mlp");
  builder.Fetch("y", y);
  StatusOr<compiler::CompileResult> result =
      builder.Compile({.enable_fusion = false, .enable_training = false});
  ASSERT_TRUE(result.ok()) << result.status().message();
  const compiler::Graph& graph = result.value().graph;
  const compiler::NodeId matmul = graph.FindNode("mlp/fc0/matmul");
  ASSERT_GE(matmul, 0);
  // Data parallel: the batch-split input and broadcast weights need no boxing.
  EXPECT_EQ(NdSbpToString(graph.value(graph.node(matmul).outputs[0]).sbp), "S(0)");
  EXPECT_EQ(CountOps(graph, "boxing"), 0);
}

TEST(ApiCompile, TrainingMlpGetsGradientsAndOneUpdatePerVariable) {
  GraphBuilder builder(Placement::Linear(DeviceType::kCPU, 2));
  Tensor x = builder.Input("x", Shape{8, 4}).WithSbp("S(0)");
  Tensor labels = builder.Input("labels", Shape{8}, DType::kI64).WithSbp("S(0)");
  Tensor logits = nn::Mlp(x, {16, 3}, "mlp");
  Tensor loss = SparseSoftmaxCrossEntropy(logits, labels).loss;
  builder.Fetch("loss", loss);
  builder.Minimize(loss, Optimizer::Sgd(0.1, 0.9));
  StatusOr<compiler::CompileResult> result = builder.Compile({.enable_fusion = false});
  ASSERT_TRUE(result.ok()) << result.status().message();
  const compiler::Graph& graph = result.value().graph;
  EXPECT_EQ(graph.gradients().size(), 4u);
  EXPECT_EQ(CountOps(graph, "sgd_update"), 4);
}

// A small GPT (embedding, two pre-LN blocks, head, cross entropy) with
// AdamW, clipping and a warm-up + cosine schedule, data parallel on two
// devices and Megatron tensor parallel on a 2x2 mesh.
void CompileGpt(const Placement& placement, const std::string& token_sbp, bool tensor_parallel) {
  GraphBuilder builder(placement);
  const int64_t batch = 4, time = 8, width = 32, vocab = 64;
  Tensor tokens = builder.Input("tokens", Shape{batch, time}, DType::kI64).WithSbp(token_sbp);
  Tensor labels = builder.Input("labels", Shape{batch * time}, DType::kI64);
  Tensor h = nn::Embedding(tokens, vocab, width, "wte", {.vocab_parallel = tensor_parallel});
  for (int layer = 0; layer < 2; ++layer) {
    h = nn::TransformerBlock(h, 4, "h" + std::to_string(layer), {.tensor_parallel = tensor_parallel});
  }
  h = nn::LayerNorm(h, "ln_f");
  Tensor logits = Reshape(nn::Linear(h, vocab, "lm_head", {.bias = false}), Shape{batch * time, vocab});
  Tensor loss = SparseSoftmaxCrossEntropy(logits, labels).loss;
  builder.Fetch("loss", loss);
  builder.Minimize(loss, Optimizer::AdamW(3e-4).WithClipNorm(1).WithWarmupCosine(10, 100));
  ASSERT_TRUE(builder.ok()) << builder.status().message();
  int64_t variables = 0;
  for (compiler::NodeId id : builder.graph().LiveNodes())
    variables += builder.graph().node(id).IsVariable() ? 1 : 0;
  EXPECT_EQ(variables, 1 + 2 * 12 + 2 + 1);  // wte, 2 blocks, ln_f, lm_head
  StatusOr<compiler::CompileResult> result = builder.Compile();
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(static_cast<int64_t>(result.value().graph.gradients().size()), variables);
  EXPECT_EQ(
      CountOps(result.value().graph, "adam_update") + CountOps(result.value().graph, "adam_update_scaled"),
      variables);
}

TEST(ApiCompile, GptTrainsDataParallel) { CompileGpt(Placement::Linear(DeviceType::kCPU, 2), "S(0)", false); }

TEST(ApiCompile, GptTrainsTensorParallelOnA2x2Mesh) {
  CompileGpt(Placement::Mesh(DeviceType::kCPU, Shape{2, 2}).ValueOrThrow(), "(S(0), B)", true);
}

TEST(ApiCompile, PipelineStagesAreJoinedByBoxing) {
  const Placement stage0 = Placement::Linear(DeviceType::kCPU, 2);
  const Placement stage1 =
      Placement::Create(DeviceType::kCPU,
                        {DeviceId{DeviceType::kCPU, 0, 2}, DeviceId{DeviceType::kCPU, 0, 3}}, Shape{2})
          .ValueOrThrow();
  GraphBuilder builder(stage0);
  Tensor x = builder.Input("x", Shape{8, 4}).WithSbp("S(0)");
  Tensor h = nn::Linear(x, 8, "fc0");
  Tensor y;
  {
    Scope scope(builder, "stage1", {.placement = stage1});
    y = nn::Linear(h, 2, "fc1");
  }
  builder.Fetch("y", y);
  StatusOr<compiler::CompileResult> result =
      builder.Compile({.enable_fusion = false, .enable_training = false});
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_GE(CountOps(result.value().graph, "boxing"), 1);
}

}  // namespace
}  // namespace ofl::api

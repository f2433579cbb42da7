// Structural tests of whole compilations (IR text in, structure asserted):
// where the compiler puts communication for data-parallel, Megatron-style
// tensor-parallel and 2-D (data x tensor) layouts of an MLP. The counts are
// the ones a hand-written Megatron/DDP implementation has; an extra or
// missing collective here is a compiler regression.
#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "compiler/compile.h"
#include "compiler/ir/graph_text.h"
#include "ops/registry.h"

namespace ofl::compiler {
namespace {

const OpRegistry& Ops() { return DefaultRegistries().ops; }

// Layout hints of one job, as IR text fragments ("" = no hint).
struct Layout {
  std::string placement;      // "cpu:[0,1,2,3] mesh [4]"
  std::string batch;          // hint of x, labels and block boundaries
  std::string column_weight;  // first Linear of a block
  std::string column_bias;
  std::string row_weight;  // second Linear of a block
  std::string replicated;  // every other variable
};

std::string Hint(const std::string& sbp) { return sbp.empty() ? "" : " hint " + sbp; }

// x [16, 32] -> embed Linear -> `blocks` x (Linear 32->64, gelu, Linear
// 64->32) -> cross-entropy, with `optimizer` as the minimize attributes.
std::string MlpJob(const Layout& layout, int blocks, const std::string& optimizer) {
  std::ostringstream text;
  int next = 0;
  auto value = [&] { return next++; };
  const std::string on = " on " + layout.placement;
  text << "graph {\n";
  const int x = value(), labels = value(), embed_w = value(), embed = value();
  text << "  %" << x << " = input() : (f32[16, 32]" << Hint(layout.batch) << ")" << on << " name \"x\"\n";
  text << "  %" << labels << " = input() : (i64[16]" << Hint(layout.batch) << ")" << on
       << " name \"labels\"\n";
  text << "  %" << embed_w << " = variable() {initializer=\"normal\", seed=1, std=0.1} : (f32[32, 32]"
       << Hint(layout.replicated) << ")" << on << " name \"embed.weight\"\n";
  text << "  %" << embed << " = matmul(%" << x << ", %" << embed_w << ") : (f32[16, 32]" << Hint(layout.batch)
       << ")" << on << " name \"embed\"\n";
  int input = embed;
  for (int b = 0; b < blocks; ++b) {
    const std::string p = "block" + std::to_string(b) + ".";
    const int w1 = value(), b1 = value(), h = value(), hb = value(), g = value(), w2 = value(), b2 = value(),
              y = value(), out = value();
    text << "  %" << w1 << " = variable() {initializer=\"normal\", seed=" << 10 + b
         << ", std=0.1} : (f32[32, 64]" << Hint(layout.column_weight) << ")" << on << " name \"" << p
         << "fc1.weight\"\n";
    text << "  %" << b1 << " = variable() {initializer=\"zeros\"} : (f32[64]" << Hint(layout.column_bias)
         << ")" << on << " name \"" << p << "fc1.bias\"\n";
    text << "  %" << h << " = matmul(%" << input << ", %" << w1 << ") : (f32[16, 64])" << on << " name \""
         << p << "fc1\"\n";
    text << "  %" << hb << " = bias_add(%" << h << ", %" << b1 << ") : (f32[16, 64])" << on << " name \"" << p
         << "fc1.bias_add\"\n";
    text << "  %" << g << " = gelu(%" << hb << ") : (f32[16, 64])" << on << " name \"" << p << "gelu\"\n";
    text << "  %" << w2 << " = variable() {initializer=\"normal\", seed=" << 20 + b
         << ", std=0.1} : (f32[64, 32]" << Hint(layout.row_weight) << ")" << on << " name \"" << p
         << "fc2.weight\"\n";
    text << "  %" << b2 << " = variable() {initializer=\"zeros\"} : (f32[32]" << Hint(layout.replicated)
         << ")" << on << " name \"" << p << "fc2.bias\"\n";
    text << "  %" << y << " = matmul(%" << g << ", %" << w2 << ") : (f32[16, 32])" << on << " name \"" << p
         << "fc2\"\n";
    text << "  %" << out << " = bias_add(%" << y << ", %" << b2 << ") : (f32[16, 32]" << Hint(layout.batch)
         << ")" << on << " name \"" << p << "fc2.bias_add\"\n";
    input = out;
  }
  const int loss = value(), prob = value();
  text << "  %" << loss << ", %" << prob << " = sparse_softmax_cross_entropy(%" << input << ", %" << labels
       << ") : (f32[], f32[16, 32])" << on << " name \"loss\"\n";
  text << "  fetch \"loss\" = %" << loss << "\n";
  text << "  minimize %" << loss << " " << optimizer << "\n";
  text << "}\n";
  return text.str();
}

// Counts of communicating boxing nodes, keyed "role/kind" or
// "role/kind@axis" for N-D collectives along one mesh axis. Boxings that
// move no bytes (identity, local_slice, keep_on_one) are not counted.
std::map<std::string, int> Communication(const Graph& graph) {
  std::map<std::string, int> counts;
  for (NodeId id : graph.LiveNodes()) {
    const Node& node = graph.node(id);
    if (!node.IsBoxing()) continue;
    const std::string kind = node.attrs.GetString("kind");
    if (kind == "identity" || kind == "local_slice" || kind == "keep_on_one") continue;
    std::string key = NodeRoleName(node.role) + "/" + kind;
    if (node.attrs.Has("mesh_axis")) key += "@" + std::to_string(node.attrs.GetInt("mesh_axis"));
    ++counts[key];
  }
  return counts;
}

std::string ToString(const std::map<std::string, int>& counts) {
  std::string text;
  for (const auto& [key, count] : counts) text += key + "=" + std::to_string(count) + " ";
  return text;
}

CompileResult CompileJob(const std::string& text) {
  StatusOr<Graph> graph = ParseGraph(text, Ops());
  EXPECT_TRUE(graph.ok()) << graph.status().message() << "\n" << text;
  CompileOptions options;
  options.enable_fusion = false;
  StatusOr<CompileResult> result = Compile(std::move(graph).value(), Ops(), options);
  EXPECT_TRUE(result.ok()) << result.status().message();
  return std::move(result).value();
}

const char* kAdam = "{kind=\"adam\", learning_rate=0.001}";
constexpr int kVariablesPerBlock = 4;

TEST(StructureTest, DataParallelMlpHasOneAllReducePerWeightGradient) {
  for (int devices : {2, 4}) {
    std::string placement = "cpu:[";
    for (int i = 0; i < devices; ++i) placement += (i ? "," : "") + std::to_string(i);
    placement += "] mesh [" + std::to_string(devices) + "]";
    const Layout layout{placement, "S(0)", "", "", "", ""};
    const CompileResult result = CompileJob(MlpJob(layout, 2, kAdam));
    const std::map<std::string, int> counts = Communication(result.graph);
    const int variables = 1 + 2 * kVariablesPerBlock;
    EXPECT_EQ(counts, (std::map<std::string, int>{{"optimizer/all_reduce", variables}}))
        << devices << " devices: " << ToString(counts) << "\n"
        << PrintGraph(result.graph);
  }
}

TEST(StructureTest, DataParallelClippingStillMovesEachGradientOnce) {
  // Clipping reads every gradient twice (its sum of squares and the scaled
  // update); the gradient must still cross devices once: one all-reduce, or
  // one reduce-scatter plus one all-gather (the two halves of a ring
  // all-reduce), never an all-reduce on top of a reduce-scatter.
  const Layout layout{"cpu:[0,1,2,3] mesh [4]", "S(0)", "", "", "", ""};
  const CompileResult result = CompileJob(
      MlpJob(layout, 2, "{kind=\"adamw\", learning_rate=0.001, clip_norm=1.0, weight_decay=0.01}"));
  // The clip scale's sum over gradients is a scalar: one tiny all-reduce
  // of it is allowed besides the gradients' own.
  int scalar_reductions = 0;
  for (NodeId id : result.graph.LiveNodes()) {
    const Node& node = result.graph.node(id);
    if (node.IsBoxing() && result.graph.value(node.outputs[0]).desc.shape.rank() == 0) ++scalar_reductions;
  }
  EXPECT_LE(scalar_reductions, 1);
  std::map<std::string, int> counts = Communication(result.graph);
  const int variables = 1 + 2 * kVariablesPerBlock;
  const int all_reduce = counts["optimizer/all_reduce"] - scalar_reductions;
  const int reduce_scatter = counts["optimizer/reduce_scatter"];
  const int all_gather = counts["optimizer/all_gather"];
  EXPECT_EQ(reduce_scatter, all_gather) << ToString(counts);
  EXPECT_EQ(all_reduce + reduce_scatter, variables) << ToString(counts) << "\n" << PrintGraph(result.graph);
  counts.erase("optimizer/all_reduce");
  counts.erase("optimizer/reduce_scatter");
  counts.erase("optimizer/all_gather");
  EXPECT_TRUE(counts.empty()) << ToString(counts);
}

TEST(StructureTest, MegatronMlpHasOneAllReduceForwardAndOneBackwardPerBlock) {
  for (int devices : {2, 4}) {
    std::string placement = "cpu:[";
    for (int i = 0; i < devices; ++i) placement += (i ? "," : "") + std::to_string(i);
    placement += "] mesh [" + std::to_string(devices) + "]";
    const Layout layout{placement, "B", "S(1)", "S(0)", "S(0)", "B"};
    for (int blocks : {1, 2}) {
      const CompileResult result = CompileJob(MlpJob(layout, blocks, kAdam));
      const std::map<std::string, int> counts = Communication(result.graph);
      EXPECT_EQ(counts,
                (std::map<std::string, int>{{"forward/all_reduce", blocks}, {"backward/all_reduce", blocks}}))
          << devices << " devices, " << blocks << " blocks: " << ToString(counts) << "\n"
          << PrintGraph(result.graph);
    }
  }
}

TEST(StructureTest, DataTimesTensorParallelOnA2x2Mesh) {
  const Layout layout{
      "cpu:[0,1,2,3] mesh [2, 2]", "(S(0), B)", "(B, S(1))", "(B, S(0))", "(B, S(0))", "(B, B)"};
  const int blocks = 2;
  const CompileResult result = CompileJob(MlpJob(layout, blocks, kAdam));
  const std::map<std::string, int> counts = Communication(result.graph);
  // Tensor parallel along mesh axis 1 (Megatron's f and g), data parallel
  // gradient all-reduces along mesh axis 0, one per variable.
  EXPECT_EQ(counts, (std::map<std::string, int>{{"forward/all_reduce@1", blocks},
                                                {"backward/all_reduce@1", blocks},
                                                {"optimizer/all_reduce@0", 1 + kVariablesPerBlock * blocks}}))
      << ToString(counts) << "\n"
      << PrintGraph(result.graph);
}

}  // namespace
}  // namespace ofl::compiler

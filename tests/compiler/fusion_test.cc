// Tests of the fused ops against their unfused chains, and of the fusion
// pass: structure (IR text in, op counts and layouts asserted), the cases
// it must leave alone, and numerical equivalence of whole training steps
// with and without fusion (GraphInterpreter).
#include "compiler/passes/fusion.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "compiler/ir/graph_text.h"
#include "compiler/passes/pipeline.h"
#include "ops/eager.h"
#include "ops/registry.h"
#include "tests/testing/graph_interpreter.h"

namespace ofl::compiler {
namespace {

using testing::GraphInterpreter;
using testing::ValueTensors;

const OpRegistry& Ops() { return DefaultRegistries().ops; }
const EagerExecutor& Executor() {
  static const EagerExecutor executor(DefaultRegistries().ops, DefaultRegistries().kernels);
  return executor;
}

HostTensor Random(const TensorDesc& desc, uint64_t seed, double low = -3.0, double high = 3.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(low, high);
  HostTensor t(desc);
  for (int64_t i = 0; i < t.NumElements(); ++i) t.SetFromDouble(i, uniform(rng));
  return t;
}

HostTensor Scalar(DType dtype, double value) {
  HostTensor t(TensorDesc{Shape{}, dtype});
  t.SetFromDouble(0, value);
  return t;
}

HostTensor RunOne(const std::string& op, const std::vector<HostTensor>& inputs, const AttrMap& attrs) {
  StatusOr<std::vector<HostTensor>> outputs = Executor().Run(op, inputs, attrs);
  EXPECT_TRUE(outputs.ok()) << op << ": " << outputs.status().message();
  if (!outputs.ok()) return HostTensor(inputs[0].desc());
  return outputs.value()[0];
}

// |actual - expected| <= rtol |expected| + atol, element by element.
void ExpectClose(const HostTensor& actual, const HostTensor& expected, double rtol, double atol,
                 const std::string& what) {
  ASSERT_EQ(actual.desc(), expected.desc()) << what;
  int reported = 0;
  for (int64_t i = 0; i < expected.NumElements() && reported < 5; ++i) {
    const double a = actual.GetAsDouble(i), e = expected.GetAsDouble(i);
    if (!(std::abs(a - e) <= rtol * std::abs(e) + atol)) {
      ADD_FAILURE() << what << ": element " << i << " is " << a << ", expected " << e;
      ++reported;
    }
  }
}

// ---- the fused ops equal their unfused chains -----------------------------

struct GeluShape {
  Shape x;
  int64_t axis;
};

// f32 shapes: one chunk, several chunks with rows straddling chunk ends
// along the bias axis and across it, and uneven small ones.
const GeluShape kGeluShapes[] = {{Shape{8, 16}, -1},     {Shape{130, 517}, -1}, {Shape{7, 97, 61}, 1},
                                 {Shape{3, 5000, 2}, 1}, {Shape{40000}, 0},     {Shape{9, 3000}, 0}};

TEST(FusedOpsTest, BiasAddGeluEqualsGeluOfBiasAddInF32) {
  for (const std::string form : {"none", "tanh"}) {
    for (const GeluShape& s : kGeluShapes) {
      const int axis = static_cast<int>(s.axis < 0 ? s.axis + s.x.rank() : s.axis);
      const HostTensor x = Random(TensorDesc{s.x, DType::kF32}, 1);
      const HostTensor bias = Random(TensorDesc{Shape{s.x[axis]}, DType::kF32}, 2, -1.0, 1.0);
      const AttrMap attrs{{"axis", s.axis}, {"approximate", form}};
      const HostTensor unfused =
          RunOne("gelu", {RunOne("bias_add", {x, bias}, {{"axis", s.axis}})}, {{"approximate", form}});
      const HostTensor fused = RunOne("bias_add_gelu", {x, bias}, attrs);
      // Same oneDNN algorithm on the same rounded pre-activation.
      ExpectClose(fused, unfused, 1e-6, 1e-30, "bias_add_gelu " + form + " " + s.x.ToString());
    }
  }
}

TEST(FusedOpsTest, BiasAddGeluGradEqualsGeluGradOfBiasAddInF32) {
  for (const std::string form : {"none", "tanh"}) {
    for (const GeluShape& s : kGeluShapes) {
      const int axis = static_cast<int>(s.axis < 0 ? s.axis + s.x.rank() : s.axis);
      const HostTensor x = Random(TensorDesc{s.x, DType::kF32}, 3);
      const HostTensor dy = Random(TensorDesc{s.x, DType::kF32}, 4, -1.0, 1.0);
      const HostTensor bias = Random(TensorDesc{Shape{s.x[axis]}, DType::kF32}, 5, -1.0, 1.0);
      const AttrMap attrs{{"axis", s.axis}, {"approximate", form}};
      const HostTensor unfused = RunOne("gelu_grad", {RunOne("bias_add", {x, bias}, {{"axis", s.axis}}), dy},
                                        {{"approximate", form}});
      const HostTensor fused = RunOne("bias_add_gelu_grad", {dy, x, bias}, attrs);
      ExpectClose(fused, unfused, 1e-6, 1e-30, "bias_add_gelu_grad " + form + " " + s.x.ToString());
    }
  }
}

TEST(FusedOpsTest, BiasAddGeluMatchesTheChainInOtherDTypes) {
  // The loops round x + bias to the storage dtype where bias_add stores it,
  // so even bf16 agrees exactly.
  for (DType dtype : {DType::kF64, DType::kF16, DType::kBF16}) {
    const HostTensor x = Random(TensorDesc{Shape{33, 20}, dtype}, 6);
    const HostTensor bias = Random(TensorDesc{Shape{33}, dtype}, 7, -1.0, 1.0);
    const HostTensor dy = Random(TensorDesc{Shape{33, 20}, dtype}, 8, -1.0, 1.0);
    const AttrMap attrs{{"axis", int64_t{0}}};
    const HostTensor pre = RunOne("bias_add", {x, bias}, attrs);
    ExpectClose(RunOne("bias_add_gelu", {x, bias}, attrs), RunOne("gelu", {pre}, {}), 0, 0,
                "bias_add_gelu " + DTypeName(dtype));
    ExpectClose(RunOne("bias_add_gelu_grad", {dy, x, bias}, attrs), RunOne("gelu_grad", {pre, dy}, {}), 0, 0,
                "bias_add_gelu_grad " + DTypeName(dtype));
  }
}

TEST(FusedOpsTest, AdamUpdateScaledEqualsAdamUpdateOfScaledGradient) {
  for (DType dtype : {DType::kF32, DType::kF64}) {
    for (const AttrMap& attrs : {AttrMap{}, AttrMap{{"weight_decay", 0.01}},
                                 AttrMap{{"weight_decay", 0.1}, {"decoupled_weight_decay", true}}}) {
      const TensorDesc desc{Shape{70, 300}, dtype};
      const HostTensor param = Random(desc, 9, -1, 1), grad = Random(desc, 10, -1, 1);
      const HostTensor m = Random(desc, 11, -0.5, 0.5), v = Random(desc, 12, 0, 0.3);
      const HostTensor learning_rate = Scalar(dtype, 0.01), scale = Scalar(dtype, 0.37);
      HostTensor step(TensorDesc{Shape{}, DType::kI64});
      step.SetFromDouble(0, 4);

      const std::vector<HostTensor> unfused = {param.Clone(), m.Clone(), v.Clone()};
      const HostTensor g2 = RunOne("mul", {grad, scale}, {});
      ASSERT_TRUE(
          Executor()
              .Run("adam_update", {unfused[0], g2, unfused[1], unfused[2], learning_rate, step}, attrs)
              .ok());
      const std::vector<HostTensor> fused = {param.Clone(), m.Clone(), v.Clone()};
      auto status = Executor().Run("adam_update_scaled",
                                   {fused[0], grad, fused[1], fused[2], learning_rate, step, scale}, attrs);
      ASSERT_TRUE(status.ok()) << status.status().message();
      // The same double arithmetic on the same rounded product, up to how
      // the compiler contracts multiply-adds in each loop: a few ulps of the
      // terms (all below 1 here; m and param may cancel to small values).
      const double ulps = dtype == DType::kF32 ? 2.5e-7 : 1e-15;
      for (int k = 0; k < 3; ++k) {
        ExpectClose(fused[k], unfused[k], ulps, ulps, "adam_update_scaled state " + std::to_string(k));
      }
      bool moved = false;  // the update did something: the comparison is not vacuous
      for (int64_t i = 0; i < param.NumElements(); ++i)
        moved |= fused[0].GetAsDouble(i) != param.GetAsDouble(i);
      EXPECT_TRUE(moved);
    }
  }
}

// The runtime calls a kernel object from whichever thread runs its actor.
TEST(FusedOpsTest, BiasAddGeluKernelGivesTheSameResultOnAnotherThread) {
  const Registries& registries = DefaultRegistries();
  for (const std::string op : {"bias_add_gelu", "bias_add_gelu_grad"}) {
    const bool backward = op == "bias_add_gelu_grad";
    const TensorDesc x_desc{Shape{40, 1000}, DType::kF32};
    std::vector<HostTensor> inputs;
    if (backward) inputs.push_back(Random(x_desc, 13, -1, 1));
    inputs.push_back(Random(x_desc, 14));
    inputs.push_back(Random(TensorDesc{Shape{1000}, DType::kF32}, 15, -1, 1));
    std::vector<TensorDesc> descs;
    for (const HostTensor& t : inputs) descs.push_back(t.desc());
    auto inferred = registries.ops.Infer(op, descs, {});
    ASSERT_TRUE(inferred.ok()) << inferred.status().message();
    auto factory = registries.kernels.Find(KernelKey{op, DeviceType::kCPU, DType::kF32});
    ASSERT_TRUE(factory.ok());
    std::unique_ptr<Kernel> kernel = factory.value()();
    auto run = [&](HostTensor& output) {
      output = HostTensor(inferred.value().outputs[0]);
      CpuStream stream;
      KernelContext ctx;
      ctx.op_name = op;
      ctx.attrs = &inferred.value().attrs;
      ctx.stream = &stream;
      for (const HostTensor& t : inputs) ctx.inputs.push_back(TensorArg::Whole(t.AsBlob()));
      ctx.outputs.push_back(TensorArg::Whole(output.AsBlob()));
      return kernel->Compute(ctx);
    };
    HostTensor first(inferred.value().outputs[0]), second(inferred.value().outputs[0]);
    Status first_status, second_status;
    std::thread builder([&] { first_status = run(first); });
    builder.join();
    std::thread user([&] { second_status = run(second); });
    user.join();
    ASSERT_TRUE(first_status.ok()) << first_status.message();
    ASSERT_TRUE(second_status.ok()) << second_status.message();
    ExpectClose(second, first, 0, 0, op + " from a second thread");
    ExpectClose(first, RunOne(op, inputs, {}), 0, 0, op + " against a fresh kernel");
  }
}

// ---- the pass on IR text ------------------------------------------------

Graph Parse(const std::string& text) {
  StatusOr<Graph> graph = ParseGraph(text, Ops());
  EXPECT_TRUE(graph.ok()) << graph.status().message() << "\n" << text;
  return graph.ok() ? std::move(graph).value() : Graph();
}

Status RunFusion(Graph& graph) {
  PassContext context{Ops(), CompileOptions{}, {}};
  return MakeFusionPass()->Run(graph, context);
}

std::map<std::string, int> OpCounts(const Graph& graph) {
  std::map<std::string, int> counts;
  for (NodeId id : graph.LiveNodes()) ++counts[graph.node(id).op];
  return counts;
}

int Count(const Graph& graph, const std::string& op) {
  const std::map<std::string, int> counts = OpCounts(graph);
  auto it = counts.find(op);
  return it == counts.end() ? 0 : it->second;
}

const char* kOn = " on cpu:[0] mesh [1]";

// bias_add -> gelu -> (fetch), with gelu_grad reading t; `extra` appends lines.
std::string BiasGeluText(const std::string& extra, const std::string& grad_attrs = "") {
  std::ostringstream text;
  text << "graph {\n"
       << "  %0 = input() : (f32[4, 8])" << kOn << " name \"x\"\n"
       << "  %1 = input() : (f32[8])" << kOn << " name \"b\"\n"
       << "  %2 = input() : (f32[4, 8])" << kOn << " name \"dy\"\n"
       << "  %3 = bias_add(%0, %1) : (f32[4, 8])" << kOn << " name \"fc.bias_add\"\n"
       << "  %4 = gelu(%3) {approximate=\"tanh\"} : (f32[4, 8])" << kOn << " name \"fc.gelu\"\n"
       << "  %5 = gelu_grad(%3, %2) " << (grad_attrs.empty() ? "{approximate=\"tanh\"}" : grad_attrs)
       << " : (f32[4, 8])" << kOn << " role backward name \"fc.gelu.grad\"\n"
       << "  fetch \"y\" = %4\n"
       << "  fetch \"dx\" = %5\n"
       << extra << "}\n";
  return text.str();
}

TEST(FusionPassTest, FusesBiasAddGeluAndItsBackward) {
  Graph graph = Parse(BiasGeluText(""));
  ASSERT_TRUE(RunFusion(graph).ok());
  EXPECT_EQ(OpCounts(graph),
            (std::map<std::string, int>{{"input", 3}, {"bias_add_gelu", 1}, {"bias_add_gelu_grad", 1}}))
      << PrintGraph(graph);
  // The fused nodes keep the names, roles and outputs of the nodes they
  // replace.
  const Node& forward = graph.node(graph.FindNode("fc.gelu"));
  EXPECT_EQ(forward.op, "bias_add_gelu");
  EXPECT_EQ(forward.attrs.GetString("approximate"), "tanh");
  EXPECT_EQ(forward.attrs.GetInt("axis"), -1);
  EXPECT_EQ(forward.role, NodeRole::kForward);
  const Node& backward = graph.node(graph.FindNode("fc.gelu.grad"));
  EXPECT_EQ(backward.op, "bias_add_gelu_grad");
  EXPECT_EQ(backward.role, NodeRole::kBackward);
  const NodeId x = graph.FindNode("x"), b = graph.FindNode("b"), dy = graph.FindNode("dy");
  EXPECT_EQ(forward.inputs, (std::vector<ValueId>{graph.node(x).outputs[0], graph.node(b).outputs[0]}));
  EXPECT_EQ(backward.inputs, (std::vector<ValueId>{graph.node(dy).outputs[0], graph.node(x).outputs[0],
                                                   graph.node(b).outputs[0]}));
  EXPECT_EQ(graph.fetches()[0].value, forward.outputs[0]);
  EXPECT_EQ(graph.fetches()[1].value, backward.outputs[0]);
  // The result still parses (every node infers).
  EXPECT_TRUE(ParseGraph(PrintGraph(graph), Ops()).ok()) << PrintGraph(graph);
}

TEST(FusionPassTest, FusesAForwardOnlyChain) {
  Graph graph = Parse(
      "graph {\n"
      "  %0 = input() : (f32[2, 3, 5]) on cpu:[0] mesh [1] name \"x\"\n"
      "  %1 = input() : (f32[3]) on cpu:[0] mesh [1] name \"b\"\n"
      "  %2 = bias_add(%0, %1) {axis=1} : (f32[2, 3, 5]) on cpu:[0] mesh "
      "[1] name \"t\"\n"
      "  %3 = gelu(%2) : (f32[2, 3, 5]) on cpu:[0] mesh [1] name \"y\"\n"
      "  %4 = relu(%3) : (f32[2, 3, 5]) on cpu:[0] mesh [1] name \"z\"\n"
      "  fetch \"z\" = %4\n"
      "}\n");
  ASSERT_TRUE(RunFusion(graph).ok());
  EXPECT_EQ(Count(graph, "bias_add"), 0);
  EXPECT_EQ(Count(graph, "gelu"), 0);
  ASSERT_EQ(Count(graph, "bias_add_gelu"), 1);
  EXPECT_EQ(graph.node(graph.FindNode("y")).attrs.GetInt("axis"), 1);
  EXPECT_EQ(graph.node(graph.FindNode("y")).attrs.GetString("approximate"), "none");
}

// Each extra reader of t (or a mismatch) keeps the whole chain unfused.
TEST(FusionPassTest, LeavesBiasAddGeluWhenTheIntermediateHasAnotherUse) {
  const std::map<std::string, std::pair<std::string, std::string>> variants = {
      {"another reader",
       {"  %6 = relu(%3) : (f32[4, 8]) on cpu:[0] mesh [1] name \"other\"\n  "
        "fetch \"o\" = %6\n",
        ""}},
      {"fetched", {"  fetch \"t\" = %3\n", ""}},
      {"a second gelu",
       {"  %6 = gelu(%3) : (f32[4, 8]) on cpu:[0] mesh [1] name \"gelu2\"\n  "
        "fetch \"o\" = %6\n",
        ""}},
      {"gelu_grad of another form", {"", "{approximate=\"none\"}"}},
      {"t as a gradient",
       {"  %6 = gelu_grad(%2, %3) {approximate=\"tanh\"} : (f32[4, 8]) on "
        "cpu:[0] mesh [1] name \"g\"\n"
        "  fetch \"o\" = %6\n",
        ""}},
  };
  for (const auto& [what, variant] : variants) {
    Graph graph = Parse(BiasGeluText(variant.first, variant.second));
    const std::map<std::string, int> before = OpCounts(graph);
    ASSERT_TRUE(RunFusion(graph).ok()) << what;
    EXPECT_EQ(OpCounts(graph), before) << what << "\n" << PrintGraph(graph);
    EXPECT_EQ(Count(graph, "bias_add_gelu"), 0) << what;
  }
}

TEST(FusionPassTest, LeavesBiasAddGeluAcrossPlacements) {
  Graph graph = Parse(
      "graph {\n"
      "  %0 = input() : (f32[4, 8]) on cpu:[0] mesh [1] name \"x\"\n"
      "  %1 = input() : (f32[8]) on cpu:[0] mesh [1] name \"b\"\n"
      "  %2 = bias_add(%0, %1) : (f32[4, 8]) on cpu:[0] mesh [1] name \"t\"\n"
      "  %3 = gelu(%2) : (f32[4, 8]) on cpu:[1] mesh [1] name \"y\"\n"
      "  fetch \"y\" = %3\n"
      "}\n");
  ASSERT_TRUE(RunFusion(graph).ok());
  EXPECT_EQ(Count(graph, "bias_add"), 1);
  EXPECT_EQ(Count(graph, "gelu"), 1);
}

std::string AdamText(const std::string& mul_inputs, const std::string& extra) {
  std::ostringstream text;
  text << "graph {\n"
       << "  %0 = variable() : (f32[4, 3])" << kOn << " name \"w\"\n"
       << "  %1 = input() : (f32[4, 3])" << kOn << " name \"g\"\n"
       << "  %2 = input() : (f32[])" << kOn << " name \"scale\"\n"
       << "  %3 = variable() : (f32[4, 3])" << kOn << " name \"w.adam_m\"\n"
       << "  %4 = variable() : (f32[4, 3])" << kOn << " name \"w.adam_v\"\n"
       << "  %5 = input() : (f32[])" << kOn << " name \"lr\"\n"
       << "  %6 = input() : (i64[])" << kOn << " name \"step\"\n"
       << "  %7 = mul(" << mul_inputs << ") : (f32[4, 3])" << kOn << " role optimizer name \"clip/mul\"\n"
       << "  adam_update(%0, %7, %3, %4, %5, %6) {beta1=0.8, "
          "weight_decay=0.01} : ()"
       << kOn << " role optimizer name \"w.adam\"\n"
       << extra << "}\n";
  return text.str();
}

TEST(FusionPassTest, FusesTheScaledAdamUpdateInEitherOperandOrder) {
  for (const std::string mul_inputs : {"%1, %2", "%2, %1"}) {
    Graph graph = Parse(AdamText(mul_inputs, ""));
    ASSERT_TRUE(RunFusion(graph).ok());
    EXPECT_EQ(Count(graph, "mul"), 0) << PrintGraph(graph);
    EXPECT_EQ(Count(graph, "adam_update"), 0);
    ASSERT_EQ(Count(graph, "adam_update_scaled"), 1);
    const Node& update = graph.node(graph.FindNode("w.adam"));
    EXPECT_EQ(update.op, "adam_update_scaled");
    EXPECT_EQ(update.role, NodeRole::kOptimizer);
    EXPECT_EQ(update.attrs.GetFloat("beta1"), 0.8);
    EXPECT_EQ(update.attrs.GetFloat("weight_decay"), 0.01);
    auto value_of = [&](const std::string& name) { return graph.node(graph.FindNode(name)).outputs[0]; };
    EXPECT_EQ(update.inputs,
              (std::vector<ValueId>{value_of("w"), value_of("g"), value_of("w.adam_m"), value_of("w.adam_v"),
                                    value_of("lr"), value_of("step"), value_of("scale")}));
  }
}

TEST(FusionPassTest, LeavesTheAdamUpdateWhenTheScaledGradientHasAnotherUse) {
  for (const std::string extra : {"  fetch \"g2\" = %7\n",
                                  "  %8 = relu(%7) : (f32[4, 3]) on cpu:[0] mesh [1] name \"other\"\n"
                                  "  fetch \"o\" = %8\n"}) {
    Graph graph = Parse(AdamText("%1, %2", extra));
    ASSERT_TRUE(RunFusion(graph).ok());
    EXPECT_EQ(Count(graph, "mul"), 1) << extra;
    EXPECT_EQ(Count(graph, "adam_update"), 1) << extra;
    EXPECT_EQ(Count(graph, "adam_update_scaled"), 0) << extra;
  }
  // A mul that broadcasts the gradient is not a scale.
  Graph broadcast = Parse(
      "graph {\n"
      "  %0 = variable() : (f32[4, 3]) on cpu:[0] mesh [1] name \"w\"\n"
      "  %1 = input() : (f32[3]) on cpu:[0] mesh [1] name \"g\"\n"
      "  %2 = input() : (f32[4, 3]) on cpu:[0] mesh [1] name \"s\"\n"
      "  %3 = variable() : (f32[4, 3]) on cpu:[0] mesh [1] name \"m\"\n"
      "  %4 = variable() : (f32[4, 3]) on cpu:[0] mesh [1] name \"v\"\n"
      "  %5 = input() : (f32[]) on cpu:[0] mesh [1] name \"lr\"\n"
      "  %6 = input() : (i64[]) on cpu:[0] mesh [1] name \"step\"\n"
      "  %7 = mul(%1, %2) : (f32[4, 3]) on cpu:[0] mesh [1] name \"mul\"\n"
      "  adam_update(%0, %7, %3, %4, %5, %6) : () on cpu:[0] mesh [1] name "
      "\"adam\"\n"
      "}\n");
  ASSERT_TRUE(RunFusion(broadcast).ok());
  EXPECT_EQ(Count(broadcast, "adam_update_scaled"), 0);
}

// ---- whole compilations -----------------------------------------------------

// x [16, 32] -> Linear 32->64 -> gelu -> Linear 64->32 -> cross-entropy,
// Adam with global-norm clipping. Placement and hints as IR fragments.
std::string MlpJob(const std::string& placement, const std::string& batch_hint,
                   const std::string& fc1_weight_hint, const std::string& fc1_bias_hint,
                   const std::string& fc2_weight_hint) {
  auto hint = [](const std::string& sbp) { return sbp.empty() ? std::string() : " hint " + sbp; };
  const std::string on = " on " + placement;
  std::ostringstream text;
  text << "graph {\n"
       << "  %0 = input() : (f32[16, 32]" << hint(batch_hint) << ")" << on << " name \"x\"\n"
       << "  %1 = input() : (i64[16]" << hint(batch_hint) << ")" << on << " name \"labels\"\n"
       << "  %2 = variable() {initializer=\"normal\", seed=1, std=0.3} : "
          "(f32[32, 64]"
       << hint(fc1_weight_hint) << ")" << on << " name \"fc1.weight\"\n"
       << "  %3 = variable() {initializer=\"normal\", seed=2, std=0.5} : "
          "(f32[64]"
       << hint(fc1_bias_hint) << ")" << on << " name \"fc1.bias\"\n"
       << "  %4 = matmul(%0, %2) : (f32[16, 64])" << on << " name \"fc1\"\n"
       << "  %5 = bias_add(%4, %3) : (f32[16, 64])" << on << " name \"fc1.bias_add\"\n"
       << "  %6 = gelu(%5) : (f32[16, 64])" << on << " name \"gelu\"\n"
       << "  %7 = variable() {initializer=\"normal\", seed=3, std=0.3} : "
          "(f32[64, 32]"
       << hint(fc2_weight_hint) << ")" << on << " name \"fc2.weight\"\n"
       << "  %8 = matmul(%6, %7) : (f32[16, 32]" << hint(batch_hint) << ")" << on << " name \"fc2\"\n"
       << "  %9, %10 = sparse_softmax_cross_entropy(%8, %1) : (f32[], f32[16, "
          "32])"
       << on << " name \"loss\"\n"
       << "  fetch \"loss\" = %9\n"
       << "  minimize %9 {kind=\"adam\", learning_rate=0.01, clip_norm=0.5}\n"
       << "}\n";
  return text.str();
}

StatusOr<Graph> CompileLogical(const std::string& text, bool enable_fusion) {
  OFL_ASSIGN_OR_RETURN(Graph graph, ParseGraph(text, Ops()));
  CompileOptions options;
  options.enable_fusion = enable_fusion;
  PassContext context{Ops(), options, {}};
  OFL_RETURN_IF_ERROR(RunPasses(DefaultPipeline(options), graph, context));
  return graph;
}

// Every node reads each input with the layout that input carries, and its
// (input, output) layouts are one of its op's N-D signatures.
void ExpectConsistentLayouts(const Graph& graph) {
  for (NodeId id : graph.LiveNodes()) {
    const Node& node = graph.node(id);
    if (node.IsInput() || node.IsVariable() || node.IsBoxing()) continue;
    ASSERT_EQ(node.input_sbps.size(), node.inputs.size()) << Describe(node);
    std::vector<TensorDesc> descs;
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const Value& input = graph.value(node.inputs[i]);
      EXPECT_EQ(input.sbp, node.input_sbps[i]) << Describe(node) << " input " << i;
      EXPECT_EQ(input.placement, node.placement) << Describe(node) << " input " << i;
      descs.push_back(input.desc);
    }
    std::vector<NdSbp> outputs;
    for (ValueId output : node.outputs) outputs.push_back(graph.value(output).sbp);
    // One list per mesh axis, for that axis's piece count (as deduction asks).
    const Shape& hierarchy = node.placement.hierarchy();
    std::vector<std::vector<SbpSignature>> per_axis;
    for (int axis = 0; axis < hierarchy.rank(); ++axis) {
      StatusOr<std::vector<SbpSignature>> signatures =
          Ops().Signatures(node.op, descs, node.attrs, hierarchy[axis]);
      ASSERT_TRUE(signatures.ok()) << Describe(node) << ": " << signatures.status().message();
      per_axis.push_back(std::move(signatures).value());
    }
    // Deduction writes every layout as B on a mesh axis of extent 1.
    auto canonical = [&](std::vector<NdSbp> layouts) {
      for (NdSbp& layout : layouts) {
        for (int axis = 0; axis < hierarchy.rank(); ++axis) {
          if (hierarchy[axis] == 1) layout[axis] = Sbp::Broadcast();
        }
      }
      return layouts;
    };
    bool found = false;
    for (const NdSbpSignature& signature : ExpandToNd(per_axis)) {
      found |= canonical(signature.inputs) == node.input_sbps && canonical(signature.outputs) == outputs;
    }
    EXPECT_TRUE(found) << Describe(node) << " reads and writes a layout none of its signatures has";
  }
}

int CommunicatingBoxings(const Graph& graph) {
  int count = 0;
  for (NodeId id : graph.LiveNodes()) {
    const Node& node = graph.node(id);
    if (!node.IsBoxing()) continue;
    const std::string kind = node.attrs.GetString("kind");
    count += kind != "identity" && kind != "local_slice" && kind != "keep_on_one";
  }
  return count;
}

// adam_update nodes whose gradient is mul(g, [] scale) read directly (no
// boxing in between) and read by nothing else: what rewrite 2 must fuse.
int UnboxedScaledUpdates(const Graph& graph) {
  const std::vector<Uses> uses = graph.ComputeUses();
  int count = 0;
  for (NodeId id : graph.LiveNodes()) {
    const Node& node = graph.node(id);
    if (node.op != "adam_update") continue;
    const ValueId g2 = node.inputs[1];
    const Node& producer = graph.producer(g2);
    if (producer.op != "mul" || uses[g2].size() != 1) continue;
    count += graph.value(producer.inputs[0]).desc.shape.rank() == 0 ||
             graph.value(producer.inputs[1]).desc.shape.rank() == 0;
  }
  return count;
}

struct Layout {
  std::string name, placement, batch, fc1_weight, fc1_bias, fc2_weight;
};

const Layout kLayouts[] = {
    {"one device", "cpu:[0] mesh [1]", "", "", "", ""},
    {"data parallel", "cpu:[0,1] mesh [2]", "S(0)", "", "", ""},
    {"tensor parallel", "cpu:[0,1] mesh [2]", "B", "S(1)", "S(0)", "S(0)"},
    {"2-D", "cpu:[0,1,2,3] mesh [2, 2]", "(S(0), B)", "(B, S(1))", "(B, S(0))", "(B, S(0))"},
};

TEST(FusionPassTest, FusesATrainingStepAndKeepsLayoutsConsistent) {
  for (const Layout& layout : kLayouts) {
    const std::string job =
        MlpJob(layout.placement, layout.batch, layout.fc1_weight, layout.fc1_bias, layout.fc2_weight);
    StatusOr<Graph> unfused = CompileLogical(job, false);
    StatusOr<Graph> fused = CompileLogical(job, true);
    ASSERT_TRUE(unfused.ok()) << layout.name << ": " << unfused.status().message();
    ASSERT_TRUE(fused.ok()) << layout.name << ": " << fused.status().message();
    const Graph& graph = fused.value();
    EXPECT_EQ(Count(unfused.value(), "gelu"), 1) << layout.name;
    EXPECT_EQ(Count(unfused.value(), "gelu_grad"), 1) << layout.name;
    EXPECT_EQ(Count(graph, "bias_add_gelu"), 1) << layout.name << "\n" << PrintGraph(graph);
    EXPECT_EQ(Count(graph, "bias_add_gelu_grad"), 1) << layout.name;
    EXPECT_EQ(Count(graph, "gelu") + Count(graph, "gelu_grad") + Count(graph, "bias_add"), 0) << layout.name;
    // Three parameters, each clipped (mul by the scale) then updated. The
    // update fuses where the scaled gradient reaches it without boxing.
    EXPECT_EQ(Count(unfused.value(), "adam_update"), 3) << layout.name;
    const int scaled = UnboxedScaledUpdates(unfused.value());
    if (layout.name == "tensor parallel") EXPECT_EQ(scaled, 3) << PrintGraph(unfused.value());
    EXPECT_EQ(Count(graph, "adam_update_scaled"), scaled) << layout.name << "\n" << PrintGraph(graph);
    EXPECT_EQ(Count(graph, "adam_update"), 3 - scaled) << layout.name;
    // The square-sum muls of clipping stay; the fused scaling muls are gone.
    EXPECT_EQ(Count(unfused.value(), "mul") - Count(graph, "mul"), scaled) << layout.name;
    EXPECT_EQ(graph.NumLiveNodes(), unfused.value().NumLiveNodes() - 1 - scaled) << layout.name;
    // Fusion moves no data: the same collectives, and every layout legal.
    EXPECT_EQ(CommunicatingBoxings(graph), CommunicatingBoxings(unfused.value())) << layout.name;
    ExpectConsistentLayouts(graph);
    // The tensor-parallel layouts read x (fc1's output) split along the
    // bias axis, with the bias split to match.
    if (layout.name == "tensor parallel") {
      const Node& forward = graph.node(graph.FindNode("gelu"));
      ASSERT_EQ(forward.input_sbps.size(), 2u);
      EXPECT_EQ(forward.input_sbps[0], (NdSbp{Sbp::Split(1)})) << PrintGraph(graph);
      EXPECT_EQ(forward.input_sbps[1], (NdSbp{Sbp::Split(0)}));
    }
  }
}

TEST(FusionPassTest, FusedTrainingStepsComputeWhatUnfusedStepsDo) {
  for (const Layout& layout : {kLayouts[0], kLayouts[2]}) {
    const std::string job =
        MlpJob(layout.placement, layout.batch, layout.fc1_weight, layout.fc1_bias, layout.fc2_weight);
    StatusOr<Graph> unfused = CompileLogical(job, false);
    StatusOr<Graph> fused = CompileLogical(job, true);
    ASSERT_TRUE(unfused.ok() && fused.ok());
    ASSERT_EQ(Count(fused.value(), "bias_add_gelu"), 1);
    if (layout.name == "tensor parallel") ASSERT_EQ(Count(fused.value(), "adam_update_scaled"), 3);
    std::map<std::string, HostTensor> feeds = {
        {"x", Random(TensorDesc{Shape{16, 32}, DType::kF32}, 20, -1, 1)}};
    HostTensor labels(TensorDesc{Shape{16}, DType::kI64});
    for (int64_t i = 0; i < 16; ++i) labels.SetFromDouble(i, (i * 7) % 32);
    feeds["labels"] = labels;
    const GraphInterpreter interpreter;
    std::map<std::string, HostTensor> unfused_variables, fused_variables;
    for (int step = 0; step < 3; ++step) {
      StatusOr<ValueTensors> a = interpreter.Run(unfused.value(), feeds, unfused_variables);
      StatusOr<ValueTensors> b = interpreter.Run(fused.value(), feeds, fused_variables);
      ASSERT_TRUE(a.ok()) << a.status().message();
      ASSERT_TRUE(b.ok()) << b.status().message();
      StatusOr<HostTensor> loss_a = testing::FetchedTensor(unfused.value(), a.value(), "loss");
      StatusOr<HostTensor> loss_b = testing::FetchedTensor(fused.value(), b.value(), "loss");
      ASSERT_TRUE(loss_a.ok() && loss_b.ok());
      ExpectClose(loss_b.value(), loss_a.value(), 1e-6, 0,
                  layout.name + " loss at step " + std::to_string(step));
    }
    ASSERT_EQ(fused_variables.size(), unfused_variables.size());
    for (const auto& [name, value] : unfused_variables) {
      ASSERT_TRUE(fused_variables.count(name)) << name;
      // Gradients agree to float rounding; Adam divides by sqrt(v), so
      // parameters differ by at most a few ulps of a step.
      ExpectClose(fused_variables.at(name), value, 1e-5, 1e-7, layout.name + " variable " + name);
    }
    // Training moved the parameters (the comparison above is not vacuous).
    EXPECT_FALSE(unfused_variables.empty());
  }
}

}  // namespace
}  // namespace ofl::compiler

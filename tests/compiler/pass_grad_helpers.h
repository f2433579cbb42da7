// Helpers shared by the tests of the training passes (autograd, optimizer
// insertion, dead-node elimination, shape inference): building small graphs
// on one CPU device, running a list of passes, and finite differences of a
// graph's loss through the GraphInterpreter.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "compiler/ir/graph.h"
#include "compiler/passes/autograd.h"
#include "compiler/passes/dead_node_elimination.h"
#include "compiler/passes/optimizer_insertion.h"
#include "compiler/passes/pipeline.h"
#include "compiler/passes/shape_inference.h"
#include "ops/registry.h"
#include "tests/testing/graph_interpreter.h"

namespace ofl::testing {

using compiler::Graph;
using compiler::NodeId;
using compiler::ValueId;

/// One CPU device.
inline Placement OneCpu() { return Placement::Linear(DeviceType::kCPU, 1); }

/// The registry ops.
inline const OpRegistry& Ops() { return DefaultRegistries().ops; }

/// Adds a registry op on one CPU; fails the test (and returns -1s) on error.
inline std::vector<ValueId> Op(Graph& graph, const std::string& op, const std::string& name,
                               std::vector<ValueId> inputs, const AttrMap& attrs = {}) {
  StatusOr<NodeId> id =
      graph.AddOp(Ops(), op, name, std::move(inputs), attrs, OneCpu(), compiler::NodeRole::kForward);
  EXPECT_TRUE(id.ok()) << id.status().message();
  if (!id.ok()) return {-1, -1, -1};
  return graph.node(id.value()).outputs;
}

/// A variable initialised from a normal distribution (f64 unless given).
inline ValueId NormalVariable(Graph& graph, const std::string& name, Shape shape, int64_t seed,
                              DType dtype = DType::kF64) {
  return graph.AddVariable(name, TensorDesc{std::move(shape), dtype}, OneCpu(), NdSbp{},
                           AttrMap{{"initializer", std::string("normal")}, {"std", 0.5}, {"seed", seed}});
}

/// Runs `passes` in order with `options`.
inline Status RunPassList(Graph& graph, std::vector<std::unique_ptr<compiler::Pass>> passes,
                          compiler::CompileOptions options = {}) {
  compiler::PassContext context{Ops(), options, {}};
  return compiler::RunPasses(passes, graph, context);
}

/// shape_inference then autograd.
inline Status RunAutograd(Graph& graph) {
  std::vector<std::unique_ptr<compiler::Pass>> passes;
  passes.push_back(compiler::MakeShapeInferencePass());
  passes.push_back(compiler::MakeAutogradPass());
  return RunPassList(graph, std::move(passes));
}

/// Uniform values in [low, high) (integers rounded down), deterministic in `seed`.
inline HostTensor RandomTensor(TensorDesc desc, uint64_t seed, double low = -1.0, double high = 1.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(low, high);
  HostTensor tensor(desc);
  for (int64_t i = 0; i < tensor.NumElements(); ++i) {
    const double value = uniform(rng);
    tensor.SetFromDouble(i, IsFloatingPoint(desc.dtype) ? value : std::floor(value));
  }
  return tensor;
}

/// Deep copies of every variable (runs must not share state by accident).
inline std::map<std::string, HostTensor> CloneVariables(const std::map<std::string, HostTensor>& variables) {
  std::map<std::string, HostTensor> copies;
  for (const auto& [name, tensor] : variables) copies.emplace(name, tensor.Clone());
  return copies;
}

/// The loss of one run of `graph` with these feeds and variables.
inline double LossOf(const Graph& graph, const std::map<std::string, HostTensor>& feeds,
                     const std::map<std::string, HostTensor>& variables) {
  std::map<std::string, HostTensor> copies = CloneVariables(variables);
  StatusOr<ValueTensors> result = GraphInterpreter().Run(graph, feeds, copies);
  if (!result.ok()) throw Error(result.status().message());
  return result.value().at(graph.loss()).GetAsDouble(0);
}

/// Checks every element of the gradient of every variable in
/// graph.gradients() against central differences of the loss (f64 graph).
inline void ExpectGradientsMatchFiniteDifferences(const Graph& graph,
                                                  const std::map<std::string, HostTensor>& feeds,
                                                  double tolerance = 1e-6) {
  std::map<std::string, HostTensor> variables;
  StatusOr<ValueTensors> result = GraphInterpreter().Run(graph, feeds, variables);
  ASSERT_TRUE(result.ok()) << result.status().message();
  ASSERT_FALSE(graph.gradients().empty());
  for (const auto& [variable, gradient] : graph.gradients()) {
    const std::string name = graph.producer(variable).name;
    const HostTensor analytic = result.value().at(gradient);
    ASSERT_EQ(analytic.desc(), graph.value(variable).desc) << name;
    for (int64_t i = 0; i < analytic.NumElements(); ++i) {
      const double x = variables.at(name).GetAsDouble(i);
      const double eps = 1e-6 * std::max(1.0, std::abs(x));
      std::map<std::string, HostTensor> plus = CloneVariables(variables);
      std::map<std::string, HostTensor> minus = CloneVariables(variables);
      plus.at(name).SetFromDouble(i, x + eps);
      minus.at(name).SetFromDouble(i, x - eps);
      const double numeric = (LossOf(graph, feeds, plus) - LossOf(graph, feeds, minus)) / (2 * eps);
      EXPECT_NEAR(analytic.GetAsDouble(i), numeric, tolerance * std::max(1.0, std::abs(numeric)))
          << "d loss / d " << name << "[" << i << "]";
    }
  }
}

/// Live nodes running `op`.
inline std::vector<NodeId> NodesOf(const Graph& graph, const std::string& op) {
  std::vector<NodeId> found;
  for (NodeId id : graph.LiveNodes()) {
    if (graph.node(id).op == op) found.push_back(id);
  }
  return found;
}

}  // namespace ofl::testing

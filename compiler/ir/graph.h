// The logical IR: a graph of ops on logical tensors, each tensor with a
// placement and (after SBP deduction) an NdSbp. Users build it through
// api/GraphBuilder; passes rewrite it; physical lowering turns it into a Plan.
//
// Nodes and values live in two arrays indexed by id; a removed node stays in
// the array marked `removed` so ids never move (passes hold ids across
// rewrites). Besides ops of the OpRegistry, three reserved node kinds exist:
//   input    : no inputs, one output fed by the user every step; the node's
//              name is the feed name.
//   variable : no inputs, one persistent output; attrs describe the
//              initializer (initializer="zeros"|"ones"|"constant"|"normal"|"uniform",
//              value, mean, std, low, high, seed) and trainable=bool.
//   boxing   : one input, one output; moves a value from the input's
//              (placement, NdSbp) to the output's. attrs: kind = one of the
//              BoxingKind names (boxing/boxing_kind.h).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "oneflow_like/attr.h"
#include "oneflow_like/placement.h"
#include "oneflow_like/status.h"
#include "oneflow_like/tensor_desc.h"
#include "ops/op_schema.h"
#include "sbp/sbp.h"

namespace ofl::compiler {

using NodeId = int64_t;
using ValueId = int64_t;

inline constexpr const char* kInputOp = "input";
inline constexpr const char* kVariableOp = "variable";
inline constexpr const char* kBoxingOp = "boxing";

/// Which part of a training step a node belongs to; tests count
/// communication per part ("one all-reduce in forward").
enum class NodeRole : int8_t { kForward, kBackward, kOptimizer };
/// "forward", "backward", "optimizer".
std::string NodeRoleName(NodeRole role);
StatusOr<NodeRole> ParseNodeRole(const std::string& text);

/// A logical tensor.
struct Value {
  ValueId id = -1;
  TensorDesc desc;
  Placement placement;
  /// The deduced layout; empty until SBP deduction (or set by the user on
  /// inputs and variables, where it is also the hint).
  NdSbp sbp;
  /// A constraint from the user: deduction must give this value this NdSbp.
  std::optional<NdSbp> sbp_hint;
  NodeId producer = -1;
  int output_index = 0;
};

/// One op instance on logical tensors.
struct Node {
  NodeId id = -1;
  std::string op;    ///< registry op name, or input/variable/boxing
  std::string name;  ///< user-facing name used in errors ("fc1/matmul")
  AttrMap attrs;     ///< complete (defaults filled) for registry ops
  std::vector<ValueId> inputs;
  std::vector<ValueId> outputs;
  Placement placement;
  NodeRole role = NodeRole::kForward;
  /// The pipeline stage the user put this node in (api ScopeOptions::
  /// pipeline_stage), -1 when none. Only forward nodes built by the user
  /// carry one; the micro_batching pass checks the stage order and lowering
  /// derives register counts from the stages' devices.
  int stage = -1;
  /// After SBP deduction: the NdSbp this node reads each input with (the
  /// chosen signature); boxing insertion makes every input value carry it.
  std::vector<NdSbp> input_sbps;
  bool removed = false;

  bool IsInput() const { return op == kInputOp; }
  bool IsVariable() const { return op == kVariableOp; }
  bool IsBoxing() const { return op == kBoxingOp; }
};

/// A named output the user fetches after each step.
struct Fetch {
  std::string name;
  ValueId value = -1;
};

/// Uses of a value: (consumer node, input position).
using Uses = std::vector<std::pair<NodeId, int>>;

/// The logical graph of one job.
class Graph {
 public:
  // ---- building -------------------------------------------------------
  /// Adds a node whose outputs have the given descriptions (no inference).
  /// Returns the node id; its output value ids are node(id).outputs.
  NodeId AddNode(std::string op, std::string name, std::vector<ValueId> inputs, AttrMap attrs,
                 const std::vector<TensorDesc>& output_descs, Placement placement, NodeRole role);
  /// Adds a registry op after checking it (OpRegistry::Infer: input count,
  /// attributes, shapes). Errors are prefixed with the node name. Inputs
  /// may lie on other placements: boxing insertion moves them later.
  StatusOr<NodeId> AddOp(const OpRegistry& ops, const std::string& op, std::string name,
                         std::vector<ValueId> inputs, const AttrMap& attrs, Placement placement,
                         NodeRole role);
  /// An `input` node; `sbp` (may be empty) becomes its hint.
  ValueId AddInput(std::string name, TensorDesc desc, Placement placement, NdSbp sbp);
  /// A `variable` node; `sbp` (may be empty: Broadcast by default) becomes
  /// its hint; `initializer` as described at the top of this file.
  ValueId AddVariable(std::string name, TensorDesc desc, Placement placement, NdSbp sbp, AttrMap initializer);

  // ---- access ---------------------------------------------------------
  const Node& node(NodeId id) const { return nodes_.at(id); }
  Node& mutable_node(NodeId id) { return nodes_.at(id); }
  const Value& value(ValueId id) const { return values_.at(id); }
  Value& mutable_value(ValueId id) { return values_.at(id); }
  int64_t num_node_slots() const { return static_cast<int64_t>(nodes_.size()); }
  int64_t num_value_slots() const { return static_cast<int64_t>(values_.size()); }
  /// Ids of nodes not removed, in creation order.
  std::vector<NodeId> LiveNodes() const;
  int64_t NumLiveNodes() const;
  /// Live nodes in a topological order (stable: creation order among ready
  /// nodes). Errors on a cycle.
  StatusOr<std::vector<NodeId>> TopologicalOrder() const;
  /// For every value, its uses by live nodes (index = value id).
  std::vector<Uses> ComputeUses() const;
  /// The live node named `name`, or -1 (names are fixed when a node is
  /// added; the last node added under a name wins).
  NodeId FindNode(const std::string& name) const;
  /// The node that produces `value` (every value has one; a removed node
  /// may still be returned for a value that is no longer used).
  const Node& producer(ValueId value) const { return nodes_.at(values_.at(value).producer); }

  // ---- rewriting ------------------------------------------------------
  /// Marks a node removed; its outputs must have no live uses or fetches.
  void RemoveNode(NodeId id) { nodes_.at(id).removed = true; }
  /// Makes every live use and fetch of `from` read `to` instead.
  void ReplaceAllUses(ValueId from, ValueId to);

  // ---- job-level data ---------------------------------------------------
  std::vector<Fetch>& fetches() { return fetches_; }
  const std::vector<Fetch>& fetches() const { return fetches_; }
  /// The value training minimises (-1 for an inference graph).
  ValueId loss() const { return loss_; }
  /// Optimizer configuration (kind="sgd"|"adam"|"adamw", learning_rate,
  /// momentum, beta1, beta2, epsilon, weight_decay, clip_norm,
  /// warmup_steps, decay_steps, min_learning_rate): see api/optimizer.h.
  const AttrMap& optimizer() const { return optimizer_; }
  void SetMinimize(ValueId loss, AttrMap optimizer) {
    loss_ = loss;
    optimizer_ = std::move(optimizer);
  }
  /// Set by autograd: the gradient value of each trainable variable value.
  std::map<ValueId, ValueId>& gradients() { return gradients_; }
  const std::map<ValueId, ValueId>& gradients() const { return gradients_; }

  // ---- text form --------------------------------------------------------
  /// The text form (see graph_text.h); Parse(ToText()) reproduces it.
  std::string ToText() const;

 private:
  std::vector<Node> nodes_;
  std::vector<Value> values_;
  std::vector<Fetch> fetches_;
  ValueId loss_ = -1;
  AttrMap optimizer_;
  std::map<ValueId, ValueId> gradients_;
  std::unordered_map<std::string, NodeId> names_;
};

/// "fc1/matmul (matmul)": how errors name a node.
std::string Describe(const Node& node);

}  // namespace ofl::compiler

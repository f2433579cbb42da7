// An OpEmitter that appends checked ops to a Graph. Gradient rules,
// composites (attention, clipping), the optimizer pass and api/GraphBuilder
// all emit through it, so every op they add is inferred and named.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "compiler/ir/graph.h"

namespace ofl::compiler {

/// Emits ops into `graph` on `placement` with `role`; node names are
/// "<prefix>/<op>" made unique with a counter ("fc1/matmul", "fc1/matmul_1").
class GraphEmitter final : public OpEmitter {
 public:
  GraphEmitter(Graph& graph, const OpRegistry& ops, Placement placement, NodeRole role,
               std::string name_prefix = "");

  StatusOr<std::vector<ValueRef>> Emit(const std::string& op, const std::vector<ValueRef>& inputs,
                                       const AttrMap& attrs) override;
  TensorDesc Desc(ValueRef value) const override { return graph_.value(value.id).desc; }

  /// Like Emit, with an explicit node name (must be unique; used as is).
  StatusOr<std::vector<ValueRef>> EmitNamed(const std::string& name, const std::string& op,
                                            const std::vector<ValueRef>& inputs, const AttrMap& attrs);
  /// Nodes added so far by this emitter, in order.
  const std::vector<NodeId>& emitted() const { return emitted_; }

  void set_placement(Placement placement) { placement_ = std::move(placement); }
  const Placement& placement() const { return placement_; }
  void set_role(NodeRole role) { role_ = role; }
  void set_name_prefix(std::string prefix) { name_prefix_ = std::move(prefix); }
  const std::string& name_prefix() const { return name_prefix_; }
  Graph& graph() { return graph_; }
  const OpRegistry& ops() const { return ops_; }

  /// A name under the current prefix not yet used in the graph.
  std::string UniqueName(const std::string& base);

 private:
  Graph& graph_;
  const OpRegistry& ops_;
  Placement placement_;
  NodeRole role_;
  std::string name_prefix_;
  std::vector<NodeId> emitted_;
  std::unordered_map<std::string, int> counters_;
};

}  // namespace ofl::compiler

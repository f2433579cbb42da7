#include "compiler/passes/micro_batching.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace ofl::compiler {
namespace {

// A node name not used yet: `stem`, else "stem_1", "stem_2", ...
std::string FreshName(const Graph& graph, const std::string& stem) {
  std::string name = stem;
  for (int i = 1; graph.FindNode(name) >= 0; ++i) name = stem + "_" + std::to_string(i);
  return name;
}

// How errors name the value a node reads: its producer.
std::string DescribeProducer(const Graph& graph, ValueId value) { return Describe(graph.producer(value)); }

Status CheckStages(const Graph& graph, const std::vector<NodeId>& order) {
  // Forward nodes per declared stage.
  std::map<int, std::vector<NodeId>> members;
  for (NodeId id : order) {
    const Node& node = graph.node(id);
    if (node.stage >= 0 && node.role == NodeRole::kForward) members[node.stage].push_back(id);
  }
  if (members.empty()) return Status::Ok();
  const int last = members.rbegin()->first;
  for (int stage = 0; stage <= last; ++stage) {
    OFL_CHECK_OR_RETURN(members.count(stage) != 0)
        << "pipeline stage " << stage << " is empty: stages 0.." << last
        << " are used and each needs ops (number stages without gaps)";
  }
  // One placement per stage, no device in two stages.
  std::map<DeviceId, int> stage_of_device;
  for (const auto& [stage, nodes] : members) {
    const Node& first = graph.node(nodes.front());
    for (NodeId id : nodes) {
      const Node& node = graph.node(id);
      OFL_CHECK_OR_RETURN(node.placement == first.placement)
          << "pipeline stage " << stage << " runs " << Describe(first) << " on " << first.placement.ToString()
          << " and " << Describe(node) << " on " << node.placement.ToString()
          << ": expected one placement per stage";
    }
    for (const DeviceId& device : first.placement.devices()) {
      auto [it, inserted] = stage_of_device.emplace(device, stage);
      OFL_CHECK_OR_RETURN(inserted) << "pipeline stages " << it->second << " and " << stage
                                    << " both use device " << device.ToString()
                                    << ": expected each stage on its own devices";
    }
  }
  // latest[v]: the latest stage any forward computation of v went through.
  std::vector<int> latest(graph.num_value_slots(), -1);
  std::vector<NodeId> through(graph.num_value_slots(), -1);  // the node of that stage, for messages
  for (NodeId id : order) {
    const Node& node = graph.node(id);
    if (node.role != NodeRole::kForward) continue;
    int reached = node.stage;
    NodeId where = node.stage >= 0 ? id : -1;
    for (ValueId input : node.inputs) {
      if (node.stage >= 0 && latest[input] > node.stage) {
        return Status::Error(Describe(node) + " in stage " + std::to_string(node.stage) +
                             " reads a value computed in stage " + std::to_string(latest[input]) + " (" +
                             Describe(graph.node(through[input])) + " via " + DescribeProducer(graph, input) +
                             "): in forward a stage may read only its own and earlier stages");
      }
      if (latest[input] > reached) {
        reached = latest[input];
        where = through[input];
      }
    }
    for (ValueId output : node.outputs) {
      latest[output] = reached;
      through[output] = where;
    }
  }
  return Status::Ok();
}

class MicroBatchingPass final : public Pass {
 public:
  std::string name() const override { return "micro_batching"; }

  Status Run(Graph& graph, PassContext& context) override {
    OFL_ASSIGN_OR_RETURN(const std::vector<NodeId> order, graph.TopologicalOrder());
    OFL_RETURN_IF_ERROR(CheckStages(graph, order));
    OFL_ASSIGN_OR_RETURN(micro_batches_, MicroBatchesOf(graph));
    if (micro_batches_ == 1) return Status::Ok();
    for (NodeId id : order) {
      // Already micro-batched (a graph compiled twice): nothing to do.
      if (graph.node(id).op == "unpack") return Status::Ok();
    }
    ops_ = &context.ops;
    in_region_.assign(graph.num_value_slots(), false);
    const std::vector<Uses> uses = graph.ComputeUses();
    for (NodeId id : order) {
      const Node& node = graph.node(id);
      if (node.IsInput()) {
        OFL_RETURN_IF_ERROR(UnpackInput(graph, id, uses[node.outputs[0]]));
      } else if (!node.IsVariable()) {
        OFL_RETURN_IF_ERROR(VisitOp(graph, id));
      }
    }
    return RewriteFetches(graph);
  }

 private:
  void MarkRegion(Graph& graph, ValueId value) {
    if (static_cast<int64_t>(in_region_.size()) < graph.num_value_slots()) {
      in_region_.resize(graph.num_value_slots(), false);
    }
    in_region_[value] = true;
  }
  bool InRegion(ValueId value) const {
    return value < static_cast<int64_t>(in_region_.size()) && in_region_[value];
  }

  StatusOr<ValueId> AddMicroOp(Graph& graph, const std::string& op, const std::string& stem, ValueId input,
                               const Node& like, NodeRole role, AttrMap attrs = {}) {
    attrs.Set("micro_batches", micro_batches_);
    StatusOr<NodeId> added =
        graph.AddOp(*ops_, op, FreshName(graph, stem), {input}, attrs, graph.value(input).placement, role);
    if (!added.ok()) return added.status().WithContext(Describe(like));
    graph.mutable_node(added.value()).stage = like.stage;
    return graph.node(added.value()).outputs[0];
  }

  Status UnpackInput(Graph& graph, NodeId input_node, const Uses& uses) {
    if (uses.empty()) return Status::Ok();
    const Node node = graph.node(input_node);
    const ValueId input = node.outputs[0];
    const TensorDesc& desc = graph.value(input).desc;
    OFL_CHECK_OR_RETURN(desc.shape.rank() >= 1 && desc.shape[0] % micro_batches_ == 0)
        << "input '" << node.name << "' " << desc.ToString()
        << ": expected a batch axis (axis 0) divisible by "
        << "micro_batches=" << micro_batches_;
    OFL_ASSIGN_OR_RETURN(const ValueId unpacked,
                         AddMicroOp(graph, "unpack", node.name + ".unpack", input, node, node.role));
    MarkRegion(graph, unpacked);
    for (const auto& [consumer, position] : uses) graph.mutable_node(consumer).inputs[position] = unpacked;
    return Status::Ok();
  }

  // A node of the region reads per-step values through repeat and is
  // re-inferred with the micro-batch shapes.
  Status VisitOp(Graph& graph, NodeId id) {
    bool micro = false;
    for (ValueId input : graph.node(id).inputs) micro = micro || InRegion(input);
    if (!micro) return Status::Ok();
    const size_t num_inputs = graph.node(id).inputs.size();
    for (size_t i = 0; i < num_inputs; ++i) {
      const ValueId input = graph.node(id).inputs[i];
      if (InRegion(input)) continue;
      auto cached = repeated_.find(input);
      if (cached == repeated_.end()) {
        const Node producer = graph.producer(input);
        const std::string stem =
            producer.name +
            (producer.outputs.size() > 1 ? "." + std::to_string(graph.value(input).output_index)
                                         : std::string()) +
            ".repeat";
        OFL_ASSIGN_OR_RETURN(const ValueId repeated,
                             AddMicroOp(graph, "repeat", stem, input, graph.node(id), NodeRole::kForward));
        cached = repeated_.emplace(input, repeated).first;
      }
      graph.mutable_node(id).inputs[i] = cached->second;
    }
    OFL_RETURN_IF_ERROR(Reinfer(graph, id));
    for (ValueId output : graph.node(id).outputs) MarkRegion(graph, output);
    return Status::Ok();
  }

  Status Reinfer(Graph& graph, NodeId id) {
    Node& node = graph.mutable_node(id);
    // A -1 on axis 0 is inferred from the input and needs no change.
    if (node.attrs.Has("shape") && std::holds_alternative<Shape>(node.attrs.Get("shape")) &&
        !(node.attrs.GetShape("shape").rank() >= 1 && node.attrs.GetShape("shape")[0] < 0)) {
      Shape shape = node.attrs.GetShape("shape");
      OFL_CHECK_OR_RETURN(shape.rank() >= 1 && shape[0] % micro_batches_ == 0)
          << Describe(node) << ": attribute shape " << shape.ToString()
          << ": expected axis 0 (the batch axis of a micro-batched job) divisible by micro_batches="
          << micro_batches_;
      shape[0] /= micro_batches_;
      node.attrs.Set("shape", shape);
    }
    std::vector<TensorDesc> input_descs;
    for (ValueId input : node.inputs) input_descs.push_back(graph.value(input).desc);
    StatusOr<InferredOp> inferred = ops_->Infer(node.op, input_descs, node.attrs);
    if (!inferred.ok()) {
      return inferred.status().WithContext(Describe(node) + " with micro-batches of 1/" +
                                           std::to_string(micro_batches_) + " of the batch");
    }
    OFL_CHECK_OR_RETURN(inferred.value().outputs.size() == node.outputs.size())
        << Describe(node) << ": re-inference gives " << inferred.value().outputs.size()
        << " outputs, expected " << node.outputs.size();
    node.attrs = inferred.value().attrs;
    for (size_t o = 0; o < node.outputs.size(); ++o) {
      graph.mutable_value(node.outputs[o]).desc = inferred.value().outputs[o];
    }
    return Status::Ok();
  }

  Status RewriteFetches(Graph& graph) {
    for (Fetch& fetch : graph.fetches()) {
      if (!InRegion(fetch.value)) continue;
      const Node like = graph.producer(fetch.value);
      const TensorDesc desc = graph.value(fetch.value).desc;
      if (desc.shape.rank() >= 1) {
        OFL_ASSIGN_OR_RETURN(fetch.value, AddMicroOp(graph, "pack", fetch.name + ".pack", fetch.value, like,
                                                     NodeRole::kForward));
        continue;
      }
      OFL_ASSIGN_OR_RETURN(const ValueId sum, AddMicroOp(graph, "acc", fetch.name + ".acc", fetch.value, like,
                                                         NodeRole::kForward));
      fetch.value = sum;
      if (!IsFloatingPoint(desc.dtype)) continue;
      StatusOr<NodeId> mean = graph.AddOp(*ops_, "scalar_mul", FreshName(graph, fetch.name + ".mean"), {sum},
                                          {{"scalar", 1.0 / static_cast<double>(micro_batches_)}},
                                          graph.value(sum).placement, NodeRole::kForward);
      if (!mean.ok()) return mean.status().WithContext("fetch \"" + fetch.name + "\"");
      fetch.value = graph.node(mean.value()).outputs[0];
    }
    return Status::Ok();
  }

  const OpRegistry* ops_ = nullptr;
  int64_t micro_batches_ = 1;
  std::vector<bool> in_region_;
  std::map<ValueId, ValueId> repeated_;
};

}  // namespace

StatusOr<int64_t> MicroBatchesOf(const Graph& graph) {
  const AttrMap& optimizer = graph.optimizer();
  if (!optimizer.Has("micro_batches")) return int64_t{1};
  const AttrValue& value = optimizer.Get("micro_batches");
  OFL_CHECK_OR_RETURN(std::holds_alternative<int64_t>(value))
      << "optimizer micro_batches: expected an int >= 1, got " << AttrValueToString(value);
  const int64_t micro_batches = std::get<int64_t>(value);
  OFL_CHECK_OR_RETURN(micro_batches >= 1)
      << "optimizer micro_batches: expected an int >= 1, got " << micro_batches;
  return micro_batches;
}

std::unique_ptr<Pass> MakeMicroBatchingPass() { return std::make_unique<MicroBatchingPass>(); }

}  // namespace ofl::compiler

#include "compiler/lower/physical_lowering.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "compiler/boxing/boxing_kind.h"
#include "compiler/boxing/region_boxing.h"
#include "sbp/slicing.h"

namespace ofl::compiler {
namespace {

// Where one device's piece of a value lives.
struct Slot {
  RegisterId register_id = -1;
  int blob = 0;
};

CombineMode ToCombineMode(TransferMode mode) {
  switch (mode) {
    case TransferMode::kCopy:
      return CombineMode::kCopy;
    case TransferMode::kSum:
      return CombineMode::kSum;
    case TransferMode::kMax:
      return CombineMode::kMax;
  }
  return CombineMode::kCopy;
}

// How the pieces of a layout combine into the logical tensor: by copy
// unless some mesh axis is Partial. Mixed P(sum) and P(max) axes have no
// single meaning.
StatusOr<CombineMode> CombineModeOf(const NdSbp& sbp) {
  CombineMode mode = CombineMode::kCopy;
  for (const Sbp& s : sbp) {
    if (!s.IsPartial()) continue;
    const CombineMode axis_mode = s.kind == Sbp::Kind::kPartialSum ? CombineMode::kSum : CombineMode::kMax;
    OFL_CHECK_OR_RETURN(mode == CombineMode::kCopy || mode == axis_mode)
        << "expected Partial mesh axes of one kind, got both P(sum) and P(max) in " << NdSbpToString(sbp);
    mode = axis_mode;
  }
  return mode;
}

StatusOr<CollectiveKind> CollectiveOf(BoxingKind kind) {
  switch (kind) {
    case BoxingKind::kAllReduce:
      return CollectiveKind::kAllReduce;
    case BoxingKind::kReduceScatter:
      return CollectiveKind::kReduceScatter;
    case BoxingKind::kAllGather:
      return CollectiveKind::kAllGather;
    case BoxingKind::kAllToAll:
      return CollectiveKind::kAllToAll;
    default:
      break;
  }
  return Status::Error("not a collective: " + BoxingKindName(kind));
}

// Row-major coordinates of device `index` in `hierarchy`, into `out` (kept
// by the caller so that the per-actor loop allocates nothing for them).
void MeshCoordinates(const Shape& hierarchy, int64_t index, std::vector<int64_t>& out) {
  out.resize(hierarchy.rank());
  for (int axis = hierarchy.rank() - 1; axis >= 0; --axis) {
    out[axis] = index % hierarchy[axis];
    index /= hierarchy[axis];
  }
}

int64_t AlignUp(int64_t bytes) { return (bytes + kBlobAlignment - 1) / kBlobAlignment * kBlobAlignment; }

class Lowering {
 public:
  Lowering(const Graph& graph, const OpRegistry& ops) : graph_(graph), ops_(ops) {}

  StatusOr<Plan> Run() {
    OFL_ASSIGN_OR_RETURN(const std::vector<NodeId> order, graph_.TopologicalOrder());
    Reserve(order);
    value_slots_.assign(graph_.num_value_slots(), -1);
    OFL_RETURN_IF_ERROR(ComputeRates(order));
    for (NodeId id : order) {
      const Node& node = graph_.node(id);
      current_acts_ = acts_[id];
      current_accumulated_ = IsAccumulating(node);
      const Status status = LowerNode(node);
      if (!status.ok()) return Status::Error(Describe(node) + ": " + status.message());
    }
    current_acts_ = 1;
    current_accumulated_ = false;
    for (const Fetch& fetch : graph_.fetches()) {
      const Status status = LowerFetch(fetch);
      if (!status.ok()) return Status::Error("fetch \"" + fetch.name + "\": " + status.message());
    }
    FillConsumers();
    OFL_RETURN_IF_ERROR(AssignRegisterCounts(order));
    return std::move(plan_);
  }

 private:
  // Sizes the tables once, so that lowering a large graph does not keep
  // reallocating (and moving) hundreds of thousands of actors.
  void Reserve(const std::vector<NodeId>& order) {
    int64_t actors = 0;
    for (NodeId id : order) actors += graph_.node(id).placement.num_devices();
    plan_.nodes.reserve(order.size() + graph_.fetches().size());
    plan_.actors.reserve(actors);
    plan_.registers.reserve(actors);
    slots_.reserve(actors);
  }

  // The NdSbp of `value`, checked against its placement and shape.
  StatusOr<NdSbp> SbpOf(ValueId id) const {
    const Value& value = graph_.value(id);
    NdSbp sbp = value.sbp;
    if (sbp.empty()) {
      OFL_CHECK_OR_RETURN(value.placement.num_devices() == 1)
          << "value %" << id << " (" << value.desc.ToString() << ") on " << value.placement.ToString()
          << " has no SBP: expected a deduced NdSbp (run sbp_deduction and boxing_insertion first)";
      sbp.assign(value.placement.hierarchy().rank(), Sbp::Broadcast());
    }
    OFL_RETURN_IF_ERROR(
        CheckNdSbp("value %" + std::to_string(id), sbp, value.placement.hierarchy(), value.desc.shape));
    return sbp;
  }

  // The slot of `value` on device `device` of its placement.
  const Slot& SlotOf(ValueId value, int device) const { return slots_[value_slots_[value] + device]; }

  Status CheckLowered(ValueId value, int position) const {
    OFL_CHECK_OR_RETURN(value >= 0 && value < graph_.num_value_slots() && value_slots_[value] >= 0)
        << "input " << position << " (%" << value << ") has no lowered producer (a removed node?)";
    return Status::Ok();
  }

  int64_t AddPlanNode(const Node& node) {
    plan_.nodes.push_back(PlanNode{node.name, node.op, node.attrs, NodeRoleName(node.role)});
    return static_cast<int64_t>(plan_.nodes.size()) - 1;
  }

  ActorId AddActor(ActorKind kind, int64_t plan_node, const DeviceId& device, StreamKind stream) {
    Actor& actor = plan_.actors.emplace_back();
    actor.id = static_cast<ActorId>(plan_.actors.size()) - 1;
    actor.kind = kind;
    actor.node = plan_node;
    actor.device = device;
    actor.stream = stream;
    actor.acts_per_step = static_cast<int>(current_acts_);
    return actor.id;
  }

  // ---- micro-batch rates (runtime/plan.h, ops/pipeline/pipeline.h) -------

  static bool IsAccumulating(const Node& node) { return node.op == "acc" || node.op == "pack"; }

  // Per node its acts per step, per value its writes per step: unpack and
  // repeat start the micro-batch region (M), acc and pack end it (they act
  // M times, their output is written once per step); any other node acts as
  // often as its most frequent input and reads the others held.
  Status ComputeRates(const std::vector<NodeId>& order) {
    acts_.assign(graph_.num_node_slots(), 1);
    value_rate_.assign(graph_.num_value_slots(), 1);
    for (NodeId id : order) {
      const Node& node = graph_.node(id);
      int64_t acts = 1;
      int64_t output_rate = 1;
      const bool starts = node.op == "unpack" || node.op == "repeat";
      if (starts || IsAccumulating(node)) {
        acts = node.attrs.GetInt("micro_batches");
        output_rate = starts ? acts : 1;
      } else {
        for (ValueId input : node.inputs) acts = std::max(acts, value_rate_[input]);
        output_rate = acts;
      }
      for (ValueId input : node.inputs) {
        OFL_CHECK_OR_RETURN(value_rate_[input] == 1 || value_rate_[input] == acts)
            << Describe(node) << ": reads %" << input << " written " << value_rate_[input]
            << " times per step while acting " << acts << " times (mixed micro-batch counts)";
      }
      acts_[id] = acts;
      for (ValueId output : node.outputs) value_rate_[output] = output_rate;
    }
    return Status::Ok();
  }

  // Pipelines (DESIGN.md section 5): with S stages, a forward register of
  // stage s that backward reads gets S - s copies (max_in_flight when set),
  // so a stage runs that many micro-batches ahead and no more (1F1B's
  // bound); a register read on another stage gets distance + 1 copies, so
  // the producer keeps working while the transfer and the next stage run.
  // Stages are the user's (Node::stage) or, when none is declared, the
  // distinct placements of the micro-batch region's forward ops in
  // topological order.
  Status AssignRegisterCounts(const std::vector<NodeId>& order) {
    std::map<DeviceId, int> stage_of_device;
    int num_stages = 0;
    for (NodeId id : order) {
      const Node& node = graph_.node(id);
      if (node.stage < 0 || node.role != NodeRole::kForward) continue;
      num_stages = std::max(num_stages, node.stage + 1);
      for (const DeviceId& device : node.placement.devices()) stage_of_device.emplace(device, node.stage);
    }
    if (num_stages == 0) {
      for (NodeId id : order) {
        const Node& node = graph_.node(id);
        if (acts_[id] == 1 || node.role != NodeRole::kForward || node.IsBoxing()) continue;
        if (stage_of_device.count(node.placement.devices()[0]) != 0) continue;
        bool overlaps = false;
        for (const DeviceId& device : node.placement.devices())
          overlaps |= stage_of_device.count(device) != 0;
        if (overlaps) return Status::Ok();  // placements overlap: no stage structure to exploit
        for (const DeviceId& device : node.placement.devices()) stage_of_device.emplace(device, num_stages);
        ++num_stages;
      }
    }
    if (num_stages <= 1) return Status::Ok();
    int64_t max_in_flight = 0;
    if (graph_.optimizer().Has("max_in_flight")) {
      const AttrValue& value = graph_.optimizer().Get("max_in_flight");
      OFL_CHECK_OR_RETURN(std::holds_alternative<int64_t>(value) && std::get<int64_t>(value) >= 0)
          << "optimizer max_in_flight: expected an int >= 0, got " << AttrValueToString(value);
      max_in_flight = std::get<int64_t>(value);
    }
    auto stage_of = [&](const DeviceId& device) {
      auto found = stage_of_device.find(device);
      return found == stage_of_device.end() ? -1 : found->second;
    };
    for (RegisterDesc& reg : plan_.registers) {
      if (reg.persistent) continue;
      const Actor& producer = plan_.actors[reg.producer];
      const int stage = stage_of(producer.device);
      if (stage < 0) continue;
      const bool forward = plan_.nodes[producer.node].role == NodeRoleName(NodeRole::kForward);
      int count = reg.count;
      for (ActorId consumer_id : reg.consumers) {
        const Actor& consumer = plan_.actors[consumer_id];
        if (forward && producer.acts_per_step > 1 &&
            plan_.nodes[consumer.node].role == NodeRoleName(NodeRole::kBackward)) {
          const int64_t in_flight = max_in_flight > 0 ? max_in_flight : num_stages - stage;
          count = std::max<int64_t>(count, in_flight);
        }
        const int other = stage_of(consumer.device);
        if (other >= 0 && other != stage) count = std::max(count, std::abs(other - stage) + 1);
      }
      reg.count = count;
    }
    return Status::Ok();
  }

  // Gives `actor` a register holding one blob per value of `outputs` (with
  // layouts `sbps`) on device `device_index` of `placement`.
  RegisterId AddRegister(ActorId actor, const Placement& placement, int device_index,
                         const std::vector<ValueId>& outputs, const std::vector<NdSbp>& sbps,
                         bool persistent) {
    RegisterDesc& reg = plan_.registers.emplace_back();
    reg.id = static_cast<RegisterId>(plan_.registers.size()) - 1;
    reg.producer = actor;
    reg.device = placement.devices()[device_index];
    reg.persistent = persistent;
    reg.accumulated = current_accumulated_;
    reg.blobs.reserve(outputs.size());
    MeshCoordinates(placement.hierarchy(), device_index, coordinates_);
    int64_t end = 0;
    for (size_t o = 0; o < outputs.size(); ++o) {
      const TensorDesc& logical = graph_.value(outputs[o]).desc;
      Region region = PhysicalRegion(logical.shape, sbps[o], placement.hierarchy(), coordinates_);
      // The extent reuses the region's `end` (this runs once per actor).
      for (size_t axis = 0; axis < region.end.size(); ++axis) region.end[axis] -= region.begin[axis];
      BlobDesc& blob = reg.blobs.emplace_back();
      blob.desc = TensorDesc{Shape(std::move(region.end)), logical.dtype};
      blob.logical_shape = logical.shape;
      blob.offset = std::move(region.begin);
      blob.byte_offset = AlignUp(end);
      end = blob.byte_offset + static_cast<int64_t>(blob.desc.ByteSize());
    }
    reg.byte_size = end;
    plan_.actors[actor].produced = reg.id;
    return reg.id;
  }

  // Records that device `device` of every value in `outputs` lives in blob
  // o of `reg`. Values get their slot ranges in node order.
  void BindOutputs(const std::vector<ValueId>& outputs, int device, RegisterId reg, int num_devices) {
    for (size_t o = 0; o < outputs.size(); ++o) {
      if (device == 0) {
        value_slots_[outputs[o]] = static_cast<int64_t>(slots_.size());
        slots_.resize(slots_.size() + num_devices);
      }
      slots_[value_slots_[outputs[o]] + device] = Slot{reg, static_cast<int>(o)};
    }
  }

  Status LowerNode(const Node& node) {
    for (ValueId output : node.outputs) {
      const Value& value = graph_.value(output);
      OFL_CHECK_OR_RETURN(value.placement == node.placement)
          << "output %" << output << " lies on " << value.placement.ToString() << ", the node on "
          << node.placement.ToString();
    }
    if (node.IsBoxing()) return LowerBoxing(node);
    if (node.IsInput() || node.IsVariable()) return LowerSource(node);
    return LowerCompute(node);
  }

  // Checks that every input lies where the node reads it, as it reads it.
  Status CheckInputs(const Node& node) const {
    OFL_CHECK_OR_RETURN(node.input_sbps.empty() || node.input_sbps.size() == node.inputs.size())
        << "expected one read layout per input (" << node.inputs.size() << "), got "
        << node.input_sbps.size();
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const ValueId input = node.inputs[i];
      OFL_RETURN_IF_ERROR(CheckLowered(input, static_cast<int>(i)));
      const Value& value = graph_.value(input);
      OFL_CHECK_OR_RETURN(value.placement == node.placement)
          << "input " << i << " (%" << input << ") lies on " << value.placement.ToString()
          << ", expected the node's placement " << node.placement.ToString()
          << " (boxing insertion must move it)";
      OFL_ASSIGN_OR_RETURN(const NdSbp sbp, SbpOf(input));
      OFL_CHECK_OR_RETURN(node.input_sbps.empty() || node.input_sbps[i] == sbp)
          << "reads input " << i << " (%" << input << ") as " << NdSbpToString(node.input_sbps[i])
          << ", but it is laid out as " << NdSbpToString(sbp) << " (boxing insertion must convert it)";
    }
    return Status::Ok();
  }

  Status LowerSource(const Node& node) {
    OFL_CHECK_OR_RETURN(node.inputs.empty() && node.outputs.size() == 1)
        << "expected no inputs and one output, got " << node.inputs.size() << " and " << node.outputs.size();
    const ValueId output = node.outputs[0];
    OFL_ASSIGN_OR_RETURN(const NdSbp sbp, SbpOf(output));
    OFL_ASSIGN_OR_RETURN(const CombineMode mode, CombineModeOf(sbp));
    const bool variable = node.IsVariable();
    const int64_t plan_node = AddPlanNode(node);
    const Placement& placement = node.placement;
    const int n = placement.num_devices();
    std::vector<TensorPiece> pieces;
    pieces.reserve(n);
    const std::vector<ValueId> outputs{output};
    const std::vector<NdSbp> sbps{sbp};
    for (int d = 0; d < n; ++d) {
      const ActorId actor = AddActor(variable ? ActorKind::kVariable : ActorKind::kInput, plan_node,
                                     placement.devices()[d], StreamKind::kCompute);
      const RegisterId reg = AddRegister(actor, placement, d, outputs, sbps, variable);
      BindOutputs(outputs, d, reg, n);
      TensorPiece& piece = pieces.emplace_back();
      piece.actor = actor;
      piece.register_id = reg;
      piece.region = plan_.registers[reg].blobs[0].LogicalRegion();
      // A Partial-sum value lives whole on the first device of each Partial
      // group; the other addends are zeros.
      if (mode == CombineMode::kSum) {
        const std::vector<int64_t> coordinates = placement.MeshCoordinates(d);
        for (size_t axis = 0; axis < sbp.size(); ++axis)
          piece.zeros |= sbp[axis].IsPartial() && coordinates[axis] != 0;
      }
    }
    const TensorDesc& desc = graph_.value(output).desc;
    if (variable) {
      plan_.variables.push_back(VariableDesc{node.name, desc, node.attrs, std::move(pieces)});
    } else {
      plan_.feeds.push_back(FeedDesc{node.name, desc, std::move(pieces)});
    }
    return Status::Ok();
  }

  Status LowerCompute(const Node& node) {
    const OpSchema* schema = ops_.Find(node.op);
    OFL_CHECK_OR_RETURN(schema != nullptr) << "op '" << node.op << "' is not in the op registry";
    OFL_RETURN_IF_ERROR(CheckInputs(node));
    if (node.op == "repeat") return LowerRepeat(node);
    std::vector<NdSbp> sbps;
    sbps.reserve(node.outputs.size());
    for (ValueId output : node.outputs) {
      OFL_ASSIGN_OR_RETURN(NdSbp sbp, SbpOf(output));
      sbps.push_back(std::move(sbp));
    }
    std::vector<bool> mutated(node.inputs.size(), false);
    for (int index : schema->mutated_inputs) {
      if (index < 0 || index >= static_cast<int>(node.inputs.size())) continue;
      mutated[index] = true;
      const Slot& slot = SlotOf(node.inputs[index], 0);
      OFL_CHECK_OR_RETURN(plan_.registers[slot.register_id].persistent)
          << "writes input " << index << " (%" << node.inputs[index]
          << ") in place, but it is not a variable (expected the variable's own value, got the output of "
          << Describe(graph_.producer(node.inputs[index])) << ")";
    }
    const int64_t plan_node = AddPlanNode(node);
    const Placement& placement = node.placement;
    const int n = placement.num_devices();
    for (int d = 0; d < n; ++d) {
      const ActorId actor =
          AddActor(ActorKind::kCompute, plan_node, placement.devices()[d], StreamKind::kCompute);
      std::vector<ActorInput>& inputs = plan_.actors[actor].inputs;
      inputs.reserve(node.inputs.size());
      for (size_t i = 0; i < node.inputs.size(); ++i) {
        const Slot& slot = SlotOf(node.inputs[i], d);
        inputs.push_back(ActorInput{slot.register_id, slot.blob, mutated[i]});
      }
      if (node.outputs.empty()) continue;
      const RegisterId reg = AddRegister(actor, placement, d, node.outputs, sbps, false);
      BindOutputs(node.outputs, d, reg, n);
    }
    return Status::Ok();
  }

  // repeat moves nothing: its readers (acting M times) read the input's
  // registers, held for the whole step (runtime/plan.h).
  Status LowerRepeat(const Node& node) {
    OFL_ASSIGN_OR_RETURN(const NdSbp from, SbpOf(node.inputs[0]));
    OFL_ASSIGN_OR_RETURN(const NdSbp to, SbpOf(node.outputs[0]));
    OFL_CHECK_OR_RETURN(from == to) << "reads " << NdSbpToString(from) << " but its output is laid out as "
                                    << NdSbpToString(to) << " (repeat never moves data)";
    AddPlanNode(node);
    value_slots_[node.outputs[0]] = value_slots_[node.inputs[0]];
    return Status::Ok();
  }

  Status LowerBoxing(const Node& node) {
    OFL_CHECK_OR_RETURN(node.inputs.size() == 1 && node.outputs.size() == 1)
        << "expected one input and one output, got " << node.inputs.size() << " and " << node.outputs.size();
    const ValueId input = node.inputs[0];
    const ValueId output = node.outputs[0];
    OFL_RETURN_IF_ERROR(CheckLowered(input, 0));
    const Value& from_value = graph_.value(input);
    const Placement& from_placement = from_value.placement;
    const Placement& to_placement = node.placement;
    OFL_ASSIGN_OR_RETURN(const NdSbp from, SbpOf(input));
    OFL_ASSIGN_OR_RETURN(const NdSbp to, SbpOf(output));
    int mesh_axis = -1;
    const BoxingKind classified = ClassifyBoxing(from_placement, from, to_placement, to, &mesh_axis);
    BoxingKind kind = classified;
    const auto attr = node.attrs.values().find("kind");
    if (attr != node.attrs.values().end()) {
      OFL_CHECK_OR_RETURN(std::holds_alternative<std::string>(attr->second))
          << "attr kind: expected a string, got " << AttrValueToString(attr->second);
      OFL_ASSIGN_OR_RETURN(kind, ParseBoxingKind(std::get<std::string>(attr->second)));
    }
    const std::string move = from_placement.ToString() + " " + NdSbpToString(from) + " -> " +
                             to_placement.ToString() + " " + NdSbpToString(to);
    switch (kind) {
      case BoxingKind::kIdentity:
        OFL_CHECK_OR_RETURN(classified == BoxingKind::kIdentity)
            << "kind identity, but the boxing moves data: " << move;
        // Nothing moves: readers of the output read the input's registers.
        AddPlanNode(node);
        value_slots_[output] = value_slots_[input];
        return Status::Ok();
      case BoxingKind::kAllReduce:
      case BoxingKind::kReduceScatter:
      case BoxingKind::kAllGather:
      case BoxingKind::kAllToAll:
        OFL_CHECK_OR_RETURN(classified == kind)
            << "kind " << BoxingKindName(kind) << " does not match the move " << move << " (a "
            << BoxingKindName(classified) << ")";
        return LowerCollective(node, input, output, from, to, kind, mesh_axis);
      case BoxingKind::kLocalSlice:
      case BoxingKind::kKeepOnOne:
      case BoxingKind::kGeneral:
        break;
    }
    OFL_ASSIGN_OR_RETURN(const RegionBoxing boxing,
                         PlanRegionBoxing(from_value.desc, from_placement, from, to_placement, to));
    return LowerCopy(node, input, output, to, boxing);
  }

  Status LowerCollective(const Node& node, ValueId input, ValueId output, const NdSbp& from, const NdSbp& to,
                         BoxingKind kind, int mesh_axis) {
    const Placement& placement = node.placement;
    const Shape& hierarchy = placement.hierarchy();
    OFL_CHECK_OR_RETURN(mesh_axis >= 0 && mesh_axis < hierarchy.rank())
        << "collective " << BoxingKindName(kind) << " without a mesh axis";
    OFL_ASSIGN_OR_RETURN(const CollectiveKind collective, CollectiveOf(kind));
    // Reductions combine with the source's Partial kind on the changing axis.
    CombineMode mode = CombineMode::kCopy;
    if (from[mesh_axis].IsPartial()) {
      mode = from[mesh_axis].kind == Sbp::Kind::kPartialSum ? CombineMode::kSum : CombineMode::kMax;
    }
    int64_t stride = 1;
    for (int axis = hierarchy.rank() - 1; axis > mesh_axis; --axis) stride *= hierarchy[axis];
    const int group_size = static_cast<int>(hierarchy[mesh_axis]);
    const int64_t plan_node = AddPlanNode(node);
    const int n = placement.num_devices();
    const ActorId first = static_cast<ActorId>(plan_.actors.size());
    const std::vector<ValueId> outputs{output};
    const std::vector<NdSbp> sbps{to};
    for (int d = 0; d < n; ++d) {
      const ActorId actor =
          AddActor(ActorKind::kCollective, plan_node, placement.devices()[d], StreamKind::kComm);
      const int rank = static_cast<int>((d / stride) % group_size);
      const int64_t base = d - rank * stride;
      Actor& a = plan_.actors[actor];
      a.inputs.reserve(group_size);
      a.boxing.group.reserve(group_size);
      for (int k = 0; k < group_size; ++k) {
        const int member = static_cast<int>(base + k * stride);
        const Slot& slot = SlotOf(input, member);
        a.inputs.push_back(ActorInput{slot.register_id, slot.blob, false});
        a.boxing.group.push_back(first + member);
      }
      a.boxing.fill = mode;
      a.boxing.collective = collective;
      a.boxing.mesh_axis = mesh_axis;
      a.boxing.group_rank = rank;
      const RegisterId reg = AddRegister(actor, placement, d, outputs, sbps, false);
      BindOutputs(outputs, d, reg, n);
    }
    return Status::Ok();
  }

  Status LowerCopy(const Node& node, ValueId input, ValueId output, const NdSbp& to,
                   const RegionBoxing& boxing) {
    const Placement& from_placement = graph_.value(input).placement;
    const Placement& placement = node.placement;
    const int n = placement.num_devices();
    const int num_sources = from_placement.num_devices();
    OFL_CHECK_OR_RETURN(static_cast<int>(boxing.fill_mode.size()) == n &&
                        static_cast<int>(boxing.dst_regions.size()) == n)
        << "the boxing plan has " << boxing.fill_mode.size() << " fill modes and "
        << boxing.dst_regions.size() << " destination regions, expected " << n;
    // Transfers bucketed by destination, keeping their order.
    std::vector<int> first_of(n + 1, 0);
    for (const BoxingTransfer& transfer : boxing.transfers) {
      OFL_CHECK_OR_RETURN(transfer.dst_device >= 0 && transfer.dst_device < n && transfer.src_device >= 0 &&
                          transfer.src_device < num_sources)
          << "the boxing plan moves from device " << transfer.src_device << " to device "
          << transfer.dst_device << ", expected indices below " << num_sources << " and " << n;
      ++first_of[transfer.dst_device + 1];
    }
    for (int d = 0; d < n; ++d) first_of[d + 1] += first_of[d];
    std::vector<int> order(boxing.transfers.size());
    {
      std::vector<int> next(first_of.begin(), first_of.end() - 1);
      for (size_t t = 0; t < boxing.transfers.size(); ++t)
        order[next[boxing.transfers[t].dst_device]++] = static_cast<int>(t);
    }
    const int64_t plan_node = AddPlanNode(node);
    const std::vector<ValueId> outputs{output};
    const std::vector<NdSbp> sbps{to};
    std::vector<int> input_of_source(num_sources, -1);
    for (int d = 0; d < n; ++d) {
      const ActorId actor =
          AddActor(ActorKind::kBoxingCopy, plan_node, placement.devices()[d], StreamKind::kCopy);
      const RegisterId reg = AddRegister(actor, placement, d, outputs, sbps, false);
      BindOutputs(outputs, d, reg, n);
      OFL_CHECK_OR_RETURN(plan_.registers[reg].blobs[0].LogicalRegion() == boxing.dst_regions[d])
          << "the boxing plan gives device " << d << " region " << boxing.dst_regions[d].ToString()
          << ", the layout " << NdSbpToString(to) << " gives "
          << plan_.registers[reg].blobs[0].LogicalRegion().ToString();
      Actor& a = plan_.actors[actor];
      a.boxing.fill = ToCombineMode(boxing.fill_mode[d]);
      a.boxing.transfers.reserve(first_of[d + 1] - first_of[d]);
      for (int t = first_of[d]; t < first_of[d + 1]; ++t) {
        const BoxingTransfer& transfer = boxing.transfers[order[t]];
        int& index = input_of_source[transfer.src_device];
        if (index < 0) {
          index = static_cast<int>(a.inputs.size());
          const Slot& slot = SlotOf(input, transfer.src_device);
          a.inputs.push_back(ActorInput{slot.register_id, slot.blob, false});
        }
        a.boxing.transfers.push_back(Transfer{index, transfer.region, ToCombineMode(transfer.mode)});
      }
      for (int t = first_of[d]; t < first_of[d + 1]; ++t)
        input_of_source[boxing.transfers[order[t]].src_device] = -1;
      if (a.inputs.empty()) {
        // A piece of zeros reads nothing, but must still act once per step
        // after its source: it reads the source piece on its own device (or
        // the first), only to be ordered.
        int source = 0;
        for (int s = 0; s < num_sources; ++s) {
          if (from_placement.devices()[s] == a.device) source = s;
        }
        const Slot& slot = SlotOf(input, source);
        a.inputs.push_back(ActorInput{slot.register_id, slot.blob, false});
      }
    }
    return Status::Ok();
  }

  Status LowerFetch(const Fetch& fetch) {
    OFL_CHECK_OR_RETURN(fetch.value >= 0 && fetch.value < graph_.num_value_slots() &&
                        value_slots_[fetch.value] >= 0)
        << "value %" << fetch.value << " has no lowered producer (a removed node?)";
    const Value& value = graph_.value(fetch.value);
    OFL_CHECK_OR_RETURN(value_rate_[fetch.value] == 1)
        << "the value is written " << value_rate_[fetch.value]
        << " times per step (once per micro-batch): expected the micro_batching pass to pack or average it";
    OFL_ASSIGN_OR_RETURN(const NdSbp sbp, SbpOf(fetch.value));
    OFL_ASSIGN_OR_RETURN(const CombineMode mode, CombineModeOf(sbp));
    plan_.nodes.push_back(PlanNode{fetch.name, "output", {}, ""});
    const int64_t plan_node = static_cast<int64_t>(plan_.nodes.size()) - 1;
    FetchDesc desc{fetch.name, value.desc, mode, {}};
    const Placement& placement = value.placement;
    for (int d = 0; d < placement.num_devices(); ++d) {
      // One copy of each Broadcast replica: the one at coordinate 0.
      const std::vector<int64_t> coordinates = placement.MeshCoordinates(d);
      bool replica = false;
      for (size_t axis = 0; axis < sbp.size(); ++axis)
        replica |= sbp[axis].IsBroadcast() && coordinates[axis] != 0;
      if (replica) continue;
      const Slot& slot = SlotOf(fetch.value, d);
      const ActorId actor =
          AddActor(ActorKind::kOutput, plan_node, placement.devices()[d], StreamKind::kCompute);
      plan_.actors[actor].inputs.push_back(ActorInput{slot.register_id, slot.blob, false});
      desc.pieces.push_back(TensorPiece{actor, slot.register_id, slot.blob,
                                        plan_.registers[slot.register_id].blobs[slot.blob].LogicalRegion(),
                                        false});
    }
    plan_.fetches.push_back(std::move(desc));
    return Status::Ok();
  }

  // Registers list their readers, in actor order, each once.
  void FillConsumers() {
    for (const Actor& actor : plan_.actors) {
      for (const ActorInput& input : actor.inputs) {
        std::vector<ActorId>& consumers = plan_.registers[input.register_id].consumers;
        if (consumers.empty() || consumers.back() != actor.id) consumers.push_back(actor.id);
      }
    }
  }

  const Graph& graph_;
  const OpRegistry& ops_;
  Plan plan_;
  std::vector<int64_t> value_slots_;  // per value: index of its device 0 slot, -1 until lowered
  std::vector<Slot> slots_;
  std::vector<int64_t> coordinates_;  // scratch for AddRegister
  std::vector<int64_t> acts_;         // per node: acts per step
  std::vector<int64_t> value_rate_;   // per value: writes per step
  int64_t current_acts_ = 1;          // of the node being lowered
  bool current_accumulated_ = false;  // the node being lowered is acc or pack
};

}  // namespace

StatusOr<Plan> LowerToPlan(const Graph& graph, const OpRegistry& ops) { return Lowering(graph, ops).Run(); }

}  // namespace ofl::compiler

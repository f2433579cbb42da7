#include "runtime/plan.h"

#include <algorithm>
#include <array>
#include <utility>

namespace ofl {
namespace {

template <typename Enum, size_t N>
std::string NameOf(const std::array<std::pair<Enum, const char*>, N>& table, Enum value) {
  for (const auto& [entry, name] : table) {
    if (entry == value) return name;
  }
  return "unknown";
}

template <typename Enum, size_t N>
StatusOr<Enum> Parse(const std::array<std::pair<Enum, const char*>, N>& table, const std::string& text,
                     const char* what) {
  std::string known;
  for (const auto& [entry, name] : table) {
    if (text == name) return entry;
    known += (known.empty() ? "" : ", ") + std::string(name);
  }
  return Status::Error(std::string("[plan] unknown ") + what + " '" + text + "', expected one of " + known);
}

constexpr std::array<std::pair<ActorKind, const char*>, 6> kActorKinds = {{
    {ActorKind::kInput, "input"},
    {ActorKind::kVariable, "variable"},
    {ActorKind::kCompute, "compute"},
    {ActorKind::kBoxingCopy, "boxing_copy"},
    {ActorKind::kCollective, "collective"},
    {ActorKind::kOutput, "output"},
}};
constexpr std::array<std::pair<StreamKind, const char*>, 3> kStreamKinds = {{
    {StreamKind::kCompute, "compute"},
    {StreamKind::kCopy, "copy"},
    {StreamKind::kComm, "comm"},
}};
constexpr std::array<std::pair<CombineMode, const char*>, 3> kCombineModes = {{
    {CombineMode::kCopy, "copy"},
    {CombineMode::kSum, "sum"},
    {CombineMode::kMax, "max"},
}};
constexpr std::array<std::pair<CollectiveKind, const char*>, 5> kCollectiveKinds = {{
    {CollectiveKind::kNone, "none"},
    {CollectiveKind::kAllReduce, "all_reduce"},
    {CollectiveKind::kReduceScatter, "reduce_scatter"},
    {CollectiveKind::kAllGather, "all_gather"},
    {CollectiveKind::kAllToAll, "all_to_all"},
}};

std::string ActorText(const Actor& actor) { return "actor a" + std::to_string(actor.id); }

// True when `inner` lies inside `outer` (same rank). Empty regions lie
// anywhere as long as their bounds are ordered.
bool Contains(const Region& outer, const Region& inner) {
  if (outer.rank() != inner.rank() || inner.end.size() != inner.begin.size()) return false;
  for (int i = 0; i < inner.rank(); ++i) {
    if (inner.begin[i] > inner.end[i]) return false;
    if (inner.begin[i] == inner.end[i]) continue;
    if (inner.begin[i] < outer.begin[i] || inner.end[i] > outer.end[i]) return false;
  }
  return true;
}

Status CheckBlob(const RegisterDesc& reg, int index, int64_t& previous_end) {
  const BlobDesc& blob = reg.blobs[index];
  const std::string who = "[plan] register r" + std::to_string(reg.id) + " blob " + std::to_string(index);
  OFL_CHECK_OR_RETURN(blob.desc.shape.rank() == blob.logical_shape.rank() &&
                      static_cast<int>(blob.offset.size()) == blob.logical_shape.rank())
      << who << ": expected the piece " << blob.desc.ToString() << ", logical shape "
      << blob.logical_shape.ToString() << " and offset to have one rank, got " << blob.desc.shape.rank()
      << ", " << blob.logical_shape.rank() << " and " << blob.offset.size();
  for (int axis = 0; axis < blob.logical_shape.rank(); ++axis) {
    OFL_CHECK_OR_RETURN(blob.desc.shape[axis] >= 0 && blob.offset[axis] >= 0 &&
                        blob.offset[axis] + blob.desc.shape[axis] <= blob.logical_shape[axis])
        << who << ": piece " << blob.LogicalRegion().ToString() << " must lie inside the logical shape "
        << blob.logical_shape.ToString();
  }
  OFL_CHECK_OR_RETURN(blob.byte_offset % kBlobAlignment == 0 && blob.byte_offset >= previous_end)
      << who << ": expected a byte offset aligned to " << kBlobAlignment << " and >= " << previous_end
      << ", got " << blob.byte_offset;
  previous_end = blob.byte_offset + static_cast<int64_t>(blob.desc.ByteSize());
  return Status::Ok();
}

Status CheckPiece(const Plan& plan, const std::string& who, const TensorDesc& desc, const TensorPiece& piece,
                  ActorKind expected_kind) {
  const int64_t num_actors = static_cast<int64_t>(plan.actors.size());
  const int64_t num_registers = static_cast<int64_t>(plan.registers.size());
  OFL_CHECK_OR_RETURN(piece.actor >= 0 && piece.actor < num_actors)
      << who << ": actor a" << piece.actor << " does not exist (" << num_actors << " actors)";
  OFL_CHECK_OR_RETURN(plan.actors[piece.actor].kind == expected_kind)
      << who << ": expected actor a" << piece.actor << " to be an " << ActorKindName(expected_kind)
      << " actor, got " << ActorKindName(plan.actors[piece.actor].kind);
  OFL_CHECK_OR_RETURN(piece.register_id >= 0 && piece.register_id < num_registers)
      << who << ": register r" << piece.register_id << " does not exist";
  const RegisterDesc& reg = plan.registers[piece.register_id];
  OFL_CHECK_OR_RETURN(piece.blob >= 0 && piece.blob < static_cast<int>(reg.blobs.size()))
      << who << ": register r" << reg.id << " has no blob " << piece.blob;
  const BlobDesc& blob = reg.blobs[piece.blob];
  OFL_CHECK_OR_RETURN(blob.logical_shape == desc.shape && blob.desc.dtype == desc.dtype)
      << who << ": expected a blob of " << desc.ToString() << ", got a piece of "
      << DTypeName(blob.desc.dtype) << blob.logical_shape.ToString();
  OFL_CHECK_OR_RETURN(piece.region == blob.LogicalRegion())
      << who << ": region " << piece.region.ToString() << " differs from the blob's "
      << blob.LogicalRegion().ToString();
  return Status::Ok();
}

Status CheckActor(const Plan& plan, const Actor& actor, std::vector<std::vector<ActorId>>& consumers) {
  const int64_t num_registers = static_cast<int64_t>(plan.registers.size());
  const std::string who = "[plan] " + ActorText(actor);
  OFL_CHECK_OR_RETURN(actor.node >= 0 && actor.node < static_cast<int64_t>(plan.nodes.size()))
      << who << ": node " << actor.node << " does not exist (" << plan.nodes.size() << " nodes)";
  if (actor.produced != -1) {
    OFL_CHECK_OR_RETURN(actor.produced >= 0 && actor.produced < num_registers)
        << who << ": produces register r" << actor.produced << ", which does not exist";
    const RegisterDesc& reg = plan.registers[actor.produced];
    OFL_CHECK_OR_RETURN(reg.producer == actor.id && reg.device == actor.device)
        << who << " on " << actor.device.ToString() << ": register r" << reg.id << " names producer a"
        << reg.producer << " on " << reg.device.ToString();
  }
  for (const ActorInput& input : actor.inputs) {
    OFL_CHECK_OR_RETURN(input.register_id >= 0 && input.register_id < num_registers)
        << who << ": reads register r" << input.register_id << ", which does not exist";
    const RegisterDesc& reg = plan.registers[input.register_id];
    OFL_CHECK_OR_RETURN(input.blob >= 0 && input.blob < static_cast<int>(reg.blobs.size()))
        << who << ": reads blob " << input.blob << " of register r" << reg.id << ", which has "
        << reg.blobs.size();
    OFL_CHECK_OR_RETURN(!input.mutated || reg.persistent)
        << who << ": writes register r" << reg.id << " in place, but only persistent registers may be";
    std::vector<ActorId>& list = consumers[input.register_id];
    if (list.empty() || list.back() != actor.id) list.push_back(actor.id);
  }
  const bool boxing = actor.kind == ActorKind::kBoxingCopy || actor.kind == ActorKind::kCollective;
  if (!boxing) {
    OFL_CHECK_OR_RETURN(actor.boxing == BoxingProgram{})
        << who << ": only boxing actors carry a copy program";
    return Status::Ok();
  }
  OFL_CHECK_OR_RETURN(actor.produced != -1 && plan.registers[actor.produced].blobs.size() == 1)
      << who << ": a boxing actor must produce one register with one blob";
  const Region output = plan.registers[actor.produced].blobs[0].LogicalRegion();
  const BoxingProgram& program = actor.boxing;
  for (size_t t = 0; t < program.transfers.size(); ++t) {
    const Transfer& transfer = program.transfers[t];
    OFL_CHECK_OR_RETURN(transfer.input >= 0 && transfer.input < static_cast<int>(actor.inputs.size()))
        << who << ": transfer " << t << " reads input " << transfer.input << " of " << actor.inputs.size();
    const ActorInput& input = actor.inputs[transfer.input];
    const Region source = plan.registers[input.register_id].blobs[input.blob].LogicalRegion();
    OFL_CHECK_OR_RETURN(Contains(source, transfer.region) && Contains(output, transfer.region))
        << who << ": transfer " << t << " region " << transfer.region.ToString()
        << " must lie inside the source piece " << source.ToString() << " and the output piece "
        << output.ToString();
  }
  if (actor.kind == ActorKind::kBoxingCopy) {
    OFL_CHECK_OR_RETURN(program.collective == CollectiveKind::kNone && program.group.empty())
        << who << ": a boxing copy actor has no collective group";
    return Status::Ok();
  }
  OFL_CHECK_OR_RETURN(program.collective != CollectiveKind::kNone && program.transfers.empty())
      << who << ": a collective actor names its collective and carries no transfers";
  OFL_CHECK_OR_RETURN(program.group_rank >= 0 &&
                      program.group_rank < static_cast<int>(program.group.size()) &&
                      program.group[program.group_rank] == actor.id)
      << who << ": group_rank " << program.group_rank << " must index this actor in its group of "
      << program.group.size();
  OFL_CHECK_OR_RETURN(actor.inputs.size() == program.group.size())
      << who << ": expected one input per group member (" << program.group.size() << "), got "
      << actor.inputs.size();
  for (size_t k = 0; k < program.group.size(); ++k) {
    const ActorId member = program.group[k];
    OFL_CHECK_OR_RETURN(member >= 0 && member < static_cast<int64_t>(plan.actors.size()))
        << who << ": group member a" << member << " does not exist";
    const BoxingProgram& other = plan.actors[member].boxing;
    OFL_CHECK_OR_RETURN(plan.actors[member].kind == ActorKind::kCollective && other.group == program.group &&
                        other.collective == program.collective && other.fill == program.fill &&
                        other.group_rank == static_cast<int>(k))
        << who << ": group member a" << member << " disagrees on the group, its position or the collective";
    const RegisterDesc& source = plan.registers[actor.inputs[k].register_id];
    OFL_CHECK_OR_RETURN(source.device == plan.actors[member].device)
        << who << ": input " << k << " lies on " << source.device.ToString() << ", but group member a"
        << member << " runs on " << plan.actors[member].device.ToString();
  }
  return Status::Ok();
}

// The micro-batch rules at the top of plan.h. Runs after CheckActor, so
// every reference is in range.
Status CheckMicroBatches(const Plan& plan) {
  // W: how often a register is written (made ready) per step.
  auto writes_per_step = [&](const RegisterDesc& reg) {
    return reg.accumulated ? 1 : plan.actors[reg.producer].acts_per_step;
  };
  for (const Actor& actor : plan.actors) {
    const std::string who = "[plan] " + ActorText(actor);
    OFL_CHECK_OR_RETURN(actor.acts_per_step >= 1)
        << who << ": acts_per_step must be >= 1, got " << actor.acts_per_step;
    if (actor.kind == ActorKind::kInput || actor.kind == ActorKind::kVariable ||
        actor.kind == ActorKind::kOutput) {
      // Feeds, variables and fetches are per step: the host hands over one
      // value per step.
      OFL_CHECK_OR_RETURN(actor.acts_per_step == 1)
          << who << " (" << ActorKindName(actor.kind) << ") must act once per step, got acts_per_step "
          << actor.acts_per_step;
    }
    for (const ActorInput& input : actor.inputs) {
      const RegisterDesc& reg = plan.registers[input.register_id];
      const int writes = writes_per_step(reg);
      if (actor.kind == ActorKind::kOutput) {
        OFL_CHECK_OR_RETURN(writes == 1)
            << who << " (output) reads register r" << reg.id << ", written " << writes
            << " times per step by a" << reg.producer << ": an output reads one value per step";
      }
      const int acts = actor.acts_per_step;
      OFL_CHECK_OR_RETURN(acts == writes || (writes == 1 && acts > 1))
          << who << " acts " << acts << " times per step but reads register r" << reg.id << ", written "
          << writes << " times per step by a" << reg.producer << (reg.accumulated ? " (accumulated)" : "")
          << ": expected a consumer acting as often as its register is written, or reading a register "
             "written once per step";
    }
    if (actor.kind == ActorKind::kCollective) {
      for (ActorId member : actor.boxing.group) {
        OFL_CHECK_OR_RETURN(plan.actors[member].acts_per_step == actor.acts_per_step)
            << who << " acts " << actor.acts_per_step << " times per step, but group member a" << member
            << " acts " << plan.actors[member].acts_per_step << " times: a group acts together";
      }
    }
  }
  for (const RegisterDesc& reg : plan.registers) {
    OFL_CHECK_OR_RETURN(!(reg.persistent && reg.accumulated))
        << "[plan] register r" << reg.id << " (producer a" << reg.producer
        << ") is persistent and accumulated: a variable keeps its value across steps, an accumulated "
           "register is rewritten from its first act every step";
  }
  return Status::Ok();
}

}  // namespace

std::string ActorKindName(ActorKind kind) { return NameOf(kActorKinds, kind); }
StatusOr<ActorKind> ParseActorKind(const std::string& name) { return Parse(kActorKinds, name, "actor kind"); }
std::string StreamKindName(StreamKind kind) { return NameOf(kStreamKinds, kind); }
StatusOr<StreamKind> ParseStreamKind(const std::string& name) { return Parse(kStreamKinds, name, "stream"); }
std::string CombineModeName(CombineMode mode) { return NameOf(kCombineModes, mode); }
StatusOr<CombineMode> ParseCombineMode(const std::string& name) {
  return Parse(kCombineModes, name, "combine mode");
}
std::string CollectiveKindName(CollectiveKind kind) { return NameOf(kCollectiveKinds, kind); }
StatusOr<CollectiveKind> ParseCollectiveKind(const std::string& name) {
  return Parse(kCollectiveKinds, name, "collective");
}

Region BlobDesc::LogicalRegion() const {
  Region region{offset, offset};
  for (size_t axis = 0; axis < region.end.size() && static_cast<int>(axis) < desc.shape.rank(); ++axis) {
    region.end[axis] += desc.shape[static_cast<int>(axis)];
  }
  return region;
}

Status ValidatePlan(const Plan& plan) {
  for (size_t i = 0; i < plan.actors.size(); ++i) {
    OFL_CHECK_OR_RETURN(plan.actors[i].id == static_cast<ActorId>(i))
        << "[plan] actor number " << i << " has id a" << plan.actors[i].id << ": ids must be dense";
  }
  for (size_t i = 0; i < plan.registers.size(); ++i) {
    const RegisterDesc& reg = plan.registers[i];
    OFL_CHECK_OR_RETURN(reg.id == static_cast<RegisterId>(i))
        << "[plan] register number " << i << " has id r" << reg.id << ": ids must be dense";
    OFL_CHECK_OR_RETURN(reg.producer >= 0 && reg.producer < static_cast<int64_t>(plan.actors.size()) &&
                        plan.actors[reg.producer].produced == reg.id)
        << "[plan] register r" << reg.id << ": producer a" << reg.producer << " does not produce it";
    OFL_CHECK_OR_RETURN(reg.count >= 1)
        << "[plan] register r" << reg.id << ": count must be >= 1, got " << reg.count;
    int64_t end = 0;
    for (int b = 0; b < static_cast<int>(reg.blobs.size()); ++b) OFL_RETURN_IF_ERROR(CheckBlob(reg, b, end));
    OFL_CHECK_OR_RETURN(reg.byte_size >= end)
        << "[plan] register r" << reg.id << ": byte size " << reg.byte_size << " is smaller than its blobs ("
        << end << " bytes)";
  }
  std::vector<std::vector<ActorId>> consumers(plan.registers.size());
  for (const Actor& actor : plan.actors) OFL_RETURN_IF_ERROR(CheckActor(plan, actor, consumers));
  OFL_RETURN_IF_ERROR(CheckMicroBatches(plan));
  for (size_t i = 0; i < plan.registers.size(); ++i) {
    OFL_CHECK_OR_RETURN(plan.registers[i].consumers == consumers[i])
        << "[plan] register r" << i << ": its consumer list differs from the actors that read it";
  }
  // At most one in-place writer per register: each writer waits for every
  // other consumer to free the register, so two writers would wait forever.
  std::vector<ActorId> writer(plan.registers.size(), -1);
  for (const Actor& actor : plan.actors) {
    for (const ActorInput& input : actor.inputs) {
      if (!input.mutated) continue;
      ActorId& first = writer[input.register_id];
      OFL_CHECK_OR_RETURN(first < 0 || first == actor.id)
          << "[plan] register r" << input.register_id << " is written in place by a" << first << " and a"
          << actor.id << ": expected at most one in-place writer per register";
      first = actor.id;
    }
  }
  for (const FeedDesc& feed : plan.feeds) {
    for (const TensorPiece& piece : feed.pieces) {
      OFL_RETURN_IF_ERROR(
          CheckPiece(plan, "[plan] feed \"" + feed.name + "\"", feed.desc, piece, ActorKind::kInput));
    }
  }
  for (const FetchDesc& fetch : plan.fetches) {
    for (const TensorPiece& piece : fetch.pieces) {
      OFL_RETURN_IF_ERROR(
          CheckPiece(plan, "[plan] fetch \"" + fetch.name + "\"", fetch.desc, piece, ActorKind::kOutput));
      const std::vector<ActorInput>& inputs = plan.actors[piece.actor].inputs;
      OFL_CHECK_OR_RETURN(inputs.size() == 1 && inputs[0].register_id == piece.register_id &&
                          inputs[0].blob == piece.blob)
          << "[plan] fetch \"" << fetch.name << "\": output actor a" << piece.actor
          << " must read exactly the fetched blob r" << piece.register_id << "." << piece.blob;
    }
  }
  for (const VariableDesc& variable : plan.variables) {
    for (const TensorPiece& piece : variable.pieces) {
      OFL_RETURN_IF_ERROR(CheckPiece(plan, "[plan] variable \"" + variable.name + "\"", variable.desc, piece,
                                     ActorKind::kVariable));
      OFL_CHECK_OR_RETURN(plan.registers[piece.register_id].persistent)
          << "[plan] variable \"" << variable.name << "\": register r" << piece.register_id
          << " must be persistent";
    }
  }
  return Status::Ok();
}

std::vector<Transfer> CollectiveTransfers(const Plan& plan, const Actor& actor) {
  std::vector<Transfer> transfers;
  if (actor.kind != ActorKind::kCollective || actor.produced < 0) return transfers;
  const Region output = plan.registers[actor.produced].blobs[0].LogicalRegion();
  transfers.reserve(actor.inputs.size());
  for (size_t k = 0; k < actor.inputs.size(); ++k) {
    const ActorInput& input = actor.inputs[k];
    const Region source = plan.registers[input.register_id].blobs[input.blob].LogicalRegion();
    std::optional<Region> overlap = Intersect(source, output);
    if (overlap) transfers.push_back(Transfer{static_cast<int>(k), std::move(*overlap), actor.boxing.fill});
  }
  return transfers;
}

std::vector<DeviceId> PlanDevices(const Plan& plan) {
  std::vector<DeviceId> devices;
  for (const Actor& actor : plan.actors) {
    if (devices.empty() || devices.back() != actor.device) devices.push_back(actor.device);
  }
  std::sort(devices.begin(), devices.end());
  devices.erase(std::unique(devices.begin(), devices.end()), devices.end());
  return devices;
}

}  // namespace ofl

// Plan: the physical program of one job, as plain data (DESIGN.md sections
// 5 and 6). The compiler's physical lowering writes it; the runtime executes
// it; it never mentions SBP, placements or passes, only devices, actors,
// registers, logical regions and copy/collective instructions.
//
// Contract for the runtime:
// - Ids are dense: actors[i].id == i, registers[i].id == i, and every
//   reference (producer, consumer, input, group, piece) is in range.
//   ValidatePlan checks this and everything below that can be checked.
// - An actor consumes registers (Actor::inputs) and produces at most one
//   register (Actor::produced) holding one blob per output. A register has
//   `count` copies (1 by default; more lets its producer run ahead) of
//   `byte_size` bytes each; blob b of a copy starts at blobs[b].byte_offset.
// - Credit protocol: a producer sends ready(register) to every actor of
//   RegisterDesc::consumers; a consumer acts when every input is ready and its
//   produced register has a free copy, then sends ready downstream and
//   free(register) upstream. Ready and free are per register, not per input:
//   an actor that reads one register through several inputs (mul(g, g)) is
//   listed once among its consumers, gets one ready and sends one free. An actor with no inputs acts once per
//   step (input actors when the step's feed has arrived).
// - Micro-batches (gradient accumulation, pipeline parallelism): an actor
//   acts Actor::acts_per_step times per step (M inside the micro-batch
//   region, 1 elsewhere); its kernel sees KernelContext::micro_batch = the
//   index of the act within the step and micro_batches = acts_per_step. A
//   register is written acts_per_step times per step by its producer, except
//   an `accumulated` register: its producer (acc, pack; acts_per_step M)
//   takes one free copy at its first act of a step, writes into that copy on
//   every act and sends ready once, after its last act. A register's writes
//   per step W are therefore 1 if accumulated else the producer's
//   acts_per_step. A consumer with acts_per_step C reads a register with W
//   writes per step either act by act (C == W: one ready, one act, one free)
//   or held (W == 1 < C: it reads the same copy in all C acts of the step and
//   frees it after the last; this is how a variable or a whole-batch input
//   is reused per micro-batch). Other combinations are invalid. Input and
//   variable actors act once per step; output actors read registers with
//   W == 1. Register counts above 1 let a producer run that many writes
//   ahead of its slowest consumer (pipeline stages overlap this way).
// - In-place inputs (ActorInput::mutated, e.g. adam_update's param, m, v)
//   write a persistent (variable) register. The runtime lets such a consumer
//   act only after every other consumer of that register has freed it for
//   this step, so readers see the old value and the next step the new one.
//   A register has at most one in-place writer (ValidatePlan checks).
// - Compute actors run the kernel of op `nodes[node].op` with attrs
//   `nodes[node].attrs` (the logical attrs). Each input and output is a
//   TensorArg{blob, BlobDesc::logical_shape, BlobDesc::offset}: kernels see
//   pieces plus their logical place, never SBP.
// - Boxing copy actors first fill their output with the identity of `fill`
//   (0 for sum, lowest value for max, nothing for copy), then apply their
//   transfers in order: the logical `region` of input `input` is copied into
//   (or added to, or maxed into) the output. Both blobs know their logical
//   region, so a transfer is CopyRegion(src, src region, dst, dst region,
//   region). Inputs that no transfer reads only order the actor in the step.
// - Collective actors form a group (Boxing::group, the same on every member,
//   ordered by position on the mesh axis); inputs[k] is the input register
//   of group member k's device, inputs[group_rank] the local one. A backend
//   with collectives (NCCL) runs `collective` over the group, reading only
//   the local input (the others only synchronise). A backend without (the
//   CPU runtime) runs it as the copy program CollectiveTransfers() derives:
//   fill with `fill`, then for each member k in group order the overlap of
//   input k's region with the output's region, combined with `fill`'s mode.
//   Group order makes every member sum in the same order, so Broadcast
//   results are bitwise identical across the group.
// - Feeds, fetches and variables map job-level tensors to pieces; the host
//   copies the logical `region` of a piece between the logical tensor and
//   the piece's blob. A fetch starts from the identity of `combine` and
//   combines its pieces in order.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "oneflow_like/attr.h"
#include "oneflow_like/device.h"
#include "oneflow_like/region.h"
#include "oneflow_like/status.h"
#include "oneflow_like/tensor_desc.h"

namespace ofl {

using ActorId = int64_t;
using RegisterId = int64_t;

/// What an actor does.
enum class ActorKind : int8_t {
  kInput,       ///< receives its device's piece of a feed
  kVariable,    ///< owns the persistent register of a variable piece
  kCompute,     ///< runs the kernel of a registry op
  kBoxingCopy,  ///< assembles its piece from fill + transfers (general boxing, local slice, keep-on-one)
  kCollective,  ///< one member of an all_reduce / reduce_scatter / all_gather / all_to_all group
  kOutput,      ///< hands its piece of a fetch to the host
};
/// "input", "variable", "compute", "boxing_copy", "collective", "output".
std::string ActorKindName(ActorKind kind);
/// Parses an ActorKindName; the error names the text.
StatusOr<ActorKind> ParseActorKind(const std::string& name);

/// The stream (one thread or CUDA stream per device and kind) an actor runs on.
enum class StreamKind : int8_t { kCompute, kCopy, kComm };
/// "compute", "copy", "comm".
std::string StreamKindName(StreamKind kind);
/// Parses a StreamKindName.
StatusOr<StreamKind> ParseStreamKind(const std::string& name);

/// How incoming data combines with what a destination holds.
enum class CombineMode : int8_t {
  kCopy,  ///< overwrite
  kSum,   ///< add (Partial-sum pieces); identity 0
  kMax,   ///< maximum (Partial-max pieces); identity: the lowest value
};
/// "copy", "sum", "max".
std::string CombineModeName(CombineMode mode);
/// Parses a CombineModeName.
StatusOr<CombineMode> ParseCombineMode(const std::string& name);

/// The collective a collective actor takes part in.
enum class CollectiveKind : int8_t { kNone, kAllReduce, kReduceScatter, kAllGather, kAllToAll };
/// "none", "all_reduce", "reduce_scatter", "all_gather", "all_to_all".
std::string CollectiveKindName(CollectiveKind kind);
/// Parses a CollectiveKindName.
StatusOr<CollectiveKind> ParseCollectiveKind(const std::string& name);

/// The logical node actors come from (one entry per lowered node, shared by
/// its actors so that attrs are stored once).
struct PlanNode {
  std::string name;  ///< the user-facing node name ("fc1/matmul"); the fetch name for outputs
  std::string op;    ///< registry op, or "input", "variable", "boxing", "output"
  AttrMap attrs;     ///< logical attrs (complete for registry ops; boxing: kind)
  std::string role;  ///< "forward", "backward", "optimizer" (for profiles)

  bool operator==(const PlanNode&) const = default;
};

/// One tensor piece inside a register.
struct BlobDesc {
  TensorDesc desc;              ///< the physical piece: its shape and dtype
  Shape logical_shape;          ///< shape of the whole logical tensor
  std::vector<int64_t> offset;  ///< where the piece starts in the logical tensor
  int64_t byte_offset = 0;      ///< where the blob starts inside one copy of the register

  /// The logical region the piece holds: [offset, offset + desc.shape).
  Region LogicalRegion() const;
  bool operator==(const BlobDesc&) const = default;
};

/// Memory written by one actor for one step.
struct RegisterDesc {
  RegisterId id = -1;
  ActorId producer = -1;
  DeviceId device;
  int count = 1;                   ///< copies in flight (1 = producer waits for every consumer)
  std::vector<BlobDesc> blobs;     ///< one per output of the producer
  int64_t byte_size = 0;           ///< bytes of one copy (blobs at 64-byte aligned offsets)
  bool persistent = false;         ///< a variable: kept across steps, never reallocated
  /// Written on every act of its producer's step, ready once after the last
  /// (acc, pack: see the top of this file).
  bool accumulated = false;
  std::vector<ActorId> consumers;  ///< every actor reading it, ascending, without repeats

  bool operator==(const RegisterDesc&) const = default;
};

/// Bytes between the starts of consecutive blobs of a register are a
/// multiple of this (vector loads and cudaMalloc'd bases stay aligned).
inline constexpr int64_t kBlobAlignment = 64;

/// One consumed blob.
struct ActorInput {
  RegisterId register_id = -1;
  int blob = 0;          ///< index into the register's blobs
  bool mutated = false;  ///< written in place (see the in-place rule at the top)

  bool operator==(const ActorInput&) const = default;
};

/// One step of a copy program: combine logical `region` of input `input`
/// into the actor's output.
struct Transfer {
  int input = 0;  ///< index into Actor::inputs
  Region region;  ///< logical coordinates; inside both the input's and the output's region
  CombineMode mode = CombineMode::kCopy;

  bool operator==(const Transfer&) const = default;
};

/// What a boxing actor does (empty for other kinds).
struct BoxingProgram {
  /// Fill the output with the identity of this mode before anything else;
  /// for collectives also the mode every member's contribution combines with.
  CombineMode fill = CombineMode::kCopy;
  /// Copy actors: the transfers, in order. Collectives: empty (see
  /// CollectiveTransfers).
  std::vector<Transfer> transfers;
  CollectiveKind collective = CollectiveKind::kNone;
  int mesh_axis = -1;          ///< collectives: the mesh axis the group runs along
  std::vector<ActorId> group;  ///< collectives: the member actors, in group order
  int group_rank = -1;         ///< collectives: this actor's position in `group`

  bool operator==(const BoxingProgram&) const = default;
};

/// One physical op (or copy step) on one device.
struct Actor {
  ActorId id = -1;
  ActorKind kind = ActorKind::kCompute;
  int64_t node = -1;  ///< index into Plan::nodes
  DeviceId device;
  StreamKind stream = StreamKind::kCompute;
  std::vector<ActorInput> inputs;
  RegisterId produced = -1;  ///< -1: produces nothing (outputs, in-place updates)
  BoxingProgram boxing;      ///< kBoxingCopy and kCollective only
  int acts_per_step = 1;     ///< M inside the micro-batch region (see the top of this file)

  bool operator==(const Actor&) const = default;
};

/// Where one device's piece of a job-level tensor lives.
struct TensorPiece {
  ActorId actor = -1;  ///< the input, variable or output actor
  RegisterId register_id = -1;
  int blob = 0;
  Region region;  ///< the logical region of the piece
  /// Feeds and variables: this piece starts as zeros instead of its region
  /// of the value (the non-first copies of a Partial-sum layout).
  bool zeros = false;

  bool operator==(const TensorPiece&) const = default;
};

/// A tensor the user feeds every step.
struct FeedDesc {
  std::string name;
  TensorDesc desc;                  ///< logical
  std::vector<TensorPiece> pieces;  ///< one per device of the input's placement

  bool operator==(const FeedDesc&) const = default;
};

/// A tensor the user fetches after every step.
struct FetchDesc {
  std::string name;
  TensorDesc desc;  ///< logical
  /// kCopy: pieces tile the tensor; kSum/kMax: start from the identity and
  /// add (max) every piece over its region.
  CombineMode combine = CombineMode::kCopy;
  /// The pieces needed (one copy of each Broadcast replica), device order.
  std::vector<TensorPiece> pieces;

  bool operator==(const FetchDesc&) const = default;
};

/// A persistent tensor (parameter or optimizer state).
struct VariableDesc {
  std::string name;
  TensorDesc desc;  ///< logical
  /// The variable node's attrs: initializer ("zeros", "ones", "constant", "normal",
  /// "uniform"), value, mean, std, low, high, seed, trainable. Pieces are
  /// initialised by logical element, so any layout gives the same tensor.
  AttrMap initializer;
  std::vector<TensorPiece> pieces;  ///< one per device, Broadcast copies included

  bool operator==(const VariableDesc&) const = default;
};

/// The physical plan of a job.
struct Plan {
  std::vector<PlanNode> nodes;
  std::vector<Actor> actors;
  std::vector<RegisterDesc> registers;
  std::vector<FeedDesc> feeds;
  std::vector<FetchDesc> fetches;
  std::vector<VariableDesc> variables;

  bool operator==(const Plan&) const = default;
};

/// Checks the invariants listed at the top of this file (dense ids,
/// references in range, consumers matching inputs, blob offsets and sizes,
/// groups agreeing, regions inside their blobs). Errors begin with "[plan]"
/// and name the actor or register.
Status ValidatePlan(const Plan& plan);

/// The copy program equivalent to collective actor `actor` (see the top of
/// this file): one transfer per group member whose input region overlaps
/// the output region, in group order, each with mode `actor.boxing.fill`.
std::vector<Transfer> CollectiveTransfers(const Plan& plan, const Actor& actor);

/// The devices the plan uses, sorted.
std::vector<DeviceId> PlanDevices(const Plan& plan);

}  // namespace ofl

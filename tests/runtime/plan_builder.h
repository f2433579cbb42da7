// A small helper for building Plans by hand in runtime tests (no compiler):
// actors with whole-tensor or sliced outputs, consumers filled in by Finish.
#pragma once

#include <string>
#include <vector>

#include "runtime/plan.h"

namespace ofl::testing {

/// One output blob of an actor: a piece of a logical tensor.
struct PieceSpec {
  TensorDesc desc;              ///< the piece
  Shape logical_shape;          ///< empty rank with a rank>0 piece: the piece is the
                                ///< whole tensor
  std::vector<int64_t> offset;  ///< empty: zeros
};

/// Builds a Plan one actor at a time.
class PlanBuilder {
 public:
  /// A PlanNode; returns its index.
  int64_t Node(const std::string& name, const std::string& op, const AttrMap& attrs = {}) {
    plan_.nodes.push_back(PlanNode{name, op, attrs, "forward"});
    return static_cast<int64_t>(plan_.nodes.size()) - 1;
  }
  /// An actor on cpu:`device` producing `outputs` (none: produces nothing)
  /// into a register with `count` copies; returns its id.
  ActorId AddActor(ActorKind kind, int64_t node, int device, const std::vector<ActorInput>& inputs,
                   const std::vector<PieceSpec>& outputs, int count = 1,
                   StreamKind stream = StreamKind::kCompute) {
    Actor actor;
    actor.id = static_cast<ActorId>(plan_.actors.size());
    actor.kind = kind;
    actor.node = node;
    actor.device = DeviceId{DeviceType::kCPU, 0, device};
    actor.stream = stream;
    actor.inputs = inputs;
    if (!outputs.empty()) {
      RegisterDesc reg;
      reg.id = static_cast<RegisterId>(plan_.registers.size());
      reg.producer = actor.id;
      reg.device = actor.device;
      reg.count = count;
      reg.persistent = kind == ActorKind::kVariable;
      int64_t offset = 0;
      for (const PieceSpec& spec : outputs) {
        BlobDesc blob;
        blob.desc = spec.desc;
        blob.logical_shape = spec.logical_shape.rank() == 0 && spec.desc.shape.rank() > 0
                                 ? spec.desc.shape
                                 : spec.logical_shape;
        blob.offset = spec.offset.empty() ? std::vector<int64_t>(spec.desc.shape.rank(), 0) : spec.offset;
        blob.byte_offset = offset;
        offset += (static_cast<int64_t>(spec.desc.ByteSize()) + kBlobAlignment - 1) / kBlobAlignment *
                  kBlobAlignment;
        reg.blobs.push_back(blob);
      }
      reg.byte_size = offset;
      actor.produced = reg.id;
      plan_.registers.push_back(reg);
    }
    plan_.actors.push_back(actor);
    return actor.id;
  }
  /// The register `actor` produces.
  RegisterId Out(ActorId actor) const { return plan_.actors[actor].produced; }
  /// The logical region of blob `blob` of `actor`'s register.
  Region RegionOf(ActorId actor, int blob = 0) const {
    return plan_.registers[Out(actor)].blobs[blob].LogicalRegion();
  }
  /// A piece of a feed, fetch or variable: `actor`'s blob `blob` (its input for
  /// outputs).
  TensorPiece Piece(ActorId actor, bool zeros = false) const {
    const Actor& a = plan_.actors[actor];
    if (a.kind == ActorKind::kOutput) {
      const ActorInput& input = a.inputs.at(0);
      return TensorPiece{actor, input.register_id, input.blob,
                         plan_.registers[input.register_id].blobs[input.blob].LogicalRegion(), zeros};
    }
    return TensorPiece{actor, a.produced, 0, RegionOf(actor), zeros};
  }
  Plan& plan() { return plan_; }
  /// Fills RegisterDesc::consumers from the actors' inputs and returns the
  /// plan.
  Plan Finish() {
    for (RegisterDesc& reg : plan_.registers) reg.consumers.clear();
    for (const Actor& actor : plan_.actors) {
      for (const ActorInput& input : actor.inputs) {
        std::vector<ActorId>& list = plan_.registers[input.register_id].consumers;
        if (list.empty() || list.back() != actor.id) list.push_back(actor.id);
      }
    }
    return plan_;
  }

 private:
  Plan plan_;
};

}  // namespace ofl::testing

// Physical lowering: graphs with hand-set layouts (what SBP deduction and
// boxing insertion produce) lowered to plans. Boxing actors are also run on
// host tensors, to check that their copy programs move the logical tensor.
#include "compiler/lower/physical_lowering.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>

#include "compiler/boxing/boxing_kind.h"
#include "oneflow_like/host_tensor.h"
#include "ops/registry.h"
#include "runtime/plan_summary.h"
#include "sbp/slicing.h"

namespace ofl::testing {
namespace {

using compiler::Graph;
using compiler::LowerToPlan;
using compiler::NodeId;
using compiler::NodeRole;
using compiler::ValueId;

const OpRegistry& Ops() { return DefaultRegistries().ops; }

NdSbp S(int axis) { return {Sbp::Split(axis)}; }
NdSbp B() { return {Sbp::Broadcast()}; }
NdSbp P() { return {Sbp::PartialSum()}; }

TensorDesc F32(Shape shape) { return TensorDesc{std::move(shape), DType::kF32}; }

Placement Devices(std::vector<int> indices) {
  std::vector<DeviceId> devices;
  for (int index : indices) devices.push_back(DeviceId{DeviceType::kCPU, 0, index});
  const int64_t count = static_cast<int64_t>(devices.size());
  return Placement::Create(DeviceType::kCPU, devices, Shape{count}).ValueOrThrow();
}

ValueId Input(Graph& graph, const std::string& name, TensorDesc desc, const Placement& placement, NdSbp sbp) {
  const ValueId value = graph.AddInput(name, desc, placement, sbp);
  graph.mutable_value(value).sbp = sbp;
  return value;
}

ValueId Variable(Graph& graph, const std::string& name, TensorDesc desc, const Placement& placement,
                 NdSbp sbp) {
  const ValueId value = graph.AddVariable(
      name, desc, placement, sbp, AttrMap{{"initializer", std::string("normal")}, {"seed", int64_t{7}}});
  graph.mutable_value(value).sbp = sbp;
  return value;
}

// A registry op that reads its inputs as they lie and gives its outputs
// `output_sbps`, as SBP deduction would record it.
std::vector<ValueId> Op(Graph& graph, const std::string& op, const std::string& name,
                        const std::vector<ValueId>& inputs, const AttrMap& attrs, const Placement& placement,
                        const std::vector<NdSbp>& output_sbps, NodeRole role = NodeRole::kForward) {
  StatusOr<NodeId> id = graph.AddOp(Ops(), op, name, inputs, attrs, placement, role);
  if (!id.ok()) throw Error(id.status().message());
  compiler::Node& node = graph.mutable_node(id.value());
  for (ValueId input : inputs) node.input_sbps.push_back(graph.value(input).sbp);
  for (size_t o = 0; o < node.outputs.size() && o < output_sbps.size(); ++o) {
    graph.mutable_value(node.outputs[o]).sbp = output_sbps[o];
  }
  return node.outputs;
}

ValueId Op1(Graph& graph, const std::string& op, const std::string& name, const std::vector<ValueId>& inputs,
            const Placement& placement, NdSbp output_sbp, const AttrMap& attrs = {}) {
  return Op(graph, op, name, inputs, attrs, placement, {std::move(output_sbp)})[0];
}

ValueId Boxing(Graph& graph, const std::string& name, ValueId input, const std::string& kind,
               const Placement& placement, NdSbp sbp) {
  const NodeId id = graph.AddNode("boxing", name, {input}, AttrMap{{"kind", kind}}, {graph.value(input).desc},
                                  placement, NodeRole::kForward);
  graph.mutable_node(id).input_sbps = {graph.value(input).sbp};
  const ValueId output = graph.node(id).outputs[0];
  graph.mutable_value(output).sbp = std::move(sbp);
  return output;
}

Plan Lower(const Graph& graph) {
  StatusOr<Plan> plan = LowerToPlan(graph, Ops());
  if (!plan.ok()) throw Error(plan.status().message());
  const Status valid = ValidatePlan(plan.value());
  if (!valid.ok()) throw Error(valid.message());
  return std::move(plan).value();
}

std::string LowerError(const Graph& graph) {
  StatusOr<Plan> plan = LowerToPlan(graph, Ops());
  return plan.ok() ? "(lowered without error)" : plan.status().message();
}

std::vector<const Actor*> ActorsOf(const Plan& plan, const std::string& node_name) {
  std::vector<const Actor*> actors;
  for (const Actor& actor : plan.actors) {
    if (plan.nodes[actor.node].name == node_name) actors.push_back(&actor);
  }
  return actors;
}

const BlobDesc& Produced(const Plan& plan, const Actor& actor, int blob = 0) {
  return plan.registers.at(actor.produced).blobs.at(blob);
}

Region Box(std::vector<int64_t> begin, std::vector<int64_t> end) {
  return Region{std::move(begin), std::move(end)};
}

// ---- running boxing actors on host tensors ---------------------------------

HostTensor Iota(const Shape& shape) {
  HostTensor tensor(F32(shape));
  for (int64_t i = 0; i < tensor.NumElements(); ++i) tensor.SetFromDouble(i, static_cast<double>(i + 1));
  return tensor;
}

HostTensor Slice(const HostTensor& whole, const Region& region) {
  HostTensor piece(F32(region.Extent()));
  if (!region.Empty())
    CopyRegion(whole.AsBlob(), Region::Whole(whole.shape()), piece.AsBlob(), region, region);
  return piece;
}

// The pieces of `logical` held by the actors producing `value`'s registers,
// keyed by register: slices, or (`partial`) addends that sum to it.
void FillPieces(const Plan& plan, const std::vector<const Actor*>& producers, const HostTensor& logical,
                bool partial, std::map<RegisterId, HostTensor>& registers) {
  for (size_t d = 0; d < producers.size(); ++d) {
    const BlobDesc& blob = Produced(plan, *producers[d]);
    HostTensor piece = Slice(logical, blob.LogicalRegion());
    if (partial) {
      // Device d > 0 holds the constant d; device 0 the rest.
      for (int64_t i = 0; i < piece.NumElements(); ++i) {
        const double others =
            static_cast<double>(producers.size() - 1) * static_cast<double>(producers.size()) / 2;
        piece.SetFromDouble(i, d == 0 ? piece.GetAsDouble(i) - others : static_cast<double>(d));
      }
    }
    registers[producers[d]->produced] = piece;
  }
}

// Runs every boxing copy and collective actor (in id order, which is a
// topological order) the way the plan contract describes.
void RunBoxingActors(const Plan& plan, std::map<RegisterId, HostTensor>& registers) {
  for (const Actor& actor : plan.actors) {
    if (actor.kind != ActorKind::kBoxingCopy && actor.kind != ActorKind::kCollective) continue;
    const BlobDesc& out_blob = Produced(plan, actor);
    ASSERT_NE(actor.boxing.fill, CombineMode::kMax) << "this helper fills with zeros only";
    HostTensor out(out_blob.desc);  // zeros: the identity of sum, and overwritten by copies
    const std::vector<Transfer> transfers =
        actor.kind == ActorKind::kCollective ? CollectiveTransfers(plan, actor) : actor.boxing.transfers;
    for (const Transfer& transfer : transfers) {
      const ActorInput& input = actor.inputs.at(transfer.input);
      const BlobDesc& source = plan.registers.at(input.register_id).blobs.at(input.blob);
      ASSERT_TRUE(registers.count(input.register_id)) << "r" << input.register_id << " was not produced";
      ASSERT_NE(transfer.mode, CombineMode::kMax);
      CopyRegion(registers.at(input.register_id).AsBlob(), source.LogicalRegion(), out.AsBlob(),
                 out_blob.LogicalRegion(), transfer.region, transfer.mode == CombineMode::kSum);
    }
    registers[actor.produced] = out;
  }
}

void ExpectPiecesOf(const Plan& plan, const std::vector<const Actor*>& actors, const HostTensor& logical,
                    std::map<RegisterId, HostTensor>& registers) {
  for (const Actor* actor : actors) {
    const BlobDesc& blob = Produced(plan, *actor);
    const HostTensor expected = Slice(logical, blob.LogicalRegion());
    const HostTensor& actual = registers.at(actor->produced);
    ASSERT_EQ(actual.shape(), expected.shape()) << "actor a" << actor->id;
    EXPECT_EQ(actual.ToDoubles(), expected.ToDoubles())
        << "actor a" << actor->id << " on " << actor->device.ToString();
  }
}

// ---- tests -------------------------------------------------------------------

TEST(PhysicalLoweringTest, DataParallelTwoDevices) {
  Graph graph;
  const Placement two = Placement::Linear(DeviceType::kCPU, 2);
  const ValueId x = Input(graph, "x", F32({10, 4}), two, S(0));
  const ValueId w = Variable(graph, "w", F32({4, 8}), two, B());
  const ValueId y = Op1(graph, "matmul", "mm", {x, w}, two, S(0));
  const ValueId r = Op1(graph, "relu", "act", {y}, two, S(0));
  graph.fetches().push_back({"out", r});
  const Plan plan = Lower(graph);

  // 4 nodes x 2 devices, plus one output actor per fetched piece.
  EXPECT_EQ(plan.actors.size(), 4u * 2 + 2);
  const PlanSummary summary = SummarizePlan(plan);
  EXPECT_EQ(summary.ops, 2);
  EXPECT_EQ(summary.actor_kinds,
            (std::map<std::string, int64_t>{{"compute", 4}, {"input", 2}, {"output", 2}, {"variable", 2}}));
  EXPECT_TRUE(summary.boxing_kinds.empty());

  const std::vector<const Actor*> mm = ActorsOf(plan, "mm");
  ASSERT_EQ(mm.size(), 2u);
  for (int d = 0; d < 2; ++d) {
    const Actor& actor = *mm[d];
    EXPECT_EQ(actor.kind, ActorKind::kCompute);
    EXPECT_EQ(actor.stream, StreamKind::kCompute);
    EXPECT_EQ(actor.device, (DeviceId{DeviceType::kCPU, 0, d}));
    ASSERT_EQ(actor.inputs.size(), 2u);
    // Each device reads its own pieces.
    EXPECT_EQ(plan.registers[actor.inputs[0].register_id].device, actor.device);
    EXPECT_EQ(plan.registers[actor.inputs[1].register_id].device, actor.device);
    EXPECT_FALSE(actor.inputs[0].mutated);
    const BlobDesc& out = Produced(plan, actor);
    EXPECT_EQ(out.desc, F32({5, 8}));
    EXPECT_EQ(out.logical_shape, (Shape{10, 8}));
    EXPECT_EQ(out.offset, (std::vector<int64_t>{5 * d, 0}));
    EXPECT_EQ(plan.registers[actor.produced].byte_size, 5 * 8 * 4);
    EXPECT_EQ(plan.registers[actor.produced].count, 1);
    EXPECT_EQ(plan.registers[actor.produced].consumers, (std::vector<ActorId>{ActorsOf(plan, "act")[d]->id}));
  }

  ASSERT_EQ(plan.feeds.size(), 1u);
  EXPECT_EQ(plan.feeds[0].name, "x");
  EXPECT_EQ(plan.feeds[0].desc, F32({10, 4}));
  ASSERT_EQ(plan.feeds[0].pieces.size(), 2u);
  EXPECT_EQ(plan.feeds[0].pieces[0].region, Box({0, 0}, {5, 4}));
  EXPECT_EQ(plan.feeds[0].pieces[1].region, Box({5, 0}, {10, 4}));
  EXPECT_EQ(plan.registers[plan.feeds[0].pieces[1].register_id].byte_size, 5 * 4 * 4);
  EXPECT_FALSE(plan.feeds[0].pieces[1].zeros);

  ASSERT_EQ(plan.variables.size(), 1u);
  EXPECT_EQ(plan.variables[0].name, "w");
  EXPECT_EQ(plan.variables[0].initializer.GetString("initializer"), "normal");
  EXPECT_TRUE(plan.variables[0].initializer.GetBool("trainable"));
  ASSERT_EQ(plan.variables[0].pieces.size(), 2u);
  for (const TensorPiece& piece : plan.variables[0].pieces) {
    EXPECT_EQ(piece.region, Box({0, 0}, {4, 8})) << "Broadcast: every device holds the whole variable";
    EXPECT_TRUE(plan.registers[piece.register_id].persistent);
    EXPECT_EQ(plan.registers[piece.register_id].byte_size, 4 * 8 * 4);
  }

  ASSERT_EQ(plan.fetches.size(), 1u);
  EXPECT_EQ(plan.fetches[0].combine, CombineMode::kCopy);
  ASSERT_EQ(plan.fetches[0].pieces.size(), 2u);
  EXPECT_EQ(plan.fetches[0].pieces[1].region, Box({5, 0}, {10, 8}));
  EXPECT_EQ(plan.actors[plan.fetches[0].pieces[1].actor].kind, ActorKind::kOutput);
  EXPECT_EQ(summary.total_bytes, 2 * (5 * 4 + 4 * 8 + 5 * 8 + 5 * 8) * 4);
}

TEST(PhysicalLoweringTest, UnevenSplitGivesBalancedPieces) {
  Graph graph;
  const Placement four = Placement::Linear(DeviceType::kCPU, 4);
  const ValueId x = Input(graph, "x", F32({10, 3}), four, S(0));
  const ValueId y = Op1(graph, "relu", "act", {x}, four, S(0));
  graph.fetches().push_back({"y", y});
  const Plan plan = Lower(graph);
  const std::vector<const Actor*> act = ActorsOf(plan, "act");
  ASSERT_EQ(act.size(), 4u);
  const std::vector<int64_t> rows{3, 3, 2, 2}, offsets{0, 3, 6, 8};
  for (int d = 0; d < 4; ++d) {
    const BlobDesc& blob = Produced(plan, *act[d]);
    EXPECT_EQ(blob.desc.shape, (Shape{rows[d], 3})) << "device " << d;
    EXPECT_EQ(blob.offset, (std::vector<int64_t>{offsets[d], 0})) << "device " << d;
    EXPECT_EQ(plan.registers[act[d]->produced].byte_size, rows[d] * 3 * 4);
    EXPECT_EQ(plan.feeds[0].pieces[d].region, Box({offsets[d], 0}, {offsets[d] + rows[d], 3}));
    EXPECT_EQ(plan.fetches[0].pieces[d].region, Box({offsets[d], 0}, {offsets[d] + rows[d], 3}));
  }
}

TEST(PhysicalLoweringTest, MultiOutputRegisterAlignsBlobs) {
  Graph graph;
  const Placement one = Placement::Linear(DeviceType::kCPU, 1);
  // One device without deduced layouts: taken as Broadcast.
  const ValueId x = graph.AddInput("x", F32({10, 3}), one, {});
  StatusOr<NodeId> split = graph.AddOp(Ops(), "split", "split", {x},
                                       AttrMap{{"axis", int64_t{0}}, {"sizes", std::vector<int64_t>{3, 7}}},
                                       one, NodeRole::kForward);
  ASSERT_TRUE(split.ok()) << split.status().message();
  const std::vector<ValueId> parts = graph.node(split.value()).outputs;
  ASSERT_EQ(parts.size(), 2u);
  StatusOr<NodeId> relu = graph.AddOp(Ops(), "relu", "act", {parts[1]}, {}, one, NodeRole::kForward);
  ASSERT_TRUE(relu.ok());
  graph.fetches().push_back({"first", parts[0]});
  const Plan plan = Lower(graph);

  const Actor& splitter = *ActorsOf(plan, "split")[0];
  const RegisterDesc& reg = plan.registers[splitter.produced];
  ASSERT_EQ(reg.blobs.size(), 2u);
  EXPECT_EQ(reg.blobs[0].desc, F32({3, 3}));
  EXPECT_EQ(reg.blobs[0].byte_offset, 0);
  EXPECT_EQ(reg.blobs[1].desc, F32({7, 3}));
  EXPECT_EQ(reg.blobs[1].byte_offset, 64) << "36 bytes rounded up to the 64-byte alignment";
  EXPECT_EQ(reg.byte_size, 64 + 7 * 3 * 4);
  const Actor& act = *ActorsOf(plan, "act")[0];
  EXPECT_EQ(act.inputs[0].register_id, reg.id);
  EXPECT_EQ(act.inputs[0].blob, 1);
  EXPECT_EQ(plan.fetches[0].pieces[0].blob, 0);
}

TEST(PhysicalLoweringTest, AllReduceBecomesCollectiveGroup) {
  Graph graph;
  const Placement two = Placement::Linear(DeviceType::kCPU, 2);
  const ValueId x = Input(graph, "x", F32({6, 4}), two, S(1));
  const ValueId w = Variable(graph, "w", F32({4, 5}), two, S(0));
  const ValueId partial = Op1(graph, "matmul", "mm", {x, w}, two, P());
  const ValueId whole = Boxing(graph, "reduce", partial, "all_reduce", two, B());
  const ValueId act = Op1(graph, "relu", "act", {whole}, two, B());
  graph.fetches().push_back({"act", act});
  graph.fetches().push_back({"partial", partial});
  const Plan plan = Lower(graph);

  const std::vector<const Actor*> reduce = ActorsOf(plan, "reduce");
  const std::vector<const Actor*> mm = ActorsOf(plan, "mm");
  ASSERT_EQ(reduce.size(), 2u);
  EXPECT_EQ(plan.actors.size(), 5u * 2 + 1 + 2) << "5 nodes on 2 devices; B fetch: 1 piece; P fetch: 2";
  for (int d = 0; d < 2; ++d) {
    const Actor& actor = *reduce[d];
    EXPECT_EQ(actor.kind, ActorKind::kCollective);
    EXPECT_EQ(actor.stream, StreamKind::kComm);
    EXPECT_EQ(actor.boxing.collective, CollectiveKind::kAllReduce);
    EXPECT_EQ(actor.boxing.fill, CombineMode::kSum);
    EXPECT_EQ(actor.boxing.mesh_axis, 0);
    EXPECT_EQ(actor.boxing.group, (std::vector<ActorId>{reduce[0]->id, reduce[1]->id}));
    EXPECT_EQ(actor.boxing.group_rank, d);
    ASSERT_EQ(actor.inputs.size(), 2u);
    EXPECT_EQ(actor.inputs[0].register_id, mm[0]->produced);
    EXPECT_EQ(actor.inputs[1].register_id, mm[1]->produced);
    EXPECT_EQ(Produced(plan, actor).desc, F32({6, 5}));
  }
  EXPECT_EQ(SummarizePlan(plan).boxing_kinds, (std::map<std::string, int64_t>{{"all_reduce", 1}}));
  // Fetching a Partial value sums one piece per device; a Broadcast one reads one copy.
  EXPECT_EQ(plan.fetches[0].combine, CombineMode::kCopy);
  EXPECT_EQ(plan.fetches[0].pieces.size(), 1u);
  EXPECT_EQ(plan.fetches[1].combine, CombineMode::kSum);
  EXPECT_EQ(plan.fetches[1].pieces.size(), 2u);

  const HostTensor logical = Iota(Shape{6, 5});
  std::map<RegisterId, HostTensor> registers;
  FillPieces(plan, mm, logical, /*partial=*/true, registers);
  RunBoxingActors(plan, registers);
  ExpectPiecesOf(plan, reduce, logical, registers);
}

TEST(PhysicalLoweringTest, AllReduceAlongOneAxisOfTwoByTwoMesh) {
  Graph graph;
  const Placement mesh = Placement::Mesh(DeviceType::kCPU, Shape{2, 2}).ValueOrThrow();
  const NdSbp from{Sbp::Split(0), Sbp::PartialSum()}, to{Sbp::Split(0), Sbp::Broadcast()};
  const ValueId x = Input(graph, "x", F32({5, 3}), mesh, from);
  const ValueId y = Boxing(graph, "reduce", x, "all_reduce", mesh, to);
  graph.fetches().push_back({"y", y});
  const Plan plan = Lower(graph);
  const std::vector<const Actor*> reduce = ActorsOf(plan, "reduce");
  ASSERT_EQ(reduce.size(), 4u);
  // Groups run along mesh axis 1: {(0,0), (0,1)} and {(1,0), (1,1)}.
  EXPECT_EQ(reduce[0]->boxing.group, (std::vector<ActorId>{reduce[0]->id, reduce[1]->id}));
  EXPECT_EQ(reduce[3]->boxing.group, (std::vector<ActorId>{reduce[2]->id, reduce[3]->id}));
  EXPECT_EQ(reduce[2]->boxing.group_rank, 0);
  EXPECT_EQ(reduce[3]->boxing.mesh_axis, 1);
  EXPECT_EQ(Produced(plan, *reduce[3]).LogicalRegion(), Box({3, 0}, {5, 3}));
  // The fetch reads one copy per row block.
  ASSERT_EQ(plan.fetches[0].pieces.size(), 2u);
  EXPECT_EQ(plan.actors[plan.fetches[0].pieces[1].actor].device, (DeviceId{DeviceType::kCPU, 0, 2}));

  // Each group's two addends (split by rows between groups) sum to the rows.
  const HostTensor logical = Iota(Shape{5, 3});
  std::map<RegisterId, HostTensor> registers;
  for (int group = 0; group < 2; ++group) {
    FillPieces(plan, {ActorsOf(plan, "x")[2 * group], ActorsOf(plan, "x")[2 * group + 1]}, logical, true,
               registers);
  }
  RunBoxingActors(plan, registers);
  ExpectPiecesOf(plan, reduce, logical, registers);
}

// Every kind of boxing on one placement, on 1 to 4 devices with uneven
// pieces: the plan's copy programs (and collectives run as their derived
// transfers) must reproduce the logical tensor.
TEST(PhysicalLoweringTest, EveryBoxingKindMovesTheLogicalTensor) {
  struct Case {
    NdSbp from, to;
    std::string kind;
    ActorKind actor_kind;
  };
  const std::vector<Case> cases = {
      {P(), B(), "all_reduce", ActorKind::kCollective},
      {P(), S(0), "reduce_scatter", ActorKind::kCollective},
      {S(0), B(), "all_gather", ActorKind::kCollective},
      {S(0), S(1), "all_to_all", ActorKind::kCollective},
      {B(), S(1), "local_slice", ActorKind::kBoxingCopy},
      {B(), P(), "keep_on_one", ActorKind::kBoxingCopy},
      {S(1), P(), "general", ActorKind::kBoxingCopy},
      {P(), S(1), "general", ActorKind::kBoxingCopy},
  };
  for (int devices = 1; devices <= 4; ++devices) {
    for (const Case& c : cases) {
      SCOPED_TRACE(NdSbpToString(c.from) + " -> " + NdSbpToString(c.to) + " (" + c.kind + ") on " +
                   std::to_string(devices) + " devices");
      Graph graph;
      const Placement placement = Placement::Linear(DeviceType::kCPU, devices);
      const ValueId x = Input(graph, "x", F32({5, 3}), placement, c.from);
      Boxing(graph, "move", x, c.kind, placement, c.to);
      const Plan plan = Lower(graph);
      const std::vector<const Actor*> move = ActorsOf(plan, "move");
      ASSERT_EQ(move.size(), static_cast<size_t>(devices));
      EXPECT_EQ(move[0]->kind, c.actor_kind);
      EXPECT_EQ(move[0]->stream,
                c.actor_kind == ActorKind::kCollective ? StreamKind::kComm : StreamKind::kCopy);

      const HostTensor logical = Iota(Shape{5, 3});
      std::map<RegisterId, HostTensor> registers;
      FillPieces(plan, ActorsOf(plan, "x"), logical, c.from[0].IsPartial(), registers);
      RunBoxingActors(plan, registers);
      HostTensor assembled(F32({5, 3}));
      for (const Actor* actor : move) {
        const BlobDesc& blob = Produced(plan, *actor);
        ASSERT_EQ(registers.at(actor->produced).shape(), blob.desc.shape);
        if (!blob.LogicalRegion().Empty()) {
          CopyRegion(registers.at(actor->produced).AsBlob(), blob.LogicalRegion(), assembled.AsBlob(),
                     Region::Whole(Shape{5, 3}), blob.LogicalRegion(), /*accumulate=*/c.to[0].IsPartial());
        }
        if (c.to[0].IsBroadcast()) {
          EXPECT_EQ(registers.at(actor->produced).ToDoubles(), logical.ToDoubles()) << "a" << actor->id;
        }
      }
      EXPECT_EQ(assembled.ToDoubles(), logical.ToDoubles());
    }
  }
}

// Fills the source pieces of an N-D layout: devices that differ only along
// Broadcast mesh axes hold equal pieces; along Partial axes the addends are
// the constant `index` (the device's linear position among the addends) and,
// on the addend of index 0, the rest, so that the addends sum to the piece.
void FillNdPieces(const Plan& plan, const std::vector<const Actor*>& producers, const Placement& placement,
                  const NdSbp& sbp, const HostTensor& logical, std::map<RegisterId, HostTensor>& registers) {
  int64_t addends = 1;
  for (int axis = 0; axis < placement.hierarchy().rank(); ++axis) {
    if (sbp[axis].IsPartial()) addends *= placement.hierarchy()[axis];
  }
  for (size_t d = 0; d < producers.size(); ++d) {
    const std::vector<int64_t> coordinates = placement.MeshCoordinates(static_cast<int>(d));
    int64_t index = 0;
    for (int axis = 0; axis < placement.hierarchy().rank(); ++axis) {
      if (sbp[axis].IsPartial()) index = index * placement.hierarchy()[axis] + coordinates[axis];
    }
    HostTensor piece = Slice(logical, Produced(plan, *producers[d]).LogicalRegion());
    const double others = static_cast<double>(addends - 1) * static_cast<double>(addends) / 2;
    for (int64_t i = 0; i < piece.NumElements(); ++i) {
      piece.SetFromDouble(i, index == 0 ? piece.GetAsDouble(i) - others : static_cast<double>(index));
    }
    registers[producers[d]->produced] = piece;
  }
}

// Every pair of B, S(0), S(1), P on 1-4 devices, on a 2x2 mesh, and
// between placements ([2] -> [3], [4] -> [2, 2], cpu:0-1 -> cpu:2-3): the
// node lowers, and running its actors (copy programs, collectives as their
// derived transfers) reproduces the logical tensor.
TEST(PhysicalLoweringTest, EveryBoxingPairLowersAndMovesTheLogicalTensor) {
  const std::vector<Sbp> kinds = {Sbp::Broadcast(), Sbp::Split(0), Sbp::Split(1), Sbp::PartialSum()};
  auto layouts = [&](int mesh_rank) {
    std::vector<NdSbp> all = {{}};
    for (int axis = 0; axis < mesh_rank; ++axis) {
      std::vector<NdSbp> longer;
      for (const NdSbp& prefix : all) {
        for (const Sbp& sbp : kinds) {
          NdSbp next = prefix;
          next.push_back(sbp);
          longer.push_back(next);
        }
      }
      all = longer;
    }
    return all;
  };
  auto devices = [](std::vector<int> indices, Shape mesh) {
    std::vector<DeviceId> ids;
    for (int index : indices) ids.push_back(DeviceId{DeviceType::kCPU, 0, index});
    return Placement::Create(DeviceType::kCPU, ids, mesh).ValueOrThrow();
  };
  std::vector<std::pair<Placement, Placement>> moves;
  for (int n = 1; n <= 4; ++n)
    moves.emplace_back(Placement::Linear(DeviceType::kCPU, n), Placement::Linear(DeviceType::kCPU, n));
  const Placement mesh = Placement::Mesh(DeviceType::kCPU, Shape{2, 2}).ValueOrThrow();
  moves.emplace_back(mesh, mesh);
  moves.emplace_back(Placement::Linear(DeviceType::kCPU, 2), Placement::Linear(DeviceType::kCPU, 3));
  moves.emplace_back(Placement::Linear(DeviceType::kCPU, 4), mesh);
  moves.emplace_back(devices({0, 1}, Shape{2}), devices({2, 3}, Shape{2}));
  const Shape shape{5, 3};
  const HostTensor logical = Iota(shape);
  int lowered = 0;
  for (const auto& [from_placement, to_placement] : moves) {
    for (const NdSbp& from : layouts(from_placement.hierarchy().rank())) {
      for (const NdSbp& to : layouts(to_placement.hierarchy().rank())) {
        SCOPED_TRACE(NdSbpToString(from) + " on " + from_placement.ToString() + " -> " + NdSbpToString(to) +
                     " on " + to_placement.ToString());
        Graph graph;
        const ValueId x = Input(graph, "x", F32({5, 3}), from_placement, from);
        int mesh_axis = -1;
        const compiler::BoxingKind kind =
            compiler::ClassifyBoxing(from_placement, from, to_placement, to, &mesh_axis);
        const ValueId moved = Boxing(graph, "move", x, compiler::BoxingKindName(kind), to_placement, to);
        if (to_placement.hierarchy().rank() >= 2 && mesh_axis >= 0) {
          graph.mutable_node(graph.value(moved).producer)
              .attrs.Set("mesh_axis", static_cast<int64_t>(mesh_axis));
        }
        StatusOr<Plan> plan = LowerToPlan(graph, Ops());
        ASSERT_TRUE(plan.ok()) << plan.status().message();
        ASSERT_TRUE(ValidatePlan(plan.value()).ok());
        ++lowered;
        std::vector<const Actor*> move = ActorsOf(plan.value(), "move");
        if (kind == compiler::BoxingKind::kIdentity) move = ActorsOf(plan.value(), "x");
        ASSERT_EQ(move.size(), static_cast<size_t>(to_placement.num_devices()));
        std::map<RegisterId, HostTensor> registers;
        FillNdPieces(plan.value(), ActorsOf(plan.value(), "x"), from_placement, from, logical, registers);
        RunBoxingActors(plan.value(), registers);
        // One representative per copy class (coordinate 0 along Broadcast
        // axes); Partial addends and Split pieces are summed into zeros.
        HostTensor assembled(F32({5, 3}));
        for (size_t d = 0; d < move.size(); ++d) {
          const std::vector<int64_t> coordinates = to_placement.MeshCoordinates(static_cast<int>(d));
          bool representative = true;
          for (int axis = 0; axis < to_placement.hierarchy().rank(); ++axis) {
            representative = representative && (!to[axis].IsBroadcast() || coordinates[axis] == 0);
          }
          const BlobDesc& blob = Produced(plan.value(), *move[d]);
          if (!representative || blob.LogicalRegion().Empty()) continue;
          CopyRegion(registers.at(move[d]->produced).AsBlob(), blob.LogicalRegion(), assembled.AsBlob(),
                     Region::Whole(shape), blob.LogicalRegion(), /*accumulate=*/true);
        }
        EXPECT_EQ(assembled.ToDoubles(), logical.ToDoubles());
      }
    }
  }
  EXPECT_EQ(lowered, 4 * 16 + 256 + 16 + 64 + 16);
}

TEST(PhysicalLoweringTest, GeneralBoxingBetweenPlacementsCopiesOverlaps) {
  Graph graph;
  const Placement first = Devices({0, 1});
  const Placement second = Devices({2, 3, 4});
  const ValueId x = Input(graph, "x", F32({7, 5}), first, S(0));
  const ValueId moved = Boxing(graph, "stage", x, "general", second, S(1));
  const ValueId y = Op1(graph, "relu", "act", {moved}, second, S(1));
  graph.fetches().push_back({"y", y});
  const Plan plan = Lower(graph);

  const std::vector<const Actor*> stage = ActorsOf(plan, "stage");
  ASSERT_EQ(stage.size(), 3u);
  for (int d = 0; d < 3; ++d) {
    EXPECT_EQ(stage[d]->kind, ActorKind::kBoxingCopy);
    EXPECT_EQ(stage[d]->stream, StreamKind::kCopy);
    EXPECT_EQ(stage[d]->device, (DeviceId{DeviceType::kCPU, 0, 2 + d}));
    EXPECT_EQ(stage[d]->boxing.fill, CombineMode::kCopy);
    EXPECT_EQ(stage[d]->inputs.size(), 2u) << "columns of both row blocks";
    EXPECT_EQ(stage[d]->boxing.transfers.size(), 2u);
  }
  EXPECT_EQ(Produced(plan, *stage[2]).LogicalRegion(), Box({0, 4}, {7, 5})) << "5 columns over 3: 2, 2, 1";

  const HostTensor logical = Iota(Shape{7, 5});
  std::map<RegisterId, HostTensor> registers;
  FillPieces(plan, ActorsOf(plan, "x"), logical, false, registers);
  RunBoxingActors(plan, registers);
  ExpectPiecesOf(plan, stage, logical, registers);
}

TEST(PhysicalLoweringTest, LocalSliceReadsOnlyItsOwnDevice) {
  Graph graph;
  const Placement three = Placement::Linear(DeviceType::kCPU, 3);
  const ValueId x = Input(graph, "x", F32({8, 2}), three, B());
  const ValueId y = Boxing(graph, "slice", x, "local_slice", three, S(0));
  graph.fetches().push_back({"y", y});
  const Plan plan = Lower(graph);
  const std::vector<const Actor*> slice = ActorsOf(plan, "slice");
  ASSERT_EQ(slice.size(), 3u);
  for (const Actor* actor : slice) {
    EXPECT_EQ(actor->kind, ActorKind::kBoxingCopy);
    ASSERT_EQ(actor->inputs.size(), 1u);
    EXPECT_EQ(plan.registers[actor->inputs[0].register_id].device, actor->device);
  }
  const HostTensor logical = Iota(Shape{8, 2});
  std::map<RegisterId, HostTensor> registers;
  FillPieces(plan, ActorsOf(plan, "x"), logical, false, registers);
  RunBoxingActors(plan, registers);
  ExpectPiecesOf(plan, slice, logical, registers);
}

TEST(PhysicalLoweringTest, IdentityBoxingMakesNoActor) {
  Graph graph;
  const Placement two = Placement::Linear(DeviceType::kCPU, 2);
  const ValueId x = Input(graph, "x", F32({4, 2}), two, S(0));
  const ValueId same = Boxing(graph, "noop", x, "identity", two, S(0));
  const ValueId y = Op1(graph, "relu", "act", {same}, two, S(0));
  graph.fetches().push_back({"y", y});
  const Plan plan = Lower(graph);
  EXPECT_TRUE(ActorsOf(plan, "noop").empty());
  EXPECT_EQ(ActorsOf(plan, "act")[1]->inputs[0].register_id, ActorsOf(plan, "x")[1]->produced);
  EXPECT_EQ(SummarizePlan(plan).boxing_kinds, (std::map<std::string, int64_t>{{"identity", 1}}));
}

TEST(PhysicalLoweringTest, BoxingKindMustMatchTheMove) {
  Graph graph;
  const Placement two = Placement::Linear(DeviceType::kCPU, 2);
  const ValueId x = Input(graph, "x", F32({4, 2}), two, S(0));
  const ValueId y = Boxing(graph, "gather", x, "all_reduce", two, B());
  graph.fetches().push_back({"y", y});
  const std::string error = LowerError(graph);
  EXPECT_NE(error.find("'gather' (boxing)"), std::string::npos) << error;
  EXPECT_NE(error.find("all_gather"), std::string::npos) << error;
}

TEST(PhysicalLoweringTest, InPlaceUpdateMarksMutatedInputs) {
  Graph graph;
  const Placement two = Placement::Linear(DeviceType::kCPU, 2);
  const ValueId w = Variable(graph, "w", F32({4, 3}), two, B());
  const ValueId momentum = Variable(graph, "w.momentum", F32({4, 3}), two, B());
  const ValueId grad = Input(graph, "grad", F32({4, 3}), two, B());
  const ValueId lr = Input(graph, "lr", F32({}), two, B());
  const std::vector<ValueId> none = Op(graph, "sgd_update", "update", {w, grad, momentum, lr},
                                       AttrMap{{"momentum", 0.9}}, two, {}, NodeRole::kOptimizer);
  EXPECT_TRUE(none.empty());
  const Plan plan = Lower(graph);
  for (const Actor* actor : ActorsOf(plan, "update")) {
    ASSERT_EQ(actor->inputs.size(), 4u);
    EXPECT_TRUE(actor->inputs[0].mutated);
    EXPECT_FALSE(actor->inputs[1].mutated);
    EXPECT_TRUE(actor->inputs[2].mutated);
    EXPECT_FALSE(actor->inputs[3].mutated);
    EXPECT_EQ(actor->produced, -1);
  }
  EXPECT_EQ(plan.nodes[ActorsOf(plan, "update")[0]->node].role, "optimizer");
}

TEST(PhysicalLoweringTest, InPlaceUpdateOfACopyIsAnError) {
  Graph graph;
  const Placement one = Placement::Linear(DeviceType::kCPU, 1);
  const ValueId w = Variable(graph, "w", F32({4, 3}), one, B());
  const ValueId copy = Op1(graph, "relu", "copy", {w}, one, B());
  const ValueId momentum = Variable(graph, "m", F32({4, 3}), one, B());
  const ValueId lr = Input(graph, "lr", F32({}), one, B());
  Op(graph, "sgd_update", "update", {copy, w, momentum, lr}, {}, one, {}, NodeRole::kOptimizer);
  const std::string error = LowerError(graph);
  EXPECT_NE(error.find("'update' (sgd_update)"), std::string::npos) << error;
  EXPECT_NE(error.find("in place"), std::string::npos) << error;
  EXPECT_NE(error.find("'copy' (relu)"), std::string::npos) << error;
}

TEST(PhysicalLoweringTest, PartialFeedGivesZerosToOtherAddends) {
  Graph graph;
  const Placement three = Placement::Linear(DeviceType::kCPU, 3);
  const ValueId x = Input(graph, "x", F32({3}), three, P());
  graph.fetches().push_back({"x", x});
  const Plan plan = Lower(graph);
  ASSERT_EQ(plan.feeds[0].pieces.size(), 3u);
  EXPECT_FALSE(plan.feeds[0].pieces[0].zeros);
  EXPECT_TRUE(plan.feeds[0].pieces[1].zeros);
  EXPECT_TRUE(plan.feeds[0].pieces[2].zeros);
  EXPECT_EQ(plan.fetches[0].combine, CombineMode::kSum);
  EXPECT_EQ(plan.fetches[0].pieces.size(), 3u);
}

TEST(PhysicalLoweringTest, MissingLayoutOnSeveralDevicesIsAnError) {
  Graph graph;
  const Placement two = Placement::Linear(DeviceType::kCPU, 2);
  const ValueId x = graph.AddInput("x", F32({4, 2}), two, S(0));  // hint only, never deduced
  graph.fetches().push_back({"x", x});
  const std::string error = LowerError(graph);
  EXPECT_NE(error.find("'x' (input)"), std::string::npos) << error;
  EXPECT_NE(error.find("has no SBP"), std::string::npos) << error;
}

TEST(PhysicalLoweringTest, InputOnAnotherPlacementIsAnError) {
  Graph graph;
  const ValueId x = Input(graph, "x", F32({4, 2}), Devices({0, 1}), S(0));
  Op1(graph, "relu", "act", {x}, Devices({2, 3}), S(0));
  const std::string error = LowerError(graph);
  EXPECT_NE(error.find("'act' (relu)"), std::string::npos) << error;
  EXPECT_NE(error.find("boxing insertion must move it"), std::string::npos) << error;
}

TEST(PhysicalLoweringTest, InputReadWithAnotherLayoutIsAnError) {
  Graph graph;
  const Placement two = Placement::Linear(DeviceType::kCPU, 2);
  const ValueId x = Input(graph, "x", F32({4, 2}), two, S(0));
  const ValueId y = Op1(graph, "relu", "act", {x}, two, B());
  graph.mutable_node(graph.value(y).producer).input_sbps = {B()};
  const std::string error = LowerError(graph);
  EXPECT_NE(error.find("'act' (relu)"), std::string::npos) << error;
  EXPECT_NE(error.find("reads input 0 (%0) as B, but it is laid out as S(0)"), std::string::npos) << error;
}

// GPT-2 small on 64 devices has ~3,000 logical nodes and a few hundred
// boxing nodes; lowering must stay well under a second.
TEST(PhysicalLoweringTest, LargeGraphOnSixtyFourDevicesLowersQuickly) {
  Graph graph;
  const Placement devices = Placement::Linear(DeviceType::kCPU, 64);
  ValueId value = Input(graph, "x", F32({512, 768}), devices, S(0));
  int nodes = 1;
  for (int block = 0; nodes < 3000; ++block) {
    const std::string prefix = "block" + std::to_string(block) + "/";
    for (int i = 0; i < 8; ++i, ++nodes)
      value = Op1(graph, "relu", prefix + std::to_string(i), {value}, devices, S(0));
    if (block % 2 == 0) {
      value = Boxing(graph, prefix + "gather", value, "all_gather", devices, B());
      value = Op1(graph, "relu", prefix + "whole", {value}, devices, B());
      value = Boxing(graph, prefix + "slice", value, "local_slice", devices, S(0));
      nodes += 3;
    }
  }
  graph.fetches().push_back({"y", value});
  const auto start = std::chrono::steady_clock::now();
  StatusOr<Plan> plan = LowerToPlan(graph, Ops());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ(static_cast<int64_t>(plan.value().actors.size()), graph.NumLiveNodes() * 64 + 64);
  std::cout << "lowered " << graph.NumLiveNodes() << " nodes to " << plan.value().actors.size()
            << " actors in " << seconds * 1000 << " ms\n";
#ifdef NDEBUG
  EXPECT_LT(seconds, 1.0);
#endif
  const Status valid = ValidatePlan(plan.value());
  EXPECT_TRUE(valid.ok()) << valid.message();
}

}  // namespace
}  // namespace ofl::testing

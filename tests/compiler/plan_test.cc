// The Plan data type: validation, protobuf round trip, text, dot, summary.
// The plan here is built by hand so that every field (collective groups,
// copy programs, in-place inputs, zero pieces, every attribute type) is
// exercised independently of the compiler.
#include "runtime/plan.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "runtime/plan_dot.h"
#include "runtime/plan_proto.h"
#include "runtime/plan_summary.h"
#include "runtime/plan_text.h"

namespace ofl::testing {
namespace {

DeviceId Cpu(int index) { return DeviceId{DeviceType::kCPU, 0, index}; }

Region Box(std::vector<int64_t> begin, std::vector<int64_t> end) {
  return Region{std::move(begin), std::move(end)};
}

ActorId AddActor(Plan& plan, ActorKind kind, int64_t node, int device, StreamKind stream,
                 std::vector<ActorInput> inputs) {
  Actor& actor = plan.actors.emplace_back();
  actor.id = static_cast<ActorId>(plan.actors.size()) - 1;
  actor.kind = kind;
  actor.node = node;
  actor.device = Cpu(device);
  actor.stream = stream;
  actor.inputs = std::move(inputs);
  return actor.id;
}

// One register with one blob: the piece `region` of a `logical` f32 tensor.
RegisterId AddRegister(Plan& plan, ActorId producer, const Shape& logical, const Region& region,
                       bool persistent = false) {
  RegisterDesc& reg = plan.registers.emplace_back();
  reg.id = static_cast<RegisterId>(plan.registers.size()) - 1;
  reg.producer = producer;
  reg.device = plan.actors[producer].device;
  reg.persistent = persistent;
  BlobDesc blob;
  blob.desc = TensorDesc{region.Extent(), DType::kF32};
  blob.logical_shape = logical;
  blob.offset = region.begin;
  reg.blobs.push_back(blob);
  reg.byte_size = static_cast<int64_t>(blob.desc.ByteSize());
  plan.actors[producer].produced = reg.id;
  return reg.id;
}

void FillConsumers(Plan& plan) {
  for (RegisterDesc& reg : plan.registers) reg.consumers.clear();
  for (const Actor& actor : plan.actors) {
    for (const ActorInput& input : actor.inputs) {
      std::vector<ActorId>& consumers = plan.registers[input.register_id].consumers;
      if (consumers.empty() || consumers.back() != actor.id) consumers.push_back(actor.id);
    }
  }
}

ActorInput In(RegisterId reg, bool mutated = false) { return ActorInput{reg, 0, mutated}; }

// Row-parallel matmul on two devices, all-reduced, sliced back to rows,
// plus an in-place update of the variable and a Partial-sum feed:
//   x f32[10, 4] S(1), w f32[4, 8] S(0) -> mm P(sum) -> all_reduce B -> local_slice S(0)
Plan HandBuiltPlan() {
  Plan plan;
  AttrMap initializer{
      {"initializer", std::string("normal")}, {"seed", int64_t{1}}, {"std", 0.02}, {"trainable", true}};
  AttrMap odd{{"alpha", 1.0},
              {"transpose_a", false},
              {"ints", std::vector<int64_t>{1, 2}},
              {"floats", std::vector<double>{0.5, 1.5}},
              {"dtype", DType::kBF16},
              {"shape", Shape{2, 3}},
              {"no_ints", std::vector<int64_t>{}},
              {"no_floats", std::vector<double>{}},
              {"scalar_shape", Shape{}},
              {"text", std::string("a \"quoted\" name")}};
  plan.nodes = {{"x", "input", {}, "forward"},
                {"w", "variable", initializer, "forward"},
                {"b", "input", {}, "forward"},
                {"mm", "matmul", odd, "forward"},
                {"ar", "boxing", {{"kind", std::string("all_reduce")}}, "forward"},
                {"slice", "boxing", {{"kind", std::string("local_slice")}}, "forward"},
                {"upd", "sgd_update", {}, "optimizer"},
                {"y", "output", {}, ""},
                {"partial", "output", {}, ""}};
  const Shape x_shape{10, 4}, w_shape{4, 8}, y_shape{10, 8}, b_shape{8};
  for (int d = 0; d < 2; ++d) {  // a0, a1 -> r0, r1
    AddRegister(plan, AddActor(plan, ActorKind::kInput, 0, d, StreamKind::kCompute, {}), x_shape,
                Box({0, 2 * d}, {10, 2 * d + 2}));
  }
  for (int d = 0; d < 2; ++d) {  // a2, a3 -> r2, r3
    AddRegister(plan, AddActor(plan, ActorKind::kVariable, 1, d, StreamKind::kCompute, {}), w_shape,
                Box({2 * d, 0}, {2 * d + 2, 8}), true);
  }
  for (int d = 0; d < 2; ++d) {  // a4, a5 -> r4, r5
    AddRegister(plan, AddActor(plan, ActorKind::kInput, 2, d, StreamKind::kCompute, {}), b_shape,
                Box({0}, {8}));
  }
  for (int d = 0; d < 2; ++d) {  // a6, a7 -> r6, r7
    AddRegister(plan, AddActor(plan, ActorKind::kCompute, 3, d, StreamKind::kCompute, {In(d), In(2 + d)}),
                y_shape, Box({0, 0}, {10, 8}));
  }
  for (int d = 0; d < 2; ++d) {  // a8, a9 -> r8, r9
    const ActorId actor = AddActor(plan, ActorKind::kCollective, 4, d, StreamKind::kComm, {In(6), In(7)});
    plan.actors[actor].boxing =
        BoxingProgram{CombineMode::kSum, {}, CollectiveKind::kAllReduce, 0, {8, 9}, d};
    AddRegister(plan, actor, y_shape, Box({0, 0}, {10, 8}));
  }
  for (int d = 0; d < 2; ++d) {  // a10, a11 -> r10, r11
    const ActorId actor = AddActor(plan, ActorKind::kBoxingCopy, 5, d, StreamKind::kCopy, {In(8 + d)});
    const Region rows = Box({5 * d, 0}, {5 * d + 5, 8});
    plan.actors[actor].boxing.transfers = {Transfer{0, rows, CombineMode::kCopy}};
    AddRegister(plan, actor, y_shape, rows);
  }
  for (int d = 0; d < 2; ++d) {  // a12, a13: in-place update, no register
    AddActor(plan, ActorKind::kCompute, 6, d, StreamKind::kCompute, {In(2 + d, true), In(10 + d)});
  }
  AddActor(plan, ActorKind::kOutput, 7, 0, StreamKind::kCompute, {In(8)});  // a14
  AddActor(plan, ActorKind::kOutput, 8, 0, StreamKind::kCompute, {In(6)});  // a15
  AddActor(plan, ActorKind::kOutput, 8, 1, StreamKind::kCompute, {In(7)});  // a16
  FillConsumers(plan);

  const Region whole_y = Box({0, 0}, {10, 8});
  plan.feeds = {{"x",
                 TensorDesc{x_shape, DType::kF32},
                 {{0, 0, 0, Box({0, 0}, {10, 2}), false}, {1, 1, 0, Box({0, 2}, {10, 4}), false}}},
                {"b",
                 TensorDesc{b_shape, DType::kF32},
                 {{4, 4, 0, Box({0}, {8}), false}, {5, 5, 0, Box({0}, {8}), true}}}};
  plan.fetches = {{"y", TensorDesc{y_shape, DType::kF32}, CombineMode::kCopy, {{14, 8, 0, whole_y, false}}},
                  {"partial",
                   TensorDesc{y_shape, DType::kF32},
                   CombineMode::kSum,
                   {{15, 6, 0, whole_y, false}, {16, 7, 0, whole_y, false}}}};
  plan.variables = {{"w",
                     TensorDesc{w_shape, DType::kF32},
                     initializer,
                     {{2, 2, 0, Box({0, 0}, {2, 8}), false}, {3, 3, 0, Box({2, 0}, {4, 8}), false}}}};
  return plan;
}

TEST(PlanTest, HandBuiltPlanIsValid) {
  const Status status = ValidatePlan(HandBuiltPlan());
  EXPECT_TRUE(status.ok()) << status.message();
}

TEST(PlanTest, ValidateRejectsStaleConsumers) {
  Plan plan = HandBuiltPlan();
  plan.registers[6].consumers.pop_back();
  const Status status = ValidatePlan(plan);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("register r6"), std::string::npos) << status.message();
}

TEST(PlanTest, ValidateRejectsInPlaceWriteOfActivation) {
  Plan plan = HandBuiltPlan();
  plan.actors[12].inputs[1].mutated = true;  // r10 is an activation, not a variable
  const Status status = ValidatePlan(plan);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("actor a12"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("persistent"), std::string::npos) << status.message();
}

TEST(PlanTest, ValidateRejectsDisagreeingGroup) {
  Plan plan = HandBuiltPlan();
  plan.actors[9].boxing.group_rank = 0;
  const Status status = ValidatePlan(plan);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("group"), std::string::npos) << status.message();
}

TEST(PlanTest, ValidateRejectsTransferOutsideItsPieces) {
  Plan plan = HandBuiltPlan();
  plan.actors[10].boxing.transfers[0].region = Box({0, 0}, {6, 8});  // output holds rows 0..5 only
  const Status status = ValidatePlan(plan);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("transfer 0"), std::string::npos) << status.message();
}

TEST(PlanTest, ValidateRejectsPieceOutsideLogicalShape) {
  Plan plan = HandBuiltPlan();
  plan.registers[1].blobs[0].offset = {0, 3};  // [0:10, 3:5] of [10, 4]
  const Status status = ValidatePlan(plan);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("register r1"), std::string::npos) << status.message();
}

TEST(PlanTest, ProtoRoundTripKeepsEveryField) {
  const Plan plan = HandBuiltPlan();
  const std::string bytes = PlanToProto(plan);
  StatusOr<Plan> decoded = PlanFromProto(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  EXPECT_TRUE(decoded.value() == plan);
  EXPECT_EQ(PlanToText(decoded.value()), PlanToText(plan));
  EXPECT_EQ(PlanToProto(decoded.value()), bytes) << "the encoding must be deterministic";
  // Attribute types survive (ints vs floats print alike in text).
  EXPECT_TRUE(std::holds_alternative<std::vector<double>>(decoded.value().nodes[3].attrs.Get("floats")));
  EXPECT_TRUE(std::holds_alternative<DType>(decoded.value().nodes[3].attrs.Get("dtype")));
  EXPECT_TRUE(std::holds_alternative<Shape>(decoded.value().nodes[3].attrs.Get("shape")));
  // Empty lists and scalar shapes ([] axes, fill's shape []) too.
  EXPECT_TRUE(std::holds_alternative<std::vector<int64_t>>(decoded.value().nodes[3].attrs.Get("no_ints")));
  EXPECT_TRUE(std::holds_alternative<std::vector<double>>(decoded.value().nodes[3].attrs.Get("no_floats")));
  EXPECT_EQ(decoded.value().nodes[3].attrs.GetShape("scalar_shape"), Shape{});
}

// Micro-batch fields: input x f32[8] -> slice (acts 4, reads x held) ->
// acc (acts 4, accumulated register) -> output.
TEST(PlanTest, ProtoRoundTripKeepsMicroBatchFields) {
  Plan plan;
  plan.nodes = {{"x", "input", {}, "forward"},
                {"slice", "unpack", {}, "forward"},
                {"acc", "acc", {}, "forward"},
                {"y", "output", {}, ""}};
  AddRegister(plan, AddActor(plan, ActorKind::kInput, 0, 0, StreamKind::kCompute, {}), Shape{8},
              Box({0}, {8}));
  AddRegister(plan, AddActor(plan, ActorKind::kCompute, 1, 0, StreamKind::kCompute, {In(0)}), Shape{2},
              Box({0}, {2}));
  AddRegister(plan, AddActor(plan, ActorKind::kCompute, 2, 0, StreamKind::kCompute, {In(1)}), Shape{2},
              Box({0}, {2}));
  AddActor(plan, ActorKind::kOutput, 3, 0, StreamKind::kCompute, {In(2)});
  plan.actors[1].acts_per_step = 4;
  plan.actors[2].acts_per_step = 4;
  plan.registers[2].accumulated = true;
  plan.registers[1].count = 2;
  FillConsumers(plan);
  ASSERT_TRUE(ValidatePlan(plan).ok()) << ValidatePlan(plan).message();

  const std::string bytes = PlanToProto(plan);
  StatusOr<Plan> decoded = PlanFromProto(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  EXPECT_TRUE(decoded.value() == plan);
  EXPECT_EQ(decoded.value().actors[1].acts_per_step, 4);
  EXPECT_EQ(decoded.value().actors[0].acts_per_step, 1) << "an absent field reads as one act per step";
  EXPECT_TRUE(decoded.value().registers[2].accumulated);
  EXPECT_FALSE(decoded.value().registers[1].accumulated);

  const std::string text = PlanToText(plan);
  for (const char* expected : {
           "actor a0 input n0 on cpu:0 stream compute reads () produces r0\n",
           "actor a1 compute n1 on cpu:0 stream compute reads (r0.0) produces r1 acts 4\n",
           "register r2 on cpu:0 producer a2 count 1 bytes 8 accumulated consumers (a3)",
       }) {
    EXPECT_NE(text.find(expected), std::string::npos) << "missing: " << expected << "\nin:\n" << text;
  }
}

TEST(PlanTest, ProtoRejectsGarbage) {
  StatusOr<Plan> decoded = PlanFromProto(std::string("\xff\xff\xff\xff not a plan", 16));
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.status().message().find("[plan proto]"), std::string::npos) << decoded.status().message();
}

TEST(PlanTest, ProtoRejectsInvalidPlan) {
  Plan plan = HandBuiltPlan();
  plan.actors[6].inputs[0].register_id = 99;
  StatusOr<Plan> decoded = PlanFromProto(PlanToProto(plan));
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.status().message().find("r99"), std::string::npos) << decoded.status().message();
}

TEST(PlanTest, SaveAndLoad) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("ofl_plan_test_" + std::to_string(::getpid()) + ".pb"))
          .string();
  const Plan plan = HandBuiltPlan();
  ASSERT_TRUE(SavePlan(plan, path).ok());
  StatusOr<Plan> loaded = LoadPlan(path);
  std::remove(path.c_str());
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_TRUE(loaded.value() == plan);

  StatusOr<Plan> missing = LoadPlan(path + ".missing");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find(path + ".missing"), std::string::npos)
      << missing.status().message();
}

TEST(PlanTest, TextShowsActorsRegistersAndTables) {
  const std::string text = PlanToText(HandBuiltPlan());
  EXPECT_EQ(text.rfind("plan {\n", 0), 0u);
  for (const char* expected : {
           "node n3 \"mm\" matmul role forward {",
           "text=\"a \"quoted\" name\"",
           "actor a0 input n0 on cpu:0 stream compute reads () produces r0\n",
           "actor a6 compute n3 on cpu:0 stream compute reads (r0.0, r2.0) produces r6\n",
           "actor a8 collective n4 on cpu:0 stream comm reads (r6.0, r7.0) produces r8 all_reduce axis 0 "
           "group "
           "(a8, a9) rank 0 fill sum\n",
           "actor a11 boxing_copy n5 on cpu:1 stream copy reads (r9.0) produces r11 fill copy transfers (in0 "
           "[5:10, 0:8] copy)\n",
           "actor a12 compute n6 on cpu:0 stream compute reads (r2.0 inplace, r10.0) produces nothing\n",
           "register r2 on cpu:0 producer a2 count 1 bytes 64 persistent consumers (a6, a12) blobs (f32[2, "
           "8] at "
           "[0, 0] of [4, 8] +0)\n",
           "feed \"b\" f32[8] pieces (a4 r4.0 [0:8], a5 r5.0 [0:8] zeros)\n",
           "fetch \"partial\" f32[10, 8] combine sum pieces (a15 r6.0 [0:10, 0:8], a16 r7.0 [0:10, 0:8])\n",
           "variable \"w\" f32[4, 8] {initializer=\"normal\", seed=1, std=0.02, trainable=true} pieces",
       }) {
    EXPECT_NE(text.find(expected), std::string::npos) << "missing: " << expected << "\nin:\n" << text;
  }
  EXPECT_EQ(text, PlanToText(HandBuiltPlan())) << "text must be deterministic";
}

TEST(PlanTest, DotHasOneClusterPerDeviceAndRegisterEdges) {
  const std::string dot = PlanToDot(HandBuiltPlan());
  EXPECT_EQ(dot.rfind("digraph plan {", 0), 0u);
  EXPECT_NE(dot.find("subgraph cluster_0 {\n    label=\"cpu:0\";"), std::string::npos) << dot;
  EXPECT_NE(dot.find("subgraph cluster_1 {\n    label=\"cpu:1\";"), std::string::npos) << dot;
  EXPECT_EQ(dot.find("cluster_2"), std::string::npos) << dot;
  EXPECT_NE(dot.find("a8 [label=\"a8 collective all_reduce\\nar\""), std::string::npos) << dot;
  EXPECT_NE(dot.find("a0 -> a6 [label=\"r0.0 f32[10, 2]\"];"), std::string::npos) << dot;
  EXPECT_NE(dot.find("a7 -> a8 [label=\"r7.0 f32[10, 8]\"];"), std::string::npos) << dot;
  EXPECT_NE(dot.find("a2 -> a12 [label=\"r2.0 f32[2, 8]\", color=red, style=dashed];"), std::string::npos)
      << dot;
  EXPECT_EQ(dot.back(), '\n');
}

TEST(PlanTest, SummaryCountsOpsActorsBytesAndBoxing) {
  const PlanSummary summary = SummarizePlan(HandBuiltPlan());
  EXPECT_EQ(summary.ops, 2);  // mm, upd
  EXPECT_EQ(summary.actors, 17);
  EXPECT_EQ(summary.registers, 12);
  EXPECT_EQ(summary.total_bytes, 2 * (80 + 64 + 32 + 320 + 320 + 160));
  EXPECT_EQ(summary.persistent_bytes, 2 * 64);
  EXPECT_EQ(summary.boxing_kinds, (std::map<std::string, int64_t>{{"all_reduce", 1}, {"local_slice", 1}}));
  EXPECT_EQ(summary.actor_kinds.at("collective"), 2);
  EXPECT_EQ(summary.actor_kinds.at("output"), 3);
  ASSERT_EQ(summary.devices.size(), 2u);
  EXPECT_EQ(summary.devices[0].device, Cpu(0));
  EXPECT_EQ(summary.devices[0].actors, 9);
  EXPECT_EQ(summary.devices[1].actors, 8);
  EXPECT_EQ(summary.devices[0].bytes, 80 + 64 + 32 + 320 + 320 + 160);
  EXPECT_EQ(summary.devices[1].persistent_bytes, 64);
  const std::string text = PlanSummaryToString(summary);
  EXPECT_NE(text.find("ops 2, actors 17, registers 12"), std::string::npos) << text;
  EXPECT_NE(text.find("all_reduce 1, local_slice 1"), std::string::npos) << text;
}

TEST(PlanTest, RegisterCountMultipliesMemory) {
  Plan plan = HandBuiltPlan();
  plan.registers[6].count = 3;
  EXPECT_TRUE(ValidatePlan(plan).ok());
  EXPECT_EQ(SummarizePlan(plan).total_bytes, SummarizePlan(HandBuiltPlan()).total_bytes + 2 * 320);
}

TEST(PlanTest, CollectiveTransfersReadEveryMemberInGroupOrder) {
  const Plan plan = HandBuiltPlan();
  const std::vector<Transfer> transfers = CollectiveTransfers(plan, plan.actors[9]);
  ASSERT_EQ(transfers.size(), 2u);
  EXPECT_EQ(transfers[0], (Transfer{0, Box({0, 0}, {10, 8}), CombineMode::kSum}));
  EXPECT_EQ(transfers[1], (Transfer{1, Box({0, 0}, {10, 8}), CombineMode::kSum}));
  EXPECT_TRUE(CollectiveTransfers(plan, plan.actors[6]).empty()) << "not a collective";
}

TEST(PlanTest, EnumNamesRoundTrip) {
  for (ActorKind kind : {ActorKind::kInput, ActorKind::kVariable, ActorKind::kCompute, ActorKind::kBoxingCopy,
                         ActorKind::kCollective, ActorKind::kOutput}) {
    StatusOr<ActorKind> parsed = ParseActorKind(ActorKindName(kind));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(parsed.value(), kind);
  }
  EXPECT_EQ(ParseCollectiveKind("reduce_scatter").value(), CollectiveKind::kReduceScatter);
  EXPECT_EQ(ParseStreamKind("comm").value(), StreamKind::kComm);
  EXPECT_EQ(ParseCombineMode("max").value(), CombineMode::kMax);
  EXPECT_FALSE(ParseActorKind("actor").ok());
}

TEST(PlanTest, PlanDevicesAreSorted) {
  EXPECT_EQ(PlanDevices(HandBuiltPlan()), (std::vector<DeviceId>{Cpu(0), Cpu(1)}));
}

}  // namespace
}  // namespace ofl::testing

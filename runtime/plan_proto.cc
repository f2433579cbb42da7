#include "runtime/plan_proto.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "runtime/plan.pb.h"

namespace ofl {
namespace {

constexpr uint32_t kFormatVersion = 1;

// ---- to protobuf ---------------------------------------------------------

void ToProto(const DeviceId& device, proto::Device* out) {
  out->set_type(DeviceTypeName(device.type));
  out->set_rank(device.rank);
  out->set_index(device.index);
}

void ToProto(const TensorDesc& desc, proto::TensorDesc* out) {
  out->set_dtype(DTypeName(desc.dtype));
  for (int64_t dim : desc.shape.dims()) out->add_shape(dim);
}

void ToProto(const Region& region, proto::Region* out) {
  for (int64_t value : region.begin) out->add_begin(value);
  for (int64_t value : region.end) out->add_end(value);
}

void ToProto(const AttrValue& value, proto::AttrValue* out) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>) {
          out->set_bool_value(v);
        } else if constexpr (std::is_same_v<T, int64_t>) {
          out->set_int_value(v);
        } else if constexpr (std::is_same_v<T, double>) {
          out->set_float_value(v);
        } else if constexpr (std::is_same_v<T, std::string>) {
          out->set_string_value(v);
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          // mutable_* marks the oneof as set even for an empty list ([] and
          // scalar shapes must survive the round trip).
          auto* list = out->mutable_ints_value();
          for (int64_t x : v) list->add_values(x);
        } else if constexpr (std::is_same_v<T, std::vector<double>>) {
          auto* list = out->mutable_floats_value();
          for (double x : v) list->add_values(x);
        } else if constexpr (std::is_same_v<T, DType>) {
          out->set_dtype_value(DTypeName(v));
        } else {
          auto* dims = out->mutable_shape_value();
          for (int64_t x : v.dims()) dims->add_values(x);
        }
      },
      value);
}

void ToProto(const AttrMap& attrs, google::protobuf::RepeatedPtrField<proto::Attr>* out) {
  for (const auto& [name, value] : attrs.values()) {
    proto::Attr* attr = out->Add();
    attr->set_name(name);
    ToProto(value, attr->mutable_value());
  }
}

void ToProto(const TensorPiece& piece, proto::TensorPiece* out) {
  out->set_actor(piece.actor);
  out->set_register_id(piece.register_id);
  out->set_blob(piece.blob);
  ToProto(piece.region, out->mutable_region());
  out->set_zeros(piece.zeros);
}

void ToProto(const Actor& actor, proto::Actor* out) {
  out->set_id(actor.id);
  out->set_kind(static_cast<proto::ActorKind>(actor.kind));
  out->set_node(actor.node);
  ToProto(actor.device, out->mutable_device());
  out->set_stream(static_cast<proto::StreamKind>(actor.stream));
  for (const ActorInput& input : actor.inputs) {
    proto::ActorInput* in = out->add_inputs();
    in->set_register_id(input.register_id);
    in->set_blob(input.blob);
    in->set_mutated(input.mutated);
  }
  out->set_produced(actor.produced);
  if (actor.acts_per_step != 1) out->set_acts_per_step(actor.acts_per_step);
  if (actor.boxing == BoxingProgram{}) return;
  proto::BoxingProgram* program = out->mutable_boxing();
  program->set_fill(static_cast<proto::CombineMode>(actor.boxing.fill));
  for (const Transfer& transfer : actor.boxing.transfers) {
    proto::Transfer* t = program->add_transfers();
    t->set_input(transfer.input);
    ToProto(transfer.region, t->mutable_region());
    t->set_mode(static_cast<proto::CombineMode>(transfer.mode));
  }
  program->set_collective(static_cast<proto::CollectiveKind>(actor.boxing.collective));
  program->set_mesh_axis(actor.boxing.mesh_axis);
  for (ActorId member : actor.boxing.group) program->add_group(member);
  program->set_group_rank(actor.boxing.group_rank);
}

void ToProto(const RegisterDesc& reg, proto::Register* out) {
  out->set_id(reg.id);
  out->set_producer(reg.producer);
  ToProto(reg.device, out->mutable_device());
  out->set_count(reg.count);
  for (const BlobDesc& blob : reg.blobs) {
    proto::Blob* b = out->add_blobs();
    ToProto(blob.desc, b->mutable_desc());
    for (int64_t dim : blob.logical_shape.dims()) b->add_logical_shape(dim);
    for (int64_t value : blob.offset) b->add_offset(value);
    b->set_byte_offset(blob.byte_offset);
  }
  out->set_byte_size(reg.byte_size);
  out->set_persistent(reg.persistent);
  out->set_accumulated(reg.accumulated);
  for (ActorId consumer : reg.consumers) out->add_consumers(consumer);
}

// ---- from protobuf -------------------------------------------------------

StatusOr<DeviceId> FromProto(const proto::Device& device) {
  DeviceId out;
  StatusOr<DeviceType> type = ParseDeviceType(device.type());
  if (!type.ok()) return Status::Error("device: " + type.status().message());
  out.type = type.value();
  out.rank = device.rank();
  out.index = device.index();
  return out;
}

StatusOr<TensorDesc> FromProto(const proto::TensorDesc& desc) {
  StatusOr<DType> dtype = ParseDType(desc.dtype());
  if (!dtype.ok()) return Status::Error("tensor: " + dtype.status().message());
  return TensorDesc{Shape(std::vector<int64_t>(desc.shape().begin(), desc.shape().end())), dtype.value()};
}

StatusOr<Region> FromProto(const proto::Region& region) {
  OFL_CHECK_OR_RETURN(region.begin_size() == region.end_size())
      << "region: expected as many begins as ends, got " << region.begin_size() << " and "
      << region.end_size();
  return Region{std::vector<int64_t>(region.begin().begin(), region.begin().end()),
                std::vector<int64_t>(region.end().begin(), region.end().end())};
}

StatusOr<AttrValue> FromProto(const proto::AttrValue& value) {
  switch (value.value_case()) {
    case proto::AttrValue::kBoolValue:
      return AttrValue(value.bool_value());
    case proto::AttrValue::kIntValue:
      return AttrValue(static_cast<int64_t>(value.int_value()));
    case proto::AttrValue::kFloatValue:
      return AttrValue(value.float_value());
    case proto::AttrValue::kStringValue:
      return AttrValue(value.string_value());
    case proto::AttrValue::kIntsValue:
      return AttrValue(
          std::vector<int64_t>(value.ints_value().values().begin(), value.ints_value().values().end()));
    case proto::AttrValue::kFloatsValue:
      return AttrValue(
          std::vector<double>(value.floats_value().values().begin(), value.floats_value().values().end()));
    case proto::AttrValue::kDtypeValue: {
      StatusOr<DType> dtype = ParseDType(value.dtype_value());
      if (!dtype.ok()) return Status::Error("attribute: " + dtype.status().message());
      return AttrValue(dtype.value());
    }
    case proto::AttrValue::kShapeValue:
      return AttrValue(Shape(
          std::vector<int64_t>(value.shape_value().values().begin(), value.shape_value().values().end())));
    case proto::AttrValue::VALUE_NOT_SET:
      break;
  }
  return Status::Error("attribute: expected a value, got none");
}

StatusOr<AttrMap> FromProto(const google::protobuf::RepeatedPtrField<proto::Attr>& attrs) {
  AttrMap out;
  for (const proto::Attr& attr : attrs) {
    StatusOr<AttrValue> value = FromProto(attr.value());
    if (!value.ok()) return value.status().WithContext("attribute '" + attr.name() + "'");
    out.Set(attr.name(), std::move(value).value());
  }
  return out;
}

template <typename Enum, typename ProtoEnum>
StatusOr<Enum> EnumFromProto(ProtoEnum value, bool (*is_valid)(int), const char* what) {
  OFL_CHECK_OR_RETURN(is_valid(static_cast<int>(value)))
      << "unknown " << what << " " << static_cast<int>(value);
  return static_cast<Enum>(value);
}

StatusOr<TensorPiece> FromProto(const proto::TensorPiece& piece) {
  TensorPiece out;
  out.actor = piece.actor();
  out.register_id = piece.register_id();
  out.blob = piece.blob();
  OFL_ASSIGN_OR_RETURN(out.region, FromProto(piece.region()));
  out.zeros = piece.zeros();
  return out;
}

StatusOr<std::vector<TensorPiece>> FromProto(
    const google::protobuf::RepeatedPtrField<proto::TensorPiece>& pieces) {
  std::vector<TensorPiece> out;
  out.reserve(pieces.size());
  for (const proto::TensorPiece& piece : pieces) {
    OFL_ASSIGN_OR_RETURN(TensorPiece converted, FromProto(piece));
    out.push_back(std::move(converted));
  }
  return out;
}

StatusOr<Actor> FromProto(const proto::Actor& actor) {
  Actor out;
  out.id = actor.id();
  OFL_ASSIGN_OR_RETURN(out.kind,
                       (EnumFromProto<ActorKind>(actor.kind(), proto::ActorKind_IsValid, "actor kind")));
  out.node = actor.node();
  OFL_ASSIGN_OR_RETURN(out.device, FromProto(actor.device()));
  OFL_ASSIGN_OR_RETURN(out.stream,
                       (EnumFromProto<StreamKind>(actor.stream(), proto::StreamKind_IsValid, "stream")));
  out.inputs.reserve(actor.inputs_size());
  for (const proto::ActorInput& input : actor.inputs()) {
    out.inputs.push_back(ActorInput{input.register_id(), input.blob(), input.mutated()});
  }
  out.produced = actor.produced();
  // 0 is proto3's "absent": a plan written before micro-batching.
  out.acts_per_step = actor.acts_per_step() == 0 ? 1 : actor.acts_per_step();
  if (!actor.has_boxing()) return out;
  const proto::BoxingProgram& program = actor.boxing();
  OFL_ASSIGN_OR_RETURN(out.boxing.fill, (EnumFromProto<CombineMode>(
                                            program.fill(), proto::CombineMode_IsValid, "combine mode")));
  out.boxing.transfers.reserve(program.transfers_size());
  for (const proto::Transfer& transfer : program.transfers()) {
    Transfer converted;
    converted.input = transfer.input();
    OFL_ASSIGN_OR_RETURN(converted.region, FromProto(transfer.region()));
    OFL_ASSIGN_OR_RETURN(converted.mode, (EnumFromProto<CombineMode>(
                                             transfer.mode(), proto::CombineMode_IsValid, "combine mode")));
    out.boxing.transfers.push_back(std::move(converted));
  }
  OFL_ASSIGN_OR_RETURN(
      out.boxing.collective,
      (EnumFromProto<CollectiveKind>(program.collective(), proto::CollectiveKind_IsValid, "collective")));
  out.boxing.mesh_axis = program.mesh_axis();
  out.boxing.group.assign(program.group().begin(), program.group().end());
  out.boxing.group_rank = program.group_rank();
  return out;
}

StatusOr<RegisterDesc> FromProto(const proto::Register& reg) {
  RegisterDesc out;
  out.id = reg.id();
  out.producer = reg.producer();
  OFL_ASSIGN_OR_RETURN(out.device, FromProto(reg.device()));
  out.count = reg.count();
  out.blobs.reserve(reg.blobs_size());
  for (const proto::Blob& blob : reg.blobs()) {
    BlobDesc converted;
    OFL_ASSIGN_OR_RETURN(converted.desc, FromProto(blob.desc()));
    converted.logical_shape =
        Shape(std::vector<int64_t>(blob.logical_shape().begin(), blob.logical_shape().end()));
    converted.offset.assign(blob.offset().begin(), blob.offset().end());
    converted.byte_offset = blob.byte_offset();
    out.blobs.push_back(std::move(converted));
  }
  out.byte_size = reg.byte_size();
  out.persistent = reg.persistent();
  out.accumulated = reg.accumulated();
  out.consumers.assign(reg.consumers().begin(), reg.consumers().end());
  return out;
}

StatusOr<FeedDesc> FeedFromProto(const proto::Feed& feed) {
  FeedDesc out;
  out.name = feed.name();
  OFL_ASSIGN_OR_RETURN(out.desc, FromProto(feed.desc()));
  OFL_ASSIGN_OR_RETURN(out.pieces, FromProto(feed.pieces()));
  return out;
}

StatusOr<FetchDesc> FetchFromProto(const proto::Fetch& fetch) {
  FetchDesc out;
  out.name = fetch.name();
  OFL_ASSIGN_OR_RETURN(out.desc, FromProto(fetch.desc()));
  OFL_ASSIGN_OR_RETURN(
      out.combine, (EnumFromProto<CombineMode>(fetch.combine(), proto::CombineMode_IsValid, "combine mode")));
  OFL_ASSIGN_OR_RETURN(out.pieces, FromProto(fetch.pieces()));
  return out;
}

StatusOr<VariableDesc> VariableFromProto(const proto::Variable& variable) {
  VariableDesc out;
  out.name = variable.name();
  OFL_ASSIGN_OR_RETURN(out.desc, FromProto(variable.desc()));
  OFL_ASSIGN_OR_RETURN(out.initializer, FromProto(variable.initializer()));
  OFL_ASSIGN_OR_RETURN(out.pieces, FromProto(variable.pieces()));
  return out;
}

}  // namespace

std::string PlanToProto(const Plan& plan) {
  proto::Plan out;
  out.set_format_version(kFormatVersion);
  for (const PlanNode& node : plan.nodes) {
    proto::PlanNode* n = out.add_nodes();
    n->set_name(node.name);
    n->set_op(node.op);
    ToProto(node.attrs, n->mutable_attrs());
    n->set_role(node.role);
  }
  for (const Actor& actor : plan.actors) ToProto(actor, out.add_actors());
  for (const RegisterDesc& reg : plan.registers) ToProto(reg, out.add_registers());
  for (const FeedDesc& feed : plan.feeds) {
    proto::Feed* f = out.add_feeds();
    f->set_name(feed.name);
    ToProto(feed.desc, f->mutable_desc());
    for (const TensorPiece& piece : feed.pieces) ToProto(piece, f->add_pieces());
  }
  for (const FetchDesc& fetch : plan.fetches) {
    proto::Fetch* f = out.add_fetches();
    f->set_name(fetch.name);
    ToProto(fetch.desc, f->mutable_desc());
    f->set_combine(static_cast<proto::CombineMode>(fetch.combine));
    for (const TensorPiece& piece : fetch.pieces) ToProto(piece, f->add_pieces());
  }
  for (const VariableDesc& variable : plan.variables) {
    proto::Variable* v = out.add_variables();
    v->set_name(variable.name);
    ToProto(variable.desc, v->mutable_desc());
    ToProto(variable.initializer, v->mutable_initializer());
    for (const TensorPiece& piece : variable.pieces) ToProto(piece, v->add_pieces());
  }
  std::string bytes;
  out.SerializeToString(&bytes);
  return bytes;
}

StatusOr<Plan> PlanFromProto(const std::string& bytes) {
  proto::Plan message;
  OFL_CHECK_OR_RETURN(message.ParseFromString(bytes))
      << "[plan proto] expected a serialised ofl.proto.Plan, got " << bytes.size()
      << " bytes that do not parse";
  OFL_CHECK_OR_RETURN(message.format_version() == kFormatVersion)
      << "[plan proto] expected format version " << kFormatVersion << ", got " << message.format_version();
  Plan plan;
  plan.nodes.reserve(message.nodes_size());
  for (const proto::PlanNode& node : message.nodes()) {
    PlanNode converted{node.name(), node.op(), {}, node.role()};
    StatusOr<AttrMap> attrs = FromProto(node.attrs());
    if (!attrs.ok()) return attrs.status().WithContext("[plan proto] node \"" + node.name() + "\"");
    converted.attrs = std::move(attrs).value();
    plan.nodes.push_back(std::move(converted));
  }
  plan.actors.reserve(message.actors_size());
  for (const proto::Actor& actor : message.actors()) {
    StatusOr<Actor> converted = FromProto(actor);
    if (!converted.ok())
      return converted.status().WithContext("[plan proto] actor a" + std::to_string(actor.id()));
    plan.actors.push_back(std::move(converted).value());
  }
  plan.registers.reserve(message.registers_size());
  for (const proto::Register& reg : message.registers()) {
    StatusOr<RegisterDesc> converted = FromProto(reg);
    if (!converted.ok())
      return converted.status().WithContext("[plan proto] register r" + std::to_string(reg.id()));
    plan.registers.push_back(std::move(converted).value());
  }
  for (const proto::Feed& feed : message.feeds()) {
    StatusOr<FeedDesc> converted = FeedFromProto(feed);
    if (!converted.ok()) return converted.status().WithContext("[plan proto] feed \"" + feed.name() + "\"");
    plan.feeds.push_back(std::move(converted).value());
  }
  for (const proto::Fetch& fetch : message.fetches()) {
    StatusOr<FetchDesc> converted = FetchFromProto(fetch);
    if (!converted.ok()) return converted.status().WithContext("[plan proto] fetch \"" + fetch.name() + "\"");
    plan.fetches.push_back(std::move(converted).value());
  }
  for (const proto::Variable& variable : message.variables()) {
    StatusOr<VariableDesc> converted = VariableFromProto(variable);
    if (!converted.ok()) {
      return converted.status().WithContext("[plan proto] variable \"" + variable.name() + "\"");
    }
    plan.variables.push_back(std::move(converted).value());
  }
  OFL_RETURN_IF_ERROR(ValidatePlan(plan));
  return plan;
}

Status SavePlan(const Plan& plan, const std::string& path) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    OFL_CHECK_OR_RETURN(out.good()) << "[plan proto] cannot write '" << temporary << "'";
    const std::string bytes = PlanToProto(plan);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    OFL_CHECK_OR_RETURN(!out.fail()) << "[plan proto] writing '" << temporary << "' failed";
  }
  OFL_CHECK_OR_RETURN(std::rename(temporary.c_str(), path.c_str()) == 0)
      << "[plan proto] cannot rename '" << temporary << "' to '" << path << "'";
  return Status::Ok();
}

StatusOr<Plan> LoadPlan(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  OFL_CHECK_OR_RETURN(in.good()) << "[plan proto] cannot read plan file '" << path << "'";
  std::ostringstream bytes;
  bytes << in.rdbuf();
  StatusOr<Plan> plan = PlanFromProto(bytes.str());
  if (!plan.ok()) return plan.status().WithContext("'" + path + "'");
  return plan;
}

}  // namespace ofl

#include "runtime/plan_dot.h"

#include <map>

namespace ofl {
namespace {

// A dot string literal: quotes and backslashes escaped, newlines as \n
// (which dot renders as a centred line break).
std::string DotString(const std::string& text) {
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '\n') {
      quoted += "\\n";
      continue;
    }
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + "\"";
}

const char* FillColor(const Actor& actor) {
  switch (actor.kind) {
    case ActorKind::kInput:
    case ActorKind::kOutput:
      return "#d9ead3";
    case ActorKind::kVariable:
      return "#ead1dc";
    case ActorKind::kBoxingCopy:
      return "#fff2cc";
    case ActorKind::kCollective:
      return "#cfe2f3";
    case ActorKind::kCompute:
      break;
  }
  return "#ffffff";
}

std::string ActorLabel(const Plan& plan, const Actor& actor) {
  std::string label = "a" + std::to_string(actor.id) + " " + ActorKindName(actor.kind);
  if (actor.node >= 0 && actor.node < static_cast<int64_t>(plan.nodes.size())) {
    const PlanNode& node = plan.nodes[actor.node];
    if (actor.kind == ActorKind::kCompute) label += " " + node.op;
    if (actor.kind == ActorKind::kCollective) label += " " + CollectiveKindName(actor.boxing.collective);
    label += "\n" + node.name;
  }
  return label;
}

}  // namespace

std::string PlanToDot(const Plan& plan) {
  std::map<DeviceId, std::vector<ActorId>> by_device;
  for (const Actor& actor : plan.actors) by_device[actor.device].push_back(actor.id);
  std::string out =
      "digraph plan {\n  graph [rankdir=TB, fontname=\"Helvetica\"];\n"
      "  node [shape=box, style=filled, fontname=\"Helvetica\", fontsize=10];\n"
      "  edge [fontname=\"Helvetica\", fontsize=8];\n";
  int cluster = 0;
  for (const auto& [device, actors] : by_device) {
    out += "  subgraph cluster_" + std::to_string(cluster++) +
           " {\n    label=" + DotString(device.ToString()) + ";\n";
    for (ActorId id : actors) {
      const Actor& actor = plan.actors[id];
      out += "    a" + std::to_string(id) + " [label=" + DotString(ActorLabel(plan, actor)) +
             ", fillcolor=\"" + FillColor(actor) + "\"];\n";
    }
    out += "  }\n";
  }
  for (const Actor& actor : plan.actors) {
    for (const ActorInput& input : actor.inputs) {
      if (input.register_id < 0 || input.register_id >= static_cast<int64_t>(plan.registers.size())) continue;
      const RegisterDesc& reg = plan.registers[input.register_id];
      std::string label = "r" + std::to_string(reg.id) + "." + std::to_string(input.blob);
      if (input.blob >= 0 && input.blob < static_cast<int>(reg.blobs.size())) {
        label += " " + reg.blobs[input.blob].desc.ToString();
      }
      out += "  a" + std::to_string(reg.producer) + " -> a" + std::to_string(actor.id) +
             " [label=" + DotString(label) + (input.mutated ? ", color=red, style=dashed" : "") + "];\n";
    }
  }
  out += "}\n";
  return out;
}

}  // namespace ofl

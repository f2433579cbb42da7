#include "runtime/plan_summary.h"

#include <algorithm>
#include <sstream>

namespace ofl {

PlanSummary SummarizePlan(const Plan& plan) {
  PlanSummary summary;
  for (const PlanNode& node : plan.nodes) {
    if (node.op == "boxing") {
      auto kind = node.attrs.values().find("kind");
      const bool named =
          kind != node.attrs.values().end() && std::holds_alternative<std::string>(kind->second);
      ++summary.boxing_kinds[named ? std::get<std::string>(kind->second) : "unknown"];
    } else if (node.op != "input" && node.op != "variable" && node.op != "output") {
      ++summary.ops;
    }
  }
  summary.actors = static_cast<int64_t>(plan.actors.size());
  summary.registers = static_cast<int64_t>(plan.registers.size());
  std::map<DeviceId, DeviceMemory> devices;
  for (const Actor& actor : plan.actors) {
    ++summary.actor_kinds[ActorKindName(actor.kind)];
    DeviceMemory& memory = devices[actor.device];
    memory.device = actor.device;
    ++memory.actors;
  }
  for (const RegisterDesc& reg : plan.registers) {
    const int64_t bytes = reg.byte_size * reg.count;
    DeviceMemory& memory = devices[reg.device];
    memory.device = reg.device;
    ++memory.registers;
    memory.bytes += bytes;
    summary.total_bytes += bytes;
    if (reg.persistent) {
      memory.persistent_bytes += bytes;
      summary.persistent_bytes += bytes;
    }
  }
  for (auto& [device, memory] : devices) summary.devices.push_back(memory);
  return summary;
}

namespace {

std::string Bytes(int64_t bytes) {
  std::ostringstream out;
  out.precision(3);
  if (bytes >= (int64_t{1} << 30)) {
    out << static_cast<double>(bytes) / (1 << 30) << " GiB";
  } else if (bytes >= (1 << 20)) {
    out << static_cast<double>(bytes) / (1 << 20) << " MiB";
  } else if (bytes >= (1 << 10)) {
    out << static_cast<double>(bytes) / (1 << 10) << " KiB";
  } else {
    return std::to_string(bytes) + " B";
  }
  return out.str();
}

template <typename Map>
std::string Counts(const Map& counts) {
  std::string text;
  for (const auto& [name, count] : counts)
    text += (text.empty() ? "" : ", ") + name + " " + std::to_string(count);
  return text.empty() ? "none" : text;
}

}  // namespace

std::string PlanSummaryToString(const PlanSummary& summary, int max_devices) {
  std::ostringstream out;
  out << "ops " << summary.ops << ", actors " << summary.actors << ", registers " << summary.registers
      << ", memory " << Bytes(summary.total_bytes) << " (" << summary.total_bytes << " bytes, persistent "
      << Bytes(summary.persistent_bytes) << ") on " << summary.devices.size() << " devices\n";
  out << "actors by kind: " << Counts(summary.actor_kinds) << "\n";
  out << "boxing by kind: " << Counts(summary.boxing_kinds) << "\n";
  const int shown = std::min<int>(max_devices, static_cast<int>(summary.devices.size()));
  for (int i = 0; i < shown; ++i) {
    const DeviceMemory& memory = summary.devices[i];
    out << "  " << memory.device.ToString() << ": actors " << memory.actors << ", registers "
        << memory.registers << ", memory " << Bytes(memory.bytes) << " (persistent "
        << Bytes(memory.persistent_bytes) << ")\n";
  }
  if (shown < static_cast<int>(summary.devices.size())) {
    out << "  ... and " << summary.devices.size() - shown << " more devices\n";
  }
  return out.str();
}

}  // namespace ofl

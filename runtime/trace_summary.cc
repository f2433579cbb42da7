#include "runtime/trace_summary.h"

#include <algorithm>
#include <climits>
#include <tuple>
#include <utility>

namespace ofl::runtime {

bool IsKeptActivation(const Plan& plan, const RegisterDesc& reg) {
  const Actor& producer = plan.actors[reg.producer];
  if (reg.persistent || producer.acts_per_step == 1 || plan.nodes[producer.node].role != "forward")
    return false;
  bool read_by_backward = false;
  for (ActorId consumer : reg.consumers) {
    if (plan.actors[consumer].device != producer.device) return false;
    read_by_backward |= plan.nodes[plan.actors[consumer].node].role == "backward";
  }
  return read_by_backward;
}

std::map<DeviceId, double> PeakKeptActivations(const Plan& plan, const std::vector<ActEvent>& trace) {
  std::vector<std::vector<RegisterId>> reads(plan.actors.size());
  std::vector<bool> kept(plan.registers.size(), false);
  std::map<DeviceId, double> bytes_per_micro_batch;
  for (const RegisterDesc& reg : plan.registers) {
    if (!IsKeptActivation(plan, reg)) continue;
    kept[reg.id] = true;
    bytes_per_micro_batch[reg.device] += static_cast<double>(reg.byte_size);
    for (ActorId consumer : reg.consumers) reads[consumer].push_back(reg.id);
  }
  // (register, step, micro-batch) -> [first write starts, last read ends]
  std::map<std::tuple<RegisterId, int64_t, int64_t>, std::pair<int64_t, int64_t>> held;
  auto span = [&](RegisterId reg, const ActEvent& event) -> std::pair<int64_t, int64_t>& {
    return held
        .emplace(std::make_tuple(reg, event.step, event.micro_batch), std::make_pair(INT64_MAX, INT64_MIN))
        .first->second;
  };
  for (const ActEvent& event : trace) {
    const RegisterId produced = plan.actors[event.actor].produced;
    if (produced >= 0 && kept[produced]) span(produced, event).first = event.start_ns;
    for (RegisterId reg : reads[event.actor]) {
      std::pair<int64_t, int64_t>& s = span(reg, event);
      s.second = std::max(s.second, event.end_ns);
    }
  }
  // Per device a sweep over (time, +bytes / -bytes); releases sort before
  // acquisitions at the same time.
  std::map<DeviceId, std::vector<std::pair<int64_t, double>>> edges;
  for (const auto& [key, s] : held) {
    if (s.first == INT64_MAX || s.second == INT64_MIN) continue;
    const RegisterDesc& reg = plan.registers[std::get<0>(key)];
    edges[reg.device].emplace_back(s.first, static_cast<double>(reg.byte_size));
    edges[reg.device].emplace_back(s.second, -static_cast<double>(reg.byte_size));
  }
  std::map<DeviceId, double> peak;
  for (auto& [device, list] : edges) {
    std::sort(list.begin(), list.end());
    double current = 0, highest = 0;
    for (const auto& [time, delta] : list) highest = std::max(highest, current += delta);
    peak[device] = highest / bytes_per_micro_batch[device];
  }
  return peak;
}

}  // namespace ofl::runtime

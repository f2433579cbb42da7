// The numbers a person checks first about a plan: how many logical ops,
// actors and registers, how much memory per device, and how much boxing of
// each kind. Printed by `ofl compile`; tests assert on it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "runtime/plan.h"

namespace ofl {

/// Registers and bytes of one device.
struct DeviceMemory {
  DeviceId device;
  int64_t actors = 0;
  int64_t registers = 0;
  int64_t bytes = 0;             ///< byte_size x count over the device's registers
  int64_t persistent_bytes = 0;  ///< the part of `bytes` in persistent (variable) registers
};

/// Counts over a whole plan.
struct PlanSummary {
  int64_t ops = 0;  ///< logical compute nodes (nodes that are not input, variable, boxing or output)
  int64_t actors = 0;
  int64_t registers = 0;
  int64_t total_bytes = 0;  ///< byte_size x count over all registers
  int64_t persistent_bytes = 0;
  /// Boxing nodes per kind (the node's attr "kind"; "unknown" when absent),
  /// identity boxing included even though it lowers to no actor.
  std::map<std::string, int64_t> boxing_kinds;
  /// Actors per ActorKindName.
  std::map<std::string, int64_t> actor_kinds;
  std::vector<DeviceMemory> devices;  ///< sorted by device
};

/// Computes the summary of `plan` in one pass over it.
PlanSummary SummarizePlan(const Plan& plan);

/// A few readable lines: totals, actors and boxing by kind, one line per
/// device (at most `max_devices` devices, then a count of the rest).
std::string PlanSummaryToString(const PlanSummary& summary, int max_devices = 16);

}  // namespace ofl

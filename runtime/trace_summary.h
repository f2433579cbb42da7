// What an act trace (Runtime::TakeTrace) says about a pipelined plan: the
// memory of the activations each device keeps for backward, in micro-batches.
// Used by the pipeline tests (the 1F1B bound) and bench/pipeline (1F1B
// against a GPipe order).
#pragma once

#include <map>
#include <vector>

#include "runtime/plan.h"
#include "runtime/runtime.h"

namespace ofl::runtime {

/// Whether register `reg` holds an activation kept for backward: written
/// once per micro-batch (acts_per_step > 1) by a forward actor, read by a
/// backward actor, and read only on its own device (a register read on
/// another device is a transfer buffer, sized by the distance instead).
bool IsKeptActivation(const Plan& plan, const RegisterDesc& reg);

/// Per device, the peak over `trace` of the bytes of kept activations held
/// at once, divided by the bytes one micro-batch keeps there (one copy of
/// every kept register of the device). A copy of kept register r holds
/// micro-batch (step, i) from the start of its producer's act (step, i) to
/// the end of the last act (step, i) of its readers. Devices without kept
/// registers are absent.
std::map<DeviceId, double> PeakKeptActivations(const Plan& plan, const std::vector<ActEvent>& trace);

}  // namespace ofl::runtime

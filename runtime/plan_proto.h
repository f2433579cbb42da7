// Plan <-> protobuf (runtime/plan.proto). The wire form is how a plan is
// saved (`ofl compile` writes plan.pb), inspected, and shipped to workers;
// the in-memory Plan stays plain structs. Protobuf is private to ofl_plan:
// callers see bytes, not generated classes.
#pragma once

#include <string>

#include "oneflow_like/status.h"
#include "runtime/plan.h"

namespace ofl {

/// The serialised protobuf of `plan`; the same plan always gives the same bytes.
std::string PlanToProto(const Plan& plan);

/// Decodes bytes written by PlanToProto and checks them with ValidatePlan
/// (a plan read from a file is input, not trusted). Errors begin with
/// "[plan proto]" or "[plan]".
StatusOr<Plan> PlanFromProto(const std::string& bytes);

/// Writes PlanToProto(plan) to `path` (through a temporary file renamed
/// into place, so a reader never sees half a plan).
Status SavePlan(const Plan& plan, const std::string& path);

/// Reads and decodes the plan at `path`; errors name the file.
StatusOr<Plan> LoadPlan(const std::string& path);

}  // namespace ofl

// A Plan drawn with Graphviz: one cluster per device, one box per actor
// (labelled with its id, kind and logical node), one edge per consumed
// register (labelled with the register and its piece). In-place writes are
// red and dashed; copy-stream actors are yellow, comm-stream actors blue.
//   dot -Tsvg plan.dot -o plan.svg
#pragma once

#include <string>

#include "runtime/plan.h"

namespace ofl {

/// The Graphviz (dot) text of `plan`; deterministic.
std::string PlanToDot(const Plan& plan);

}  // namespace ofl

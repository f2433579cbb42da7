// The one explicit list of all ops: RegisterAllOps fills an OpRegistry and a
// KernelRegistry. No static initialisers register anything.
#pragma once

#include "oneflow_like/kernel.h"
#include "ops/op_schema.h"

namespace ofl {

/// Registers every op schema and every kernel built into this binary.
Status RegisterAllOps(OpRegistry& ops, KernelRegistry& kernels);

/// Both registries, filled by RegisterAllOps on first use and immutable
/// afterwards (safe to share between threads).
struct Registries {
  OpRegistry ops;
  KernelRegistry kernels;
};
const Registries& DefaultRegistries();

}  // namespace ofl

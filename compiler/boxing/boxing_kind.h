// Kinds of boxing (DESIGN.md section 4) and their recognition. The general
// region-intersection algorithm (region_boxing.h) is always correct; a
// recognised fast-path kind tells a device backend it may use a collective
// instead, and the general form of every kind is tested to agree with it.
#pragma once

#include <string>

#include "oneflow_like/placement.h"
#include "oneflow_like/status.h"
#include "sbp/sbp.h"

namespace ofl::compiler {

enum class BoxingKind : int8_t {
  kIdentity,       ///< same placement and NdSbp: nothing moves
  kAllReduce,      ///< P -> B
  kReduceScatter,  ///< P -> S(i)
  kAllGather,      ///< S(i) -> B
  kAllToAll,       ///< S(i) -> S(j), i != j
  kLocalSlice,     ///< B -> S(i): each device keeps its slice
  kKeepOnOne,      ///< B -> P: one device keeps the value, the others zeros
  kGeneral,        ///< anything else, incl. moves between placements
};

/// "identity", "all_reduce", "reduce_scatter", "all_gather", "all_to_all",
/// "local_slice", "keep_on_one", "general".
std::string BoxingKindName(BoxingKind kind);
StatusOr<BoxingKind> ParseBoxingKind(const std::string& name);

/// The boxing that turns (from_placement, from) into (to_placement, to).
/// Same placement and 1-D: the fast path of the pair, if any. Same
/// placement N-D where exactly one mesh axis differs: the 1-D kind of that
/// axis (its collective runs in groups along that axis). Otherwise kGeneral.
/// `mesh_axis` (if not null) receives the differing axis (-1 when none).
BoxingKind ClassifyBoxing(const Placement& from_placement, const NdSbp& from, const Placement& to_placement,
                          const NdSbp& to, int* mesh_axis = nullptr);

}  // namespace ofl::compiler

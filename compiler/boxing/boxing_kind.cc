#include "compiler/boxing/boxing_kind.h"

#include <array>
#include <utility>

namespace ofl::compiler {
namespace {

constexpr std::array<std::pair<BoxingKind, const char*>, 8> kKindNames = {{
    {BoxingKind::kIdentity, "identity"},
    {BoxingKind::kAllReduce, "all_reduce"},
    {BoxingKind::kReduceScatter, "reduce_scatter"},
    {BoxingKind::kAllGather, "all_gather"},
    {BoxingKind::kAllToAll, "all_to_all"},
    {BoxingKind::kLocalSlice, "local_slice"},
    {BoxingKind::kKeepOnOne, "keep_on_one"},
    {BoxingKind::kGeneral, "general"},
}};

// The fast path of a 1-D pair on one placement (from != to). A Partial
// source reduces with its own kind (sum or max), so P(max)->B is an
// all-reduce with max. Pairs without a collective of their own are general:
//   P(sum)<->P(max): needs a reduction and a re-decomposition;
//   S->P: the general algorithm places the slices on one device per group;
//   B->P(max): every device keeps its copy (local, but no named kind; the
//              kKeepOnOne contract fills the others with zeros, which is
//              wrong for max).
BoxingKind Classify1D(const Sbp& from, const Sbp& to) {
  if (from == to) return BoxingKind::kIdentity;
  if (from.IsPartial()) {
    if (to.IsBroadcast()) return BoxingKind::kAllReduce;
    if (to.IsSplit()) return BoxingKind::kReduceScatter;
    return BoxingKind::kGeneral;
  }
  if (from.IsSplit()) {
    if (to.IsBroadcast()) return BoxingKind::kAllGather;
    if (to.IsSplit()) return BoxingKind::kAllToAll;
    return BoxingKind::kGeneral;
  }
  // from is Broadcast.
  if (to.IsSplit()) return BoxingKind::kLocalSlice;
  if (to.kind == Sbp::Kind::kPartialSum) return BoxingKind::kKeepOnOne;
  return BoxingKind::kGeneral;
}

// Whether converting mesh axis `axis` alone, in groups along that axis, is
// exact. Mesh axes after `axis` slice the region that `axis` left (nested
// rule, sbp/slicing.h); if one of them splits a tensor axis that `axis`
// splits before or after the change, the pieces of a group interleave
// (device (i, j) of (B, S(0)) -> (S(0), S(0)) needs rows it does not hold)
// and no per-axis collective exists.
bool AxisConvertsAlone(const NdSbp& from, const NdSbp& to, int axis) {
  for (size_t later = static_cast<size_t>(axis) + 1; later < from.size(); ++later) {
    const Sbp& inner = from[later];  // equal to to[later]: only `axis` differs
    if (!inner.IsSplit()) continue;
    if (from[axis].IsSplit() && from[axis].axis == inner.axis) return false;
    if (to[axis].IsSplit() && to[axis].axis == inner.axis) return false;
  }
  return true;
}

}  // namespace

std::string BoxingKindName(BoxingKind kind) {
  for (const auto& [k, name] : kKindNames) {
    if (k == kind) return name;
  }
  return "general";
}

StatusOr<BoxingKind> ParseBoxingKind(const std::string& name) {
  for (const auto& [kind, text] : kKindNames) {
    if (name == text) return kind;
  }
  std::string known;
  for (const auto& [kind, text] : kKindNames) known += (known.empty() ? "" : ", ") + std::string(text);
  return ErrorBuilder() << "[boxing] kind: expected one of " << known << ", got '" << name << "'";
}

BoxingKind ClassifyBoxing(const Placement& from_placement, const NdSbp& from, const Placement& to_placement,
                          const NdSbp& to, int* mesh_axis) {
  if (mesh_axis != nullptr) *mesh_axis = -1;
  const int rank = from_placement.hierarchy().rank();
  if (from_placement != to_placement || static_cast<int>(from.size()) != rank ||
      static_cast<int>(to.size()) != rank) {
    return BoxingKind::kGeneral;
  }
  int differing = -1;
  for (int axis = 0; axis < rank; ++axis) {
    if (from[axis] == to[axis]) continue;
    if (differing >= 0) return BoxingKind::kGeneral;  // two or more axes change
    differing = axis;
  }
  if (differing < 0) return BoxingKind::kIdentity;
  const BoxingKind kind = Classify1D(from[differing], to[differing]);
  if (kind == BoxingKind::kGeneral || !AxisConvertsAlone(from, to, differing)) return BoxingKind::kGeneral;
  if (mesh_axis != nullptr) *mesh_axis = differing;
  return kind;
}

}  // namespace ofl::compiler

// The general boxing plan. Choices beyond the header's contract:
//  - Broadcast sources: the nearest copy (same device, same process, fewest
//    mesh axes apart), so on one placement the plan of a single-axis kind
//    moves data only inside that axis's groups, as the collective does.
//  - Partial destinations from a copy source or the same Partial kind: each
//    source piece lands once per group of devices that differ only along the
//    Partial axes, on a device that already holds it where possible (S->P
//    and B->P move nothing, P->P on one placement stays put), else at the
//    source's own mesh coordinates, else at coordinate 0; the others are
//    filled with the identity (zeros for sum, the lowest value for max).
//    The choice never depends on Broadcast coordinates, so copies stay
//    identical.
//  - Between Partial kinds (P(sum) <-> P(max)): the reduced value lands whole
//    at coordinate 0 for sum (zeros elsewhere) and everywhere for max.
//  - P(sum) and P(max) mixed in one NdSbp: an error.
#include "compiler/boxing/region_boxing.h"

#include <map>
#include <optional>
#include <string>

#include "sbp/slicing.h"

namespace ofl::compiler {
namespace {

// The transfer mode that combines the pieces of an NdSbp: kCopy when no mesh
// axis is Partial, else the Partial kind. Mixing P(sum) and P(max) on two
// axes has no single meaning (sum of maxima != max of sums), so it is an
// error rather than a guess.
StatusOr<TransferMode> CombineModeOf(const std::string& who, const NdSbp& sbp) {
  TransferMode mode = TransferMode::kCopy;
  for (const Sbp& s : sbp) {
    if (!s.IsPartial()) continue;
    const TransferMode axis_mode = s.kind == Sbp::Kind::kPartialSum ? TransferMode::kSum : TransferMode::kMax;
    OFL_CHECK_OR_RETURN(mode == TransferMode::kCopy || mode == axis_mode)
        << who << ": expected Partial axes of one kind, got both P(sum) and P(max) in " << NdSbpToString(sbp);
    mode = axis_mode;
  }
  return mode;
}

// Source devices that hold the same data: they differ only along Broadcast
// mesh axes. Devices that differ along Split axes hold different regions;
// along Partial axes, different addends.
struct SourceGroups {
  std::vector<std::vector<int>> members;  // device indices, ascending
};

SourceGroups GroupSources(const Placement& placement, const NdSbp& sbp) {
  SourceGroups groups;
  std::map<std::vector<int64_t>, size_t> index_of_key;
  for (int device = 0; device < placement.num_devices(); ++device) {
    std::vector<int64_t> key = placement.MeshCoordinates(device);
    for (size_t axis = 0; axis < sbp.size(); ++axis) {
      if (sbp[axis].IsBroadcast()) key[axis] = 0;
    }
    auto [it, inserted] = index_of_key.emplace(std::move(key), groups.members.size());
    if (inserted) groups.members.emplace_back();
    groups.members[it->second].push_back(device);
  }
  return groups;
}

// The nearest holder of a group's data for destination device `dst`: the
// same device, else one on the same process, preferring (when both meshes
// have one shape) the copy fewest mesh axes away, so that on one placement a
// read stays inside the destination's group along the changing axis as the
// fast path's collective does; remaining ties rotate with `dst` so that
// copies share the reading load.
int NearestMember(const std::vector<int>& members, const Placement& from, const Placement& to, int dst,
                  const std::vector<int64_t>& dst_coordinates, bool same_hierarchy) {
  if (members.size() == 1) return members[0];
  const DeviceId& dst_device = to.devices()[dst];
  // Lexicographic: another device, another process, mesh axes apart.
  int best_score = 1 << 30;
  std::vector<int> best;
  for (int member : members) {
    const DeviceId& device = from.devices()[member];
    int score = (device != dst_device ? 1 << 20 : 0) + (device.rank != dst_device.rank ? 1 << 10 : 0);
    if (same_hierarchy) {
      const std::vector<int64_t> coordinates = from.MeshCoordinates(member);
      for (size_t axis = 0; axis < coordinates.size(); ++axis)
        score += coordinates[axis] != dst_coordinates[axis];
    }
    if (score < best_score) {
      best_score = score;
      best.clear();
    }
    if (score == best_score) best.push_back(member);
  }
  return best[static_cast<size_t>(dst) % best.size()];
}

// Where along the destination's Partial axes the piece of source group `g`
// lands, among `members` (destination devices of one region): on a member
// that holds it already; else, on one mesh shape, at the source's own
// coordinates along those axes (so a conversion on one mesh axis stays in
// that axis's groups, as its collective does); else at coordinate 0.
std::vector<int64_t> ReceivingCoordinates(const Placement& from, const Placement& to, const NdSbp& to_sbp,
                                          const std::vector<int>& members, const std::vector<int>& group,
                                          int g, const std::vector<std::vector<int64_t>>& partial_coordinates,
                                          const std::map<DeviceId, int>& source_index,
                                          const std::vector<int>& group_of_source) {
  for (int member : members) {
    auto it = source_index.find(to.devices()[member]);
    if (it != source_index.end() && group_of_source[it->second] == g) return partial_coordinates[member];
  }
  std::vector<int64_t> chosen;
  if (from.hierarchy() == to.hierarchy()) {
    const std::vector<int64_t> source = from.MeshCoordinates(group[0]);
    for (size_t axis = 0; axis < to_sbp.size(); ++axis) {
      if (to_sbp[axis].IsPartial()) chosen.push_back(source[axis]);
    }
    return chosen;
  }
  return std::vector<int64_t>(partial_coordinates[members[0]].size(), 0);
}

// A Partial destination from a copy source or a source of its own Partial
// kind. Each element of each source addend must land on exactly one device
// along the destination's Partial axes; the rest hold the identity (zeros
// for sum, the lowest value for max). A piece lands on the Partial
// coordinates of a device that already holds it (so S->P and B->P move
// nothing, as the cost model assumes), else at coordinate 0. The choice
// depends only on the piece and the destination's Split coordinates, never
// on its Broadcast coordinates: copies along Broadcast axes stay identical,
// which readers of "the nearest copy" rely on.
void PlanPartialDestination(const Placement& from, const Placement& to, const NdSbp& to_sbp,
                            const SourceGroups& groups, TransferMode source_mode,
                            TransferMode destination_mode, RegionBoxing& plan) {
  std::map<DeviceId, int> source_index;
  for (int src = 0; src < from.num_devices(); ++src) source_index.emplace(from.devices()[src], src);
  std::vector<int> group_of_source(from.num_devices(), -1);
  for (size_t g = 0; g < groups.members.size(); ++g) {
    for (int member : groups.members[g]) group_of_source[member] = static_cast<int>(g);
  }
  // Destination devices by their Split coordinates (all hold one region);
  // for each, its coordinates along the Partial axes.
  std::map<std::vector<int64_t>, std::vector<int>> same_region;
  std::vector<std::vector<int64_t>> partial_coordinates(to.num_devices());
  for (int dst = 0; dst < to.num_devices(); ++dst) {
    std::vector<int64_t> key = to.MeshCoordinates(dst);
    for (size_t axis = 0; axis < to_sbp.size(); ++axis) {
      if (to_sbp[axis].IsPartial()) partial_coordinates[dst].push_back(key[axis]);
      if (!to_sbp[axis].IsSplit()) key[axis] = 0;
    }
    same_region[key].push_back(dst);
  }
  const bool same_hierarchy = from.hierarchy() == to.hierarchy();
  std::vector<int64_t> covered(to.num_devices(), 0);
  for (const auto& [key, members] : same_region) {
    const Region& region = plan.dst_regions[members[0]];
    if (region.Empty()) continue;
    for (size_t g = 0; g < groups.members.size(); ++g) {
      const std::optional<Region> overlap = Intersect(region, plan.src_regions[groups.members[g][0]]);
      if (!overlap) continue;
      const std::vector<int64_t> chosen =
          ReceivingCoordinates(from, to, to_sbp, members, groups.members[g], static_cast<int>(g),
                               partial_coordinates, source_index, group_of_source);
      for (int receiver : members) {
        if (partial_coordinates[receiver] != chosen) continue;
        const int src = NearestMember(groups.members[g], from, to, receiver, to.MeshCoordinates(receiver),
                                      same_hierarchy);
        covered[receiver] += overlap->NumElements();
        plan.transfers.push_back(BoxingTransfer{src, receiver, *overlap, source_mode});
      }
    }
    for (int member : members) {
      // Copies that tile the whole piece need no zeros underneath.
      const bool tiled = source_mode == TransferMode::kCopy && covered[member] == region.NumElements();
      plan.fill_mode[member] = tiled ? TransferMode::kCopy : destination_mode;
    }
  }
}

}  // namespace

StatusOr<RegionBoxing> PlanRegionBoxing(const TensorDesc& logical, const Placement& from_placement,
                                        const NdSbp& from, const Placement& to_placement, const NdSbp& to) {
  OFL_RETURN_IF_ERROR(CheckNdSbp("[boxing] source " + from_placement.ToString(), from,
                                 from_placement.hierarchy(), logical.shape));
  OFL_RETURN_IF_ERROR(CheckNdSbp("[boxing] destination " + to_placement.ToString(), to,
                                 to_placement.hierarchy(), logical.shape));
  OFL_ASSIGN_OR_RETURN(const TransferMode source_mode, CombineModeOf("[boxing] source", from));
  OFL_ASSIGN_OR_RETURN(const TransferMode destination_mode, CombineModeOf("[boxing] destination", to));

  RegionBoxing plan;
  plan.src_regions.reserve(from_placement.num_devices());
  for (int device = 0; device < from_placement.num_devices(); ++device) {
    plan.src_regions.push_back(PhysicalRegion(logical.shape, from, from_placement, device));
  }
  const SourceGroups groups = GroupSources(from_placement, from);
  const bool same_hierarchy = from_placement.hierarchy() == to_placement.hierarchy();

  const int num_destinations = to_placement.num_devices();
  plan.dst_regions.reserve(num_destinations);
  for (int dst = 0; dst < num_destinations; ++dst) {
    plan.dst_regions.push_back(PhysicalRegion(logical.shape, to, to_placement, dst));
  }
  plan.fill_mode.assign(num_destinations, TransferMode::kCopy);
  if (destination_mode != TransferMode::kCopy &&
      (source_mode == TransferMode::kCopy || source_mode == destination_mode)) {
    PlanPartialDestination(from_placement, to_placement, to, groups, source_mode, destination_mode, plan);
    return plan;
  }
  for (int dst = 0; dst < num_destinations; ++dst) {
    const Region& dst_region = plan.dst_regions[dst];
    if (dst_region.Empty()) continue;
    const std::vector<int64_t> coordinates = to_placement.MeshCoordinates(dst);
    // Partial destinations reach here only from the other Partial kind. A
    // P(sum) destination gets the maximum whole on the device at coordinate
    // 0 of every Partial axis and zeros elsewhere; a P(max) destination gets
    // the sum on every device (the max of copies is the value).
    bool holds_zeros = false;
    if (destination_mode == TransferMode::kSum) {
      for (size_t axis = 0; axis < to.size(); ++axis)
        holds_zeros |= to[axis].IsPartial() && coordinates[axis] != 0;
    }
    if (holds_zeros) {
      plan.fill_mode[dst] = TransferMode::kSum;
      continue;
    }
    // Copies (kCopy) cover the piece exactly once, because the regions of one
    // addend tile the tensor; Partial sources add every addend into a piece
    // filled with the reduction's identity.
    plan.fill_mode[dst] = source_mode;
    for (const std::vector<int>& members : groups.members) {
      // All members of a group hold one region; test it before choosing.
      std::optional<Region> overlap = Intersect(dst_region, plan.src_regions[members[0]]);
      if (!overlap) continue;
      const int src = NearestMember(members, from_placement, to_placement, dst, coordinates, same_hierarchy);
      plan.transfers.push_back(BoxingTransfer{src, dst, std::move(*overlap), source_mode});
    }
  }
  return plan;
}

}  // namespace ofl::compiler

#include "sbp/cost_model.h"

namespace ofl {

double BoxingCost1D(const Sbp& from, const Sbp& to, double logical_bytes, int64_t devices) {
  const double n = static_cast<double>(devices);
  if (devices <= 1 || from == to) return 0.0;
  if (from.IsBroadcast()) return 0.0;                  // B->S slice, B->P keep on one
  if (from.IsSplit() && to.IsPartial()) return 0.0;    // zero-fill outside the piece
  if (from.IsSplit() && to.IsBroadcast()) return (n - 1) * logical_bytes;
  if (from.IsSplit() && to.IsSplit()) return (n - 1) * logical_bytes / n;
  if (from.IsPartial() && to.IsSplit()) return (n - 1) * logical_bytes;
  return 2.0 * (n - 1) * logical_bytes;  // P->B, P(sum)<->P(max)
}

namespace {

// Bytes one device's piece holds when the other mesh dimensions' splits
// apply, i.e. the logical bytes divided by their split factors.
double PieceBytesExcept(double logical_bytes, const NdSbp& sbp, const Shape& hierarchy, int skip_dim) {
  double bytes = logical_bytes;
  for (int dim = 0; dim < hierarchy.rank(); ++dim) {
    if (dim != skip_dim && sbp[dim].IsSplit()) bytes /= static_cast<double>(hierarchy[dim]);
  }
  return bytes;
}

double CopiesOf(const NdSbp& sbp, const Shape& hierarchy) {
  double copies = 1.0;
  for (int dim = 0; dim < hierarchy.rank(); ++dim) {
    if (sbp[dim].IsBroadcast()) copies *= static_cast<double>(hierarchy[dim]);
  }
  return copies;
}

double PartialSourcesOf(const NdSbp& sbp, const Shape& hierarchy) {
  double sources = 1.0;
  for (int dim = 0; dim < hierarchy.rank(); ++dim) {
    if (sbp[dim].IsPartial()) sources *= static_cast<double>(hierarchy[dim]);
  }
  return sources;
}

}  // namespace

double BoxingCost(const TensorDesc& desc, const Placement& from_placement, const NdSbp& from_sbp,
                  const Placement& to_placement, const NdSbp& to_sbp) {
  const double bytes = static_cast<double>(desc.ByteSize());
  if (from_placement != to_placement) {
    return bytes * CopiesOf(to_sbp, to_placement.hierarchy()) *
           PartialSourcesOf(from_sbp, from_placement.hierarchy());
  }
  const Shape& hierarchy = from_placement.hierarchy();
  const double total_devices = static_cast<double>(from_placement.num_devices());
  double cost = 0.0;
  NdSbp current = from_sbp;
  for (int dim = 0; dim < hierarchy.rank(); ++dim) {
    if (current[dim] == to_sbp[dim]) continue;
    const double groups = total_devices / static_cast<double>(hierarchy[dim]);
    const double piece = PieceBytesExcept(bytes, current, hierarchy, dim);
    cost += groups * BoxingCost1D(current[dim], to_sbp[dim], piece, hierarchy[dim]);
    current[dim] = to_sbp[dim];
  }
  return cost;
}

}  // namespace ofl

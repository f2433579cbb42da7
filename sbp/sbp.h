// SBP: how a logical tensor lies on the devices of one mesh dimension.
//   Split(axis): each device holds a balanced slice along `axis`.
//   Broadcast:   each device holds the whole tensor.
//   Partial(sum|max): each device holds a whole-shaped tensor; the logical
//                value is the element-wise sum (or max) over devices.
// An NdSbp has one Sbp per dimension of the placement's hierarchy.
#pragma once

#include <string>
#include <vector>

#include "oneflow_like/status.h"

namespace ofl {

/// The layout of a tensor along one mesh dimension.
struct Sbp {
  enum class Kind : int8_t { kSplit, kBroadcast, kPartialSum, kPartialMax };
  Kind kind = Kind::kBroadcast;
  int axis = 0;  ///< meaningful for kSplit only

  static Sbp Split(int axis) { return Sbp{Kind::kSplit, axis}; }
  static Sbp Broadcast() { return Sbp{Kind::kBroadcast, 0}; }
  static Sbp PartialSum() { return Sbp{Kind::kPartialSum, 0}; }
  static Sbp PartialMax() { return Sbp{Kind::kPartialMax, 0}; }

  bool IsSplit() const { return kind == Kind::kSplit; }
  bool IsBroadcast() const { return kind == Kind::kBroadcast; }
  bool IsPartial() const { return kind == Kind::kPartialSum || kind == Kind::kPartialMax; }
  /// "S(1)", "B", "P", "P(max)".
  std::string ToString() const;
  bool operator==(const Sbp& other) const {
    return kind == other.kind && (kind != Kind::kSplit || axis == other.axis);
  }
  bool operator!=(const Sbp& other) const { return !(*this == other); }
  bool operator<(const Sbp& other) const;
};

/// Parses "S(0)", "B", "P", "P(sum)", "P(max)".
StatusOr<Sbp> ParseSbp(const std::string& text);

/// One Sbp per mesh dimension.
using NdSbp = std::vector<Sbp>;
/// "(S(0), B)"; a 1-D NdSbp prints as its single Sbp.
std::string NdSbpToString(const NdSbp& nd_sbp);
/// Parses "S(0)" or "(S(0), B)".
StatusOr<NdSbp> ParseNdSbp(const std::string& text);

}  // namespace ofl

// Pieces shared by layer_norm and rms_norm: the [rows, cols] view of a
// tensor normalised over its trailing axes, shape checks, and the grain of
// the row loops.
#pragma once

#include <algorithm>
#include <string>

#include "ops/common/infer_helpers.h"

namespace ofl {

/// A tensor normalised over axes [begin, rank) seen as [rows, cols]:
/// rows = product of the leading extents, cols = product of the trailing.
struct NormRows {
  int64_t rows = 1;
  int64_t cols = 1;

  static NormRows Of(const Shape& shape, int begin) {
    NormRows view;
    for (int k = 0; k < begin; ++k) view.rows *= shape[k];
    for (int k = begin; k < shape.rank(); ++k) view.cols *= shape[k];
    return view;
  }
  /// Rows per parallel chunk: about 16K elements of work.
  int64_t grain() const { return std::max<int64_t>(1, (int64_t{1} << 14) / std::max<int64_t>(1, cols)); }
};

/// Axes [begin, end) of `shape`.
inline Shape SubShape(const Shape& shape, int begin, int end) {
  return Shape(std::vector<int64_t>(shape.dims().begin() + begin, shape.dims().begin() + end));
}

/// Input `i` has shape `expected`; `what` says where that shape comes from
/// ("x.shape[1:]"). Message: "[op] gamma: expected shape [6] (x.shape[1:]), got [5]".
inline Status ExpectShape(const OpView& op, int i, const Shape& expected, const std::string& what) {
  OFL_CHECK_OR_RETURN(op.in(i).shape == expected) << op.Who(i) << ": expected shape " << expected.ToString()
                                                  << " (" << what << "), got " << op.in(i).shape.ToString();
  return Status::Ok();
}

/// "x.shape[1:]" or "x.shape[:1]" for messages.
inline std::string SliceText(const std::string& name, int begin, bool trailing) {
  return name + ".shape[" + (trailing ? std::to_string(begin) + ":" : ":" + std::to_string(begin)) + "]";
}

}  // namespace ofl

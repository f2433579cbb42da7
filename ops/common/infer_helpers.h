// Checks shared by op inference. Every message has the form
//   "[op] argument: expected ..., got ..."
#pragma once

#include <string>
#include <vector>

#include "ops/op_schema.h"

namespace ofl {

/// Input `i` has rank `rank`.
Status ExpectRank(const OpView& op, int i, int rank);
/// Input `i` has rank >= `rank`.
Status ExpectMinRank(const OpView& op, int i, int rank);
/// Input `i` has dtype `dtype`.
Status ExpectDType(const OpView& op, int i, DType dtype);
/// Input `i` is a floating-point tensor.
Status ExpectFloating(const OpView& op, int i);
/// Input `i` has an integer dtype (i32 or i64, for indices and labels).
Status ExpectIndexType(const OpView& op, int i);
/// Inputs `i` and `j` have the same dtype.
Status ExpectSameDType(const OpView& op, int i, int j);
/// Inputs `i` and `j` have the same shape.
Status ExpectSameShape(const OpView& op, int i, int j);
/// All inputs have the dtype of input 0.
Status ExpectAllSameDType(const OpView& op);

/// The numpy broadcast of the shapes of inputs `i` and `j`.
StatusOr<Shape> BroadcastShapes(const OpView& op, int i, int j);
/// Normalised, sorted, distinct axes from attribute `name` (empty = all).
StatusOr<std::vector<int>> ReductionAxes(const OpView& op, const std::string& name, int rank);

}  // namespace ofl

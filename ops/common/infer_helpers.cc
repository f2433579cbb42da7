#include "ops/common/infer_helpers.h"

#include <algorithm>

namespace ofl {

Status ExpectRank(const OpView& op, int i, int rank) {
  OFL_CHECK_OR_RETURN(op.in(i).shape.rank() == rank)
      << op.Who(i) << ": expected rank " << rank << ", got rank " << op.in(i).shape.rank() << " (shape "
      << op.in(i).shape.ToString() << ")";
  return Status::Ok();
}

Status ExpectMinRank(const OpView& op, int i, int rank) {
  OFL_CHECK_OR_RETURN(op.in(i).shape.rank() >= rank)
      << op.Who(i) << ": expected rank >= " << rank << ", got rank " << op.in(i).shape.rank() << " (shape "
      << op.in(i).shape.ToString() << ")";
  return Status::Ok();
}

Status ExpectDType(const OpView& op, int i, DType dtype) {
  OFL_CHECK_OR_RETURN(op.in(i).dtype == dtype)
      << op.Who(i) << ": expected dtype " << DTypeName(dtype) << ", got " << DTypeName(op.in(i).dtype);
  return Status::Ok();
}

Status ExpectFloating(const OpView& op, int i) {
  OFL_CHECK_OR_RETURN(IsFloatingPoint(op.in(i).dtype))
      << op.Who(i) << ": expected a floating-point dtype (f32, f64, f16, bf16), got "
      << DTypeName(op.in(i).dtype);
  return Status::Ok();
}

Status ExpectIndexType(const OpView& op, int i) {
  const DType dtype = op.in(i).dtype;
  OFL_CHECK_OR_RETURN(dtype == DType::kI32 || dtype == DType::kI64)
      << op.Who(i) << ": expected dtype i32 or i64, got " << DTypeName(dtype);
  return Status::Ok();
}

Status ExpectSameDType(const OpView& op, int i, int j) {
  OFL_CHECK_OR_RETURN(op.in(i).dtype == op.in(j).dtype)
      << op.Who(j) << ": expected dtype " << DTypeName(op.in(i).dtype) << " (the dtype of "
      << op.input_names[i] << "), got " << DTypeName(op.in(j).dtype);
  return Status::Ok();
}

Status ExpectSameShape(const OpView& op, int i, int j) {
  OFL_CHECK_OR_RETURN(op.in(i).shape == op.in(j).shape)
      << op.Who(j) << ": expected shape " << op.in(i).shape.ToString() << " (the shape of "
      << op.input_names[i] << "), got " << op.in(j).shape.ToString();
  return Status::Ok();
}

Status ExpectAllSameDType(const OpView& op) {
  for (int i = 1; i < op.num_inputs(); ++i) OFL_RETURN_IF_ERROR(ExpectSameDType(op, 0, i));
  return Status::Ok();
}

StatusOr<Shape> BroadcastShapes(const OpView& op, int i, int j) {
  const Shape& a = op.in(i).shape;
  const Shape& b = op.in(j).shape;
  const int rank = std::max(a.rank(), b.rank());
  std::vector<int64_t> dims(rank);
  for (int k = 0; k < rank; ++k) {
    const int ak = k - (rank - a.rank());
    const int bk = k - (rank - b.rank());
    const int64_t da = ak >= 0 ? a[ak] : 1;
    const int64_t db = bk >= 0 ? b[bk] : 1;
    OFL_CHECK_OR_RETURN(da == db || da == 1 || db == 1)
        << op.Who(j) << ": expected a shape broadcastable with " << a.ToString() << " (the shape of "
        << op.input_names[i] << "), got " << b.ToString() << " (axis " << k << ": " << da << " vs " << db
        << ")";
    dims[k] = da == 1 ? db : da;
  }
  return Shape(std::move(dims));
}

StatusOr<std::vector<int>> ReductionAxes(const OpView& op, const std::string& name, int rank) {
  std::vector<int> axes;
  const std::vector<int64_t>& given = op.attrs.GetInts(name);
  if (given.empty()) {
    for (int k = 0; k < rank; ++k) axes.push_back(k);
    return axes;
  }
  for (int64_t axis : given) {
    OFL_ASSIGN_OR_RETURN(int normalized, NormalizeAxis(op.Who() + " attribute " + name, axis, rank));
    OFL_CHECK_OR_RETURN(std::find(axes.begin(), axes.end(), normalized) == axes.end())
        << op.Who() << " attribute " << name << ": expected distinct axes, got axis " << axis << " twice";
    axes.push_back(normalized);
  }
  std::sort(axes.begin(), axes.end());
  return axes;
}

}  // namespace ofl

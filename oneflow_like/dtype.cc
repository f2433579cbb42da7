#include "oneflow_like/dtype.h"

namespace ofl {

size_t SizeOf(DType dtype) {
  return VisitDType(dtype, [](auto tag) { return sizeof(tag); });
}

std::string DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "f32";
    case DType::kF64: return "f64";
    case DType::kF16: return "f16";
    case DType::kBF16: return "bf16";
    case DType::kI8: return "i8";
    case DType::kU8: return "u8";
    case DType::kI32: return "i32";
    case DType::kI64: return "i64";
    case DType::kBool: return "bool";
  }
  return "unknown";
}

StatusOr<DType> ParseDType(const std::string& name) {
  for (DType dtype : kAllDTypes) {
    if (DTypeName(dtype) == name) return dtype;
  }
  return ErrorBuilder() << "[dtype] expected one of f32, f64, f16, bf16, i8, u8, i32, i64, bool, got '"
                        << name << "'";
}

bool IsFloatingPoint(DType dtype) {
  return dtype == DType::kF32 || dtype == DType::kF64 || dtype == DType::kF16 ||
         dtype == DType::kBF16;
}

bool IsInteger(DType dtype) {
  return dtype == DType::kI8 || dtype == DType::kU8 || dtype == DType::kI32 ||
         dtype == DType::kI64;
}

}  // namespace ofl

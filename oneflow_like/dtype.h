// Element types of tensors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "oneflow_like/half.h"
#include "oneflow_like/status.h"

namespace ofl {

/// The element type of a tensor.
enum class DType : int8_t { kF32, kF64, kF16, kBF16, kI8, kU8, kI32, kI64, kBool };

/// Every dtype, in enum order (for tables and tests).
inline constexpr DType kAllDTypes[] = {DType::kF32, DType::kF64, DType::kF16,
                                       DType::kBF16, DType::kI8,  DType::kU8,
                                       DType::kI32, DType::kI64, DType::kBool};

/// Bytes per element.
size_t SizeOf(DType dtype);
/// Short name as users write it: "f32", "bf16", "i64", "bool".
std::string DTypeName(DType dtype);
/// Parses a short name; error names the unknown text.
StatusOr<DType> ParseDType(const std::string& name);
bool IsFloatingPoint(DType dtype);
bool IsInteger(DType dtype);

/// Maps a C++ type to its DType: DTypeOf<float>() == DType::kF32.
template <typename T>
constexpr DType DTypeOf();
template <> constexpr DType DTypeOf<float>() { return DType::kF32; }
template <> constexpr DType DTypeOf<double>() { return DType::kF64; }
template <> constexpr DType DTypeOf<Float16>() { return DType::kF16; }
template <> constexpr DType DTypeOf<BFloat16>() { return DType::kBF16; }
template <> constexpr DType DTypeOf<int8_t>() { return DType::kI8; }
template <> constexpr DType DTypeOf<uint8_t>() { return DType::kU8; }
template <> constexpr DType DTypeOf<int32_t>() { return DType::kI32; }
template <> constexpr DType DTypeOf<int64_t>() { return DType::kI64; }
template <> constexpr DType DTypeOf<bool>() { return DType::kBool; }

/// Calls `fn(T{})` with the C++ type of `dtype` (a value tag, never read).
template <typename Fn>
decltype(auto) VisitDType(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kF32: return fn(float{});
    case DType::kF64: return fn(double{});
    case DType::kF16: return fn(Float16{});
    case DType::kBF16: return fn(BFloat16{});
    case DType::kI8: return fn(int8_t{});
    case DType::kU8: return fn(uint8_t{});
    case DType::kI32: return fn(int32_t{});
    case DType::kI64: return fn(int64_t{});
    case DType::kBool: return fn(bool{});
  }
  return fn(float{});
}

/// A list of C++ element types, for restricting dispatch.
template <typename... Ts>
struct TypeList {};
using FloatTypes = TypeList<float, double, Float16, BFloat16>;
using NumericTypes = TypeList<float, double, Float16, BFloat16, int32_t, int64_t>;
using IndexTypes = TypeList<int32_t, int64_t>;
using AllTypes = TypeList<float, double, Float16, BFloat16, int8_t, uint8_t, int32_t, int64_t, bool>;

/// Calls `fn(T{})` for the T in `Ts` whose DType is `dtype`; returns false
/// (calling nothing) when `dtype` is not in the list. Only the listed types
/// are instantiated.
template <typename... Ts, typename Fn>
bool VisitDTypeIn(TypeList<Ts...>, DType dtype, Fn&& fn) {
  return ((DTypeOf<Ts>() == dtype ? (fn(Ts{}), true) : false) || ...);
}

/// The DTypes of a TypeList.
template <typename... Ts>
std::vector<DType> DTypesOf(TypeList<Ts...>) {
  return {DTypeOf<Ts>()...};
}

}  // namespace ofl

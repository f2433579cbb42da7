// Small helpers for CPU kernels.
#pragma once

#include <string>

#include "oneflow_like/kernel.h"

namespace ofl {

/// The error a kernel returns for a dtype it was not written for.
inline Status UnsupportedDType(const KernelContext& ctx, DType dtype) {
  return ErrorBuilder() << "[" << ctx.op_name << "] cpu kernel: expected a supported dtype, got "
                        << DTypeName(dtype);
}

/// Dispatches `fn(T{})` over the types of `list` for `dtype`, or returns
/// UnsupportedDType. `fn` returns void.
template <typename List, typename Fn>
Status DispatchOr(const KernelContext& ctx, List list, DType dtype, Fn&& fn) {
  if (VisitDTypeIn(list, dtype, fn)) return Status::Ok();
  return UnsupportedDType(ctx, dtype);
}

/// Converts a stored element to its compute type and back.
template <typename C, typename T>
inline C ToCompute(T value) { return static_cast<C>(value); }
template <typename T, typename C>
inline T FromCompute(C value) {
  if constexpr (std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>) {
    return T(static_cast<float>(value));
  } else {
    return static_cast<T>(value);
  }
}

}  // namespace ofl

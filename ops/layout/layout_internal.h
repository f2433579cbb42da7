// Pieces shared by the files of the layout family (internal to ops/layout/).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "oneflow_like/kernel.h"
#include "ops/common/kernel_helpers.h"
#include "ops/op_schema.h"

namespace ofl {

/// reshape and identity (reshape_ops.cc).
Status RegisterReshapeOps(OpRegistry& ops, KernelRegistry& kernels);
/// transpose (transpose_ops.cc).
Status RegisterTransposeOp(OpRegistry& ops, KernelRegistry& kernels);
/// slice and slice_grad (slice_ops.cc).
Status RegisterSliceOps(OpRegistry& ops, KernelRegistry& kernels);
/// concat and split (concat_split_ops.cc).
Status RegisterConcatSplitOps(OpRegistry& ops, KernelRegistry& kernels);
/// broadcast_to (broadcast_to_op.cc).
Status RegisterBroadcastToOp(OpRegistry& ops, KernelRegistry& kernels);
/// cast (cast_op.cc).
Status RegisterCastOp(OpRegistry& ops, KernelRegistry& kernels);
/// add_n (add_n_op.cc).
Status RegisterAddNOp(OpRegistry& ops, KernelRegistry& kernels);

/// Every dtype: ops that only move elements have one kernel for all of them.
inline std::vector<DType> AllDTypes() { return DTypesOf(AllTypes{}); }

/// Calls fn(U{}) with the unsigned integer type of `dtype`'s element size:
/// ops that only move elements copy bits, whatever the dtype.
template <typename Fn>
Status DispatchByElementSize(const KernelContext& ctx, DType dtype, Fn&& fn) {
  switch (SizeOf(dtype)) {
    case 1:
      fn(uint8_t{});
      return Status::Ok();
    case 2:
      fn(uint16_t{});
      return Status::Ok();
    case 4:
      fn(uint32_t{});
      return Status::Ok();
    case 8:
      fn(uint64_t{});
      return Status::Ok();
    default:
      return UnsupportedDType(ctx, dtype);
  }
}

/// Adds P -> P (every input and output Partial-sum) and, with `with_max`,
/// P(max) -> P(max), for ops that are linear (resp. only move elements).
/// Bool tensors get neither: a sum of booleans is not a boolean.
void AddPartialSignatures(std::vector<SbpSignature>& list, int num_inputs, int num_outputs, DType dtype,
                          bool with_max);

/// Signatures of an op whose inputs and outputs all have the same axes
/// (identity, cast, add_n): B, and S(k) for every axis of `rank`; the
/// Partial ones are added by the caller.
std::vector<SbpSignature> SameAxesSignatures(int num_inputs, int num_outputs, int rank);

/// memcpy of `bytes`, in parallel chunks when large.
void CopyBytes(void* dst, const void* src, size_t bytes);

/// Row-major strides (in elements) of `dims`.
std::vector<int64_t> StridesOf(const std::vector<int64_t>& dims);

}  // namespace ofl

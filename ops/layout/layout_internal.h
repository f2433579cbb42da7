// Pieces shared by the files of the layout family (internal to ops/layout/).
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
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
/// ops that only move elements copy bits, whatever the dtype. Returns fn's
/// Status when it returns one (CUDA launches), Ok after a void fn.
template <typename Fn>
Status DispatchByElementSize(const KernelContext& ctx, DType dtype, Fn&& fn) {
  auto call = [&fn](auto tag) -> Status {
    if constexpr (std::is_void_v<decltype(fn(tag))>) {
      fn(tag);
      return Status::Ok();
    } else {
      return fn(tag);
    }
  };
  switch (SizeOf(dtype)) {
    case 1:
      return call(uint8_t{});
    case 2:
      return call(uint16_t{});
    case 4:
      return call(uint32_t{});
    case 8:
      return call(uint64_t{});
    default:
      return UnsupportedDType(ctx, dtype);
  }
}

/// The resolved slice of one axis: elements first, first + step, ... (count of them).
struct AxisSlice {
  int64_t first = 0;
  int64_t step = 1;
  int64_t count = 0;
  bool whole = false;  ///< start 0, stop at the end, step 1: the axis is untouched
};

/// Resolves the start/stop/step attributes of slice and slice_grad against
/// `shape` (Python rules: negative indices count from the end, out-of-range
/// ones are clamped; steps > 0); errors name `who` (slice_ops.cc).
StatusOr<std::vector<AxisSlice>> ResolveSlice(const std::string& who, const Shape& shape,
                                              const AttrMap& attrs);

/// The slices of ctx's attributes over `logical_full`, as seen by a piece
/// of the full tensor and the matching piece of the sliced one: untouched
/// axes may be split, and there both pieces are the same range. Fails,
/// naming the op and `backend` ("cpu", "cuda"), for other pieces.
StatusOr<std::vector<AxisSlice>> PieceSlices(const KernelContext& ctx, const std::string& backend,
                                             const Shape& logical_full, const Shape& full_piece,
                                             const Shape& part_piece);

/// The normalised `axis` attribute of concat and split, checking that every
/// piece of `parts` has `whole`'s dtype and extents except along it, where
/// they add up to whole's; errors name the op and `backend`
/// (concat_split_ops.cc).
StatusOr<int> JoinAxis(const KernelContext& ctx, const std::string& backend, const Blob& whole,
                       const std::vector<const Blob*>& parts);

/// The normalised `perm` attribute of transpose, checking that it is a
/// permutation and that y's piece is x's piece permuted (same dtype); errors
/// name the op and `backend` (transpose_ops.cc).
StatusOr<std::vector<int>> PiecePerm(const KernelContext& ctx, const std::string& backend);

/// A transpose reduced to its essentials: x has extents `dims`; y axis k is
/// x axis perm[k].
struct TransposePlan {
  std::vector<int64_t> dims;
  std::vector<int> perm;
};

/// Drops the extent-1 axes of `shape` and merges runs of y axes that are
/// consecutive x axes, so [N, C, H, W] with perm [0, 2, 3, 1] becomes
/// [N, C, H*W] -> [N, H*W, C] (transpose_ops.cc). `perm` is normalised.
TransposePlan SimplifyTranspose(const Shape& shape, const std::vector<int>& perm);

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

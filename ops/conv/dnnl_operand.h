// A tensor the caller holds in a plain (NCHW / OIHW) buffer, as one oneDNN
// primitive wants to see it.
//
// oneDNN's fast convolutions read and write blocked layouts (channels in
// blocks of 16 innermost). When the primitive's layout differs from the
// caller's, the operand owns a blocked buffer, allocated once when it is
// bound, and the reorder between the two; binding again (a new shape) is the
// only time it allocates. Only .cc files include it (oneDNN is private to
// ofl_ops).
#pragma once

#include <dnnl.hpp>
#include <unordered_map>

namespace ofl {

/// One input or output of a oneDNN primitive, kept in the caller's plain buffer.
class DnnlOperand {
 public:
  /// Whether the primitive reads the operand (copied in) or writes it (copied out).
  enum class Role { kInput, kOutput };

  /// Binds the caller's layout `plain` to the primitive's layout `wanted`.
  void Bind(const dnnl::memory::desc& plain, const dnnl::memory::desc& wanted, Role role,
            const dnnl::engine& engine);

  /// The memory to pass the primitive; stays the same until the next Bind.
  const dnnl::memory& primitive_memory() const { return reordered_ ? blocked_ : plain_; }

  /// True when the primitive's layout differs from the caller's.
  bool reordered() const { return reordered_; }

  /// Points the operand at the caller's buffer for this call.
  void SetBuffer(void* data) { plain_.set_data_handle(data); }

  /// Input: reorders the caller's buffer into the primitive's (no-op when
  /// the layouts agree or the operand is an output).
  void BeforePrimitive(dnnl::stream& stream);

  /// Output: reorders the primitive's buffer into the caller's (no-op when
  /// the layouts agree or the operand is an input).
  void AfterPrimitive(dnnl::stream& stream);

 private:
  Role role_ = Role::kInput;
  bool reordered_ = false;
  dnnl::memory plain_;    ///< the caller's buffer (handle set per call)
  dnnl::memory blocked_;  ///< owned, in the primitive's layout; empty unless reordered_
  dnnl::reorder reorder_;
  std::unordered_map<int, dnnl::memory> reorder_arguments_;
};

}  // namespace ofl

#include "ops/attention/attention.h"

#include <cmath>

namespace ofl {

namespace {

// q [B, H, Tq, Dh], k and v [B, H, Tk, Dh] of q's dtype, Tq <= Tk.
Status CheckShapes(const TensorDesc& q, const TensorDesc& k, const TensorDesc& v) {
  const char* who = "[causal_self_attention] ";
  OFL_CHECK_OR_RETURN(q.shape.rank() == 4)
      << who << "q: expected rank 4 [B, H, Tq, Dh], got " << q.ToString();
  OFL_CHECK_OR_RETURN(k.shape.rank() == 4)
      << who << "k: expected rank 4 [B, H, Tk, Dh], got " << k.ToString();
  OFL_CHECK_OR_RETURN(v == k) << who << "v: expected the shape and dtype of k, " << k.ToString() << ", got "
                              << v.ToString();
  const Shape& qs = q.shape;
  const Shape& ks = k.shape;
  OFL_CHECK_OR_RETURN(k.dtype == q.dtype && ks[0] == qs[0] && ks[1] == qs[1] && ks[3] == qs[3])
      << who << "k: expected [" << qs[0] << ", " << qs[1] << ", Tk, " << qs[3] << "] of "
      << DTypeName(q.dtype) << " (B, H, Dh of q), got " << k.ToString();
  OFL_CHECK_OR_RETURN(ks[2] >= qs[2])
      << who << "k: expected at least Tq = " << qs[2] << " keys, got " << k.ToString();
  return Status::Ok();
}

}  // namespace

StatusOr<ValueRef> CausalSelfAttention(OpEmitter& emitter, ValueRef q, ValueRef k, ValueRef v) {
  const TensorDesc q_desc = emitter.Desc(q);
  OFL_RETURN_IF_ERROR(CheckShapes(q_desc, emitter.Desc(k), emitter.Desc(v)));
  const double scale = 1.0 / std::sqrt(static_cast<double>(q_desc.shape[3]));
  OFL_ASSIGN_OR_RETURN(ValueRef scores,
                       emitter.Emit1("batch_matmul", {q, k},
                                     {{"transpose_a", false}, {"transpose_b", true}, {"alpha", scale}}));
  OFL_ASSIGN_OR_RETURN(ValueRef probs, emitter.Emit1("causal_softmax", {scores}, {{"scale", 1.0}}));
  return emitter.Emit1("batch_matmul", {probs, v});
}

}  // namespace ofl

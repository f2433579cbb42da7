// The attributes shared by adam_update, adam_update_scaled and
// multi_tensor_adam_update (beta1, beta2, epsilon, weight_decay,
// decoupled_weight_decay): checked and read in one place for every schema
// and kernel, CPU and CUDA (host code only; the math is adam_math.h).
#pragma once

#include "oneflow_like/attr.h"
#include "oneflow_like/status.h"
#include "ops/op_schema.h"
#include "ops/optimizer/adam_math.h"

namespace ofl {

/// Inference check of the Adam attributes: beta1 and beta2 in [0, 1),
/// epsilon and weight_decay finite and >= 0 (update_ops.cc).
Status CheckAdamAttrs(const OpView& op);

/// The Adam attributes of a kernel's attribute map.
inline AdamHyperparameters AdamHyperparametersOf(const AttrMap& attrs) {
  AdamHyperparameters hyper;
  hyper.beta1 = attrs.GetFloat("beta1");
  hyper.beta2 = attrs.GetFloat("beta2");
  hyper.epsilon = attrs.GetFloat("epsilon");
  hyper.weight_decay = attrs.GetFloat("weight_decay");
  hyper.decoupled_weight_decay = attrs.GetBool("decoupled_weight_decay");
  return hyper;
}

}  // namespace ofl

// The Adam/AdamW update of one element, written once for host and device
// (OFL_HOST_DEVICE). It is the formula of adam_update's CPU kernel
// (ops/optimizer/update_ops.cc), operation for operation and in the same
// order, all in double: the CUDA kernels of adam_update and
// multi_tensor_adam_update call it, so both backends round the same way
// (up to the math library's pow). On the device every product and sum is
// rounded on its own (no FMA contraction, see RoundedMul); the host rounds
// the same way where the including file is built with -ffp-contract=off.
#pragma once

#include <cmath>
#include <cstdint>

#include "oneflow_like/macros.h"

namespace ofl {

/// a * b, a + b and a - b, each rounded to double: on the device the
/// intrinsics keep nvcc from fusing a product into a following sum (an FMA
/// rounds once), which would change the last bit against the CPU.
OFL_HOST_DEVICE OFL_INLINE double RoundedMul(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}
OFL_HOST_DEVICE OFL_INLINE double RoundedAdd(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}
OFL_HOST_DEVICE OFL_INLINE double RoundedSub(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dsub_rn(a, b);
#else
  return a - b;
#endif
}

/// The attributes of adam_update and multi_tensor_adam_update.
struct AdamHyperparameters {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;
  double weight_decay = 0.0;
  bool decoupled_weight_decay = false;  ///< true: AdamW
};

/// What one step shares across all elements: bias corrections and decay.
struct AdamStepCoefficients {
  double step_size;         ///< learning_rate / (1 - beta1^step)
  double sqrt_correction2;  ///< sqrt(1 - beta2^step)
  double shrink;            ///< AdamW: 1 - learning_rate weight_decay; Adam: 1
  double coupled_decay;     ///< Adam: weight_decay, added to the gradient; AdamW: 0
};

/// The coefficients of step `step` (1-based; callers reject step < 1: step 0
/// divides by zero) at `learning_rate`.
OFL_HOST_DEVICE OFL_INLINE AdamStepCoefficients AdamCoefficientsFor(const AdamHyperparameters& hyper,
                                                                    double learning_rate, int64_t step) {
  const double correction1 = RoundedSub(1.0, std::pow(hyper.beta1, static_cast<double>(step)));
  AdamStepCoefficients result;
  result.sqrt_correction2 = std::sqrt(RoundedSub(1.0, std::pow(hyper.beta2, static_cast<double>(step))));
  result.step_size = learning_rate / correction1;
  result.shrink =
      hyper.decoupled_weight_decay ? RoundedSub(1.0, RoundedMul(learning_rate, hyper.weight_decay)) : 1.0;
  result.coupled_decay = hyper.decoupled_weight_decay ? 0.0 : hyper.weight_decay;
  return result;
}

/// The new values of one element, before rounding to the storage type.
struct AdamElement {
  double param;
  double m;
  double v;
};

/// Updates one element from its stored values (converted to double).
OFL_HOST_DEVICE OFL_INLINE AdamElement AdamUpdateElement(const AdamHyperparameters& hyper,
                                                         const AdamStepCoefficients& coefficients,
                                                         double param, double grad, double m, double v) {
  const double g = RoundedAdd(grad, RoundedMul(coefficients.coupled_decay, param));
  const double first = RoundedAdd(RoundedMul(hyper.beta1, m), RoundedMul(RoundedSub(1, hyper.beta1), g));
  const double second =
      RoundedAdd(RoundedMul(hyper.beta2, v), RoundedMul(RoundedMul(RoundedSub(1, hyper.beta2), g), g));
  // The denominator uses the unrounded moments, as the CPU kernel does.
  const double denominator = RoundedAdd(std::sqrt(second) / coefficients.sqrt_correction2, hyper.epsilon);
  return AdamElement{RoundedSub(RoundedMul(param, coefficients.shrink),
                                RoundedMul(coefficients.step_size, first) / denominator),
                     first, second};
}

}  // namespace ofl

// Element-wise math, written once for host and device (DESIGN.md section 7).
// Each functor computes in ComputeType<T> (float for f16/bf16, T otherwise);
// backends only choose loops, layouts and launches.
#pragma once

#include <cmath>
#include <limits>
#include <type_traits>

#include "oneflow_like/half.h"
#include "oneflow_like/macros.h"

namespace ofl {

/// The type element-wise math runs in for storage type T.
template <typename T>
using ComputeType = std::conditional_t<std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>, float, T>;

namespace functors {

struct Add {
  template <typename T>
  OFL_HOST_DEVICE T operator()(T a, T b) const {
    return a + b;
  }
};
struct Sub {
  template <typename T>
  OFL_HOST_DEVICE T operator()(T a, T b) const {
    return a - b;
  }
};
struct Mul {
  template <typename T>
  OFL_HOST_DEVICE T operator()(T a, T b) const {
    return a * b;
  }
};
struct Div {
  template <typename T>
  OFL_HOST_DEVICE T operator()(T a, T b) const {
    return a / b;
  }
};
// maximum, minimum and relu propagate NaN whatever the operand order (as
// NumPy and PyTorch do): a NaN must surface, not be hidden by a comparison.
struct Maximum {
  template <typename T>
  OFL_HOST_DEVICE T operator()(T a, T b) const {
    return (a > b || a != a) ? a : b;
  }
};
struct Minimum {
  template <typename T>
  OFL_HOST_DEVICE T operator()(T a, T b) const {
    return (a < b || a != a) ? a : b;
  }
};
struct Pow {
  template <typename T>
  OFL_HOST_DEVICE T operator()(T a, T b) const {
    return static_cast<T>(std::pow(static_cast<double>(a), static_cast<double>(b)));
  }
  OFL_HOST_DEVICE float operator()(float a, float b) const { return std::pow(a, b); }
};

struct Neg {
  template <typename T>
  OFL_HOST_DEVICE T operator()(T x) const {
    return -x;
  }
};
struct Abs {
  template <typename T>
  OFL_HOST_DEVICE T operator()(T x) const {
    return x < T(0) ? -x : x;
  }
};
struct Sign {
  template <typename T>
  OFL_HOST_DEVICE T operator()(T x) const {
    return T((x > T(0)) - (x < T(0)));
  }
};
struct Exp {
  template <typename T>
  OFL_HOST_DEVICE T operator()(T x) const {
    return std::exp(x);
  }
};
struct Log {
  template <typename T>
  OFL_HOST_DEVICE T operator()(T x) const {
    return std::log(x);
  }
};
struct Sqrt {
  template <typename T>
  OFL_HOST_DEVICE T operator()(T x) const {
    return std::sqrt(x);
  }
};
struct Rsqrt {
  template <typename T>
  OFL_HOST_DEVICE T operator()(T x) const {
    return T(1) / std::sqrt(x);
  }
};
struct Tanh {
  template <typename T>
  OFL_HOST_DEVICE T operator()(T x) const {
    return std::tanh(x);
  }
};
struct Sigmoid {
  template <typename T>
  OFL_HOST_DEVICE T operator()(T x) const {
    return T(1) / (T(1) + std::exp(-x));
  }
};
struct Relu {
  template <typename T>
  OFL_HOST_DEVICE T operator()(T x) const {
    return (x > T(0) || x != x) ? x : T(0);
  }
};
struct Silu {
  template <typename T>
  OFL_HOST_DEVICE T operator()(T x) const {
    return x / (T(1) + std::exp(-x));
  }
};

/// GELU, exact (erf) form: x * Phi(x).
struct GeluErf {
  template <typename T>
  OFL_HOST_DEVICE T operator()(T x) const {
    return T(0.5) * x * (T(1) + std::erf(x * T(0.70710678118654752440)));
  }
};
/// GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
struct GeluTanh {
  template <typename T>
  OFL_HOST_DEVICE T operator()(T x) const {
    const T inner = T(0.79788456080286535588) * (x + T(0.044715) * x * x * x);
    return T(0.5) * x * (T(1) + std::tanh(inner));
  }
};

// Backward functors take (saved, dy) and return dx.
/// relu'(x) dy from the output y = relu(x).
struct ReluGrad {
  template <typename T>
  OFL_HOST_DEVICE T operator()(T y, T dy) const {
    return y > T(0) ? dy : T(0);
  }
};
/// tanh'(x) dy = (1 - y^2) dy from y = tanh(x).
struct TanhGrad {
  template <typename T>
  OFL_HOST_DEVICE T operator()(T y, T dy) const {
    return (T(1) - y * y) * dy;
  }
};
/// sigmoid'(x) dy = y (1 - y) dy from y = sigmoid(x).
struct SigmoidGrad {
  template <typename T>
  OFL_HOST_DEVICE T operator()(T y, T dy) const {
    return y * (T(1) - y) * dy;
  }
};
/// silu'(x) dy from x: s (1 + x (1 - s)) dy with s = sigmoid(x).
struct SiluGrad {
  template <typename T>
  OFL_HOST_DEVICE T operator()(T x, T dy) const {
    const T s = T(1) / (T(1) + std::exp(-x));
    return s * (T(1) + x * (T(1) - s)) * dy;
  }
};
struct GeluErfGrad {
  template <typename T>
  OFL_HOST_DEVICE T operator()(T x, T dy) const {
    const T cdf = T(0.5) * (T(1) + std::erf(x * T(0.70710678118654752440)));
    const T pdf = std::exp(T(-0.5) * x * x) * T(0.39894228040143267794);
    return (cdf + x * pdf) * dy;
  }
};
struct GeluTanhGrad {
  template <typename T>
  OFL_HOST_DEVICE T operator()(T x, T dy) const {
    const T k = T(0.79788456080286535588);
    const T inner = k * (x + T(0.044715) * x * x * x);
    const T t = std::tanh(inner);
    const T d_inner = k * (T(1) + T(3) * T(0.044715) * x * x);
    return (T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * d_inner) * dy;
  }
};

// Pair gradients (a, b, y, dy) -> (da, db), in the compute type; y is read
// only by rules that need the forward output.
/// maximum_grad / minimum_grad: dy to the operand that won, split evenly on
/// a tie (integers: dy / 2 truncated), so the gradient is symmetric.
template <bool kMax>
struct SelectGrad {
  template <typename T>
  OFL_HOST_DEVICE void operator()(T a, T b, T, T g, T& da, T& db) const {
    const bool a_wins = kMax ? a > b : a < b;
    const bool tie = a == b;
    da = tie ? g / T(2) : (a_wins ? g : T(0));
    db = tie ? g / T(2) : (a_wins ? T(0) : g);
  }
};
/// pow_grad: da = dy b a^(b-1) and db = dy y log(a), with the limits PyTorch
/// uses where the formulas give 0 * inf: da = 0 where b = 0, db = 0 where
/// a = 0 and b >= 0.
struct PowGrad {
  template <typename T>
  OFL_HOST_DEVICE void operator()(T a, T b, T y, T g, T& da, T& db) const {
    da = b == T(0) ? T(0) : g * b * Pow{}(a, b - T(1));
    db = (a == T(0) && b >= T(0)) ? T(0) : g * y * Log{}(a);
  }
};

/// The element rule of the cast op between compute types (ComputeType of
/// both dtypes: 16-bit floats go through float, converted by the caller):
/// bool is `value != 0` (NaN too), float -> integer maps NaN to 0, saturates
/// at the target's range and truncates toward zero (a plain C++ conversion
/// of an out-of-range float is undefined behaviour), integer -> narrower
/// integer wraps modulo 2^bits, as in C++ and NumPy.
template <typename To, typename From>
OFL_HOST_DEVICE To CastValue(From value) {
  if constexpr (std::is_same_v<To, bool>) {
    return value != From(0);
  } else if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To>) {
    if (value != value) return To(0);
    if (value <= static_cast<From>(std::numeric_limits<To>::min())) return std::numeric_limits<To>::min();
    // max() may not be exactly representable in From (int64 in float): compare with >=.
    if (value >= static_cast<From>(std::numeric_limits<To>::max())) return std::numeric_limits<To>::max();
    return static_cast<To>(value);
  } else {
    return static_cast<To>(value);
  }
}

}  // namespace functors
}  // namespace ofl

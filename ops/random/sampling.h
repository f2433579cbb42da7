// What the CPU and CUDA kernels of random_uniform and random_normal share
// (initializer_ops.cc, random_cuda.cu): the value drawn for a logical
// element and the bound that keeps a rounded uniform below `high`. Host and
// device code (nvcc C++17, g++ C++20).
//
// Bit-exactness between the backends: UniformSample is low + (high - low) u
// with u exact; under the project's flags both g++ (-march=x86-64-v3,
// contraction on) and nvcc (--fmad default) fuse it into one FMA, so the
// two agree bit for bit. NormalSample also goes through log, sqrt, sin and
// cos, whose last bit may differ between the host libm and the device.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "oneflow_like/macros.h"
#include "ops/random/philox.h"

namespace ofl {

/// Uniform in [low, high) for logical element `index` (before rounding to
/// the output dtype).
struct UniformSample {
  uint64_t seed;
  double low;
  double high;
  OFL_HOST_DEVICE OFL_INLINE double operator()(uint64_t index) const {
    return low + (high - low) * philox::UniformAt(seed, index);
  }
};

/// Normal with `mean` and `std_dev` for logical element `index`.
struct NormalSample {
  uint64_t seed;
  double mean;
  double std_dev;
  OFL_HOST_DEVICE OFL_INLINE double operator()(uint64_t index) const {
    return mean + std_dev * philox::NormalAt(seed, index);
  }
};

/// The largest value of host element type T strictly below finite `value`
/// (float, double, or ofl::Float16 / ofl::BFloat16 through their bits). A
/// uniform rounded up onto the exclusive bound becomes this value. Host only:
/// the kernels receive its result.
template <typename T>
T NextBelow(T value) {
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    return std::nextafter(value, -std::numeric_limits<T>::infinity());
  } else {
    // f16/bf16 are sign-magnitude: a smaller value has a smaller magnitude
    // when positive and a larger one when negative; below +0 lies the
    // smallest negative subnormal.
    T result = value;
    if (value.bits & 0x8000u) {
      ++result.bits;
    } else if ((value.bits & 0x7fffu) == 0) {
      result.bits = 0x8001u;
    } else {
      --result.bits;
    }
    return result;
  }
}

}  // namespace ofl

// Row arithmetic written so that GCC auto-vectorises it: an exp without a
// libm call, and sums and maxima kept in many independent lanes.
//
// Why lanes: a plain `sum += v` loop is one dependency chain, so the
// compiler may not reorder it (float addition is not associative) and it
// runs at one add per add-latency. Adding into kReductionLanes partial sums
// is a loop the compiler may vectorise as it stands (several vector
// accumulators), and it is at least as accurate as the single chain.
//
// Host code is compiled with -fno-trapping-math (top-level CMakeLists.txt):
// with GCC's default -ftrapping-math it will not turn
// FastExp's clamp or the lane maxima below into vector selects, and the
// loops stay scalar. No kernel reads floating-point exception flags, so
// nothing else changes.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace ofl {

/// Independent partial results per reduction: four AVX2 vectors of floats,
/// enough to hide the add latency.
inline constexpr int64_t kReductionLanes = 32;

/// e^x in float to about 1 ulp (measured over every float in [-87, 88]):
/// range reduction x = n ln2 + r with |r| <= ln2 / 2, a degree-6 polynomial
/// for e^r (Cephes expf), and 2^n put together from bits. Inputs below -88
/// give exactly 0 (so a masked -inf scores 0) and NaN gives NaN. Inputs
/// must not exceed 88: every caller passes x - max <= 0 or a log-probability,
/// and leaving out the upper clamp makes the loops 30% faster (GCC turns
/// two clamps into a chain of blends). Branch-free, so a loop calling it
/// vectorises.
inline float FastExp(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2High = 0.693359375f;  // ln 2 split so n * kLn2High is exact
  constexpr float kLn2Low = -2.12194440e-4f;
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float clamped = x < -88.0f ? -88.0f : x;
  // n = round(x / ln2), read back both as a float and from the mantissa bits.
  const float shifted = clamped * kLog2e + kRound;
  const float n = shifted - kRound;
  const int32_t exponent = std::bit_cast<int32_t>(shifted) - std::bit_cast<int32_t>(kRound);
  float r = std::fma(n, -kLn2High, clamped);
  r = std::fma(n, -kLn2Low, r);
  float p = 1.9875691500e-4f;
  p = std::fma(p, r, 1.3981999507e-3f);
  p = std::fma(p, r, 8.3334519073e-3f);
  p = std::fma(p, r, 4.1665795894e-2f);
  p = std::fma(p, r, 1.6666665459e-1f);
  p = std::fma(p, r, 5.0000001201e-1f);
  const float e_r = std::fma(p * r, r, r) + 1.0f;
  // n = -127 (x <= -88) makes the exponent field 0: the scale is exactly 0.
  return e_r * std::bit_cast<float>((exponent + 127) << 23);
}

/// e^x in the compute type: FastExp for float, std::exp otherwise (f64
/// runs the gradient checks, which want the exact function).
template <typename C>
inline C ExpOf(C x) {
  if constexpr (std::is_same_v<C, float>) {
    return FastExp(x);
  } else {
    return std::exp(x);
  }
}

/// sum of term(j) for j in [0, n), accumulated in kReductionLanes lanes.
template <typename C, typename Term>
inline C SumOf(int64_t n, Term&& term) {
  C lanes[kReductionLanes] = {};
  int64_t j = 0;
  for (; j + kReductionLanes <= n; j += kReductionLanes) {
    for (int64_t l = 0; l < kReductionLanes; ++l) lanes[l] += term(j + l);
  }
  C tail = 0;
  for (; j < n; ++j) tail += term(j);
  // Pairwise fold of the lanes (also vectorises).
  for (int64_t width = kReductionLanes / 2; width > 0; width /= 2) {
    for (int64_t l = 0; l < width; ++l) lanes[l] += lanes[l + width];
  }
  return lanes[0] + tail;
}

/// max of term(j) for j in [0, n) (-inf when n == 0), in kReductionLanes lanes.
template <typename C, typename Term>
inline C MaxOf(int64_t n, Term&& term) {
  C lanes[kReductionLanes];
  for (int64_t l = 0; l < kReductionLanes; ++l) lanes[l] = -std::numeric_limits<C>::infinity();
  int64_t j = 0;
  for (; j + kReductionLanes <= n; j += kReductionLanes) {
    for (int64_t l = 0; l < kReductionLanes; ++l) {
      const C value = term(j + l);
      lanes[l] = lanes[l] < value ? value : lanes[l];
    }
  }
  C result = -std::numeric_limits<C>::infinity();
  for (; j < n; ++j) {
    const C value = term(j);
    result = result < value ? value : result;
  }
  for (int64_t l = 0; l < kReductionLanes; ++l) result = result < lanes[l] ? lanes[l] : result;
  return result;
}

}  // namespace ofl

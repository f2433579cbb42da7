// 16-bit floating-point storage types for the host: IEEE half (f16) and
// bfloat16. Arithmetic happens in float; these types only store and convert.
// Conversion rounds to nearest even, keeps NaN a NaN and saturates to inf.
#pragma once

#include <cstdint>
#include <cstring>

namespace ofl {

/// IEEE 754 binary16 stored in 16 bits.
struct Float16 {
  uint16_t bits = 0;
  Float16() = default;
  explicit Float16(float value) : bits(FromFloat(value)) {}
  operator float() const { return ToFloat(bits); }  // NOLINT: numeric type

  static uint16_t FromFloat(float value) {
    uint32_t x;
    std::memcpy(&x, &value, 4);
    const uint32_t sign = (x >> 16) & 0x8000u;
    const uint32_t abs = x & 0x7fffffffu;
    if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN
    if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
    if (abs < 0x38800000u) {  // subnormal or zero in half
      if (abs < 0x33000000u) return static_cast<uint16_t>(sign);
      const uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;
      const int shift = 126 - static_cast<int>(abs >> 23);  // 14..24
      uint32_t half = mantissa >> shift;
      const uint32_t remainder = mantissa & ((1u << shift) - 1);
      const uint32_t halfway = 1u << (shift - 1);
      if (remainder > halfway || (remainder == halfway && (half & 1u))) ++half;
      return static_cast<uint16_t>(sign | half);
    }
    uint32_t half = ((abs - 0x38000000u) >> 13);
    const uint32_t remainder = abs & 0x1fffu;
    if (remainder > 0x1000u || (remainder == 0x1000u && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }

  static float ToFloat(uint16_t h) {
    const uint32_t sign = (static_cast<uint32_t>(h) & 0x8000u) << 16;
    const uint32_t exponent = (h >> 10) & 0x1fu;
    uint32_t mantissa = h & 0x3ffu;
    uint32_t x;
    if (exponent == 0) {
      if (mantissa == 0) {
        x = sign;
      } else {  // subnormal: normalise
        int e = -1;
        do {
          ++e;
          mantissa <<= 1;
        } while ((mantissa & 0x400u) == 0);
        x = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((mantissa & 0x3ffu) << 13);
      }
    } else if (exponent == 31) {
      x = sign | 0x7f800000u | (mantissa << 13);
    } else {
      x = sign | ((exponent + 112u) << 23) | (mantissa << 13);
    }
    float value;
    std::memcpy(&value, &x, 4);
    return value;
  }
};

/// bfloat16: the top 16 bits of an IEEE float.
struct BFloat16 {
  uint16_t bits = 0;
  BFloat16() = default;
  explicit BFloat16(float value) : bits(FromFloat(value)) {}
  operator float() const { return ToFloat(bits); }  // NOLINT: numeric type

  static uint16_t FromFloat(float value) {
    uint32_t x;
    std::memcpy(&x, &value, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // NaN
    x += 0x7fffu + ((x >> 16) & 1u);  // round to nearest even
    return static_cast<uint16_t>(x >> 16);
  }
  static float ToFloat(uint16_t b) {
    const uint32_t x = static_cast<uint32_t>(b) << 16;
    float value;
    std::memcpy(&value, &x, 4);
    return value;
  }
};

}  // namespace ofl

// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2,
// 3", SC 2011): a counter-based generator. A block of four 32-bit words is a
// pure function of (counter, key), so the random value of a logical element
// is computed from (seed, element index) alone, with no generator state to
// carry between devices. That is what makes seeded initialisers and dropout
// give the same values on any device count and under any SBP.
//
// Written once for host and device (OFL_HOST_DEVICE) so the CUDA backend
// reuses it unchanged.
//
// Layout of the streams (one 128-bit block feeds two logical elements):
//   counter = {block low, block high, stream, 0}, key = {seed low, seed high},
//   block = index / 2; element index uses words 2 (index % 2) and
//   2 (index % 2) + 1 for a 53-bit uniform (stream kUniformStream). Normals
//   (stream kNormalStream) use the whole block of their pair for one
//   Box-Muller draw: the even element takes the cosine branch, the odd one
//   the sine branch.
#pragma once

#include <cmath>
#include <cstdint>

#include "oneflow_like/macros.h"

namespace ofl::philox {

/// The 128-bit counter, four 32-bit words.
struct Counter {
  uint32_t word[4];
};

/// The 64-bit key, two 32-bit words.
struct Key {
  uint32_t word[2];
};

/// Random streams; a different stream word keeps uniform and normal values
/// of one seed independent.
inline constexpr uint32_t kUniformStream = 0;
inline constexpr uint32_t kNormalStream = 1;

/// One Philox4x32-10 block: ten rounds of (counter, key).
OFL_HOST_DEVICE OFL_INLINE Counter Philox4x32x10(Counter counter, Key key) {
  constexpr uint32_t kMultiplier0 = 0xD2511F53u;
  constexpr uint32_t kMultiplier1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u;  // golden ratio
  constexpr uint32_t kWeyl1 = 0xBB67AE85u;  // sqrt(3) - 1
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key.word[0] += kWeyl0;
      key.word[1] += kWeyl1;
    }
    const uint64_t product0 = static_cast<uint64_t>(kMultiplier0) * counter.word[0];
    const uint64_t product1 = static_cast<uint64_t>(kMultiplier1) * counter.word[2];
    const uint32_t high0 = static_cast<uint32_t>(product0 >> 32);
    const uint32_t low0 = static_cast<uint32_t>(product0);
    const uint32_t high1 = static_cast<uint32_t>(product1 >> 32);
    const uint32_t low1 = static_cast<uint32_t>(product1);
    counter =
        Counter{{high1 ^ counter.word[1] ^ key.word[0], low1, high0 ^ counter.word[3] ^ key.word[1], low0}};
  }
  return counter;
}

/// The block of `stream` that holds element `index` (two elements a block).
OFL_HOST_DEVICE OFL_INLINE Counter BlockOf(uint64_t seed, uint64_t index, uint32_t stream) {
  const uint64_t block = index / 2;
  const Counter counter{{static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), stream, 0u}};
  const Key key{{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)}};
  return Philox4x32x10(counter, key);
}

/// A double in [0, 1) from the top 53 of 64 random bits (exact multiples of 2^-53).
OFL_HOST_DEVICE OFL_INLINE double UnitInterval(uint32_t high, uint32_t low) {
  const uint64_t bits = (static_cast<uint64_t>(high) << 32) | low;
  return static_cast<double>(bits >> 11) * (1.0 / 9007199254740992.0);
}

/// Uniform in [0, 1) for logical element `index` of a tensor seeded `seed`.
OFL_HOST_DEVICE OFL_INLINE double UniformAt(uint64_t seed, uint64_t index) {
  const Counter block = BlockOf(seed, index, kUniformStream);
  const int lane = static_cast<int>(index % 2) * 2;
  return UnitInterval(block.word[lane], block.word[lane + 1]);
}

/// Standard normal for logical element `index` (Box-Muller over the pair's block).
OFL_HOST_DEVICE OFL_INLINE double NormalAt(uint64_t seed, uint64_t index) {
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  const Counter block = BlockOf(seed, index, kNormalStream);
  // 1 - u lies in (0, 1], so the logarithm stays finite.
  const double radius_uniform = 1.0 - UnitInterval(block.word[0], block.word[1]);
  const double angle = kTwoPi * UnitInterval(block.word[2], block.word[3]);
  const double radius = std::sqrt(-2.0 * std::log(radius_uniform));
  return index % 2 == 0 ? radius * std::cos(angle) : radius * std::sin(angle);
}

}  // namespace ofl::philox

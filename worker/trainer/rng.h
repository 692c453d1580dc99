// Deterministic random numbers for the trainer, identical on every platform and compiler: the
// SplitMix64 stream (common/split_mix.h) with the trainer's two distributions. SplitMix64's
// mixer is also the counter-based hash that makes data sampling a pure function of
// (seed, step), which is what lets resume be bit-exact. Not thread-safe.
#pragma once

#include <cmath>
#include <cstdint>

#include "common/split_mix.h"

namespace sparsescale::trainer {

// One SplitMix64 output for `x` (a bijective 64-bit mixer).
inline uint64_t Mix64(uint64_t x) { return SplitMix64::Mix(x); }

class Rng {
 public:
  explicit Rng(uint64_t seed) : stream_(seed) {}

  uint64_t NextU64() { return stream_.Next(); }

  // Uniform in (0, 1): 53 random bits, never exactly 0 (Box-Muller takes its logarithm).
  double NextUniform() { return (static_cast<double>(NextU64() >> 11) + 0.5) * 0x1.0p-53; }

  // Standard normal by Box-Muller (one value per call; the pair's second value is dropped so the
  // stream position is a simple count).
  double NextNormal() {
    const double u1 = NextUniform();
    const double u2 = NextUniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  SplitMix64 stream_;
};

}  // namespace sparsescale::trainer

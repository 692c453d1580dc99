// Deterministic random numbers for the trainer, identical on every platform and compiler (the
// standard library's distributions are implementation-defined, so they are not used).
// SplitMix64 is both the stream generator and the counter-based hash that makes data sampling a
// pure function of (seed, step), which is what lets resume be bit-exact. Not thread-safe.
#pragma once

#include <cmath>
#include <cstdint>

namespace sparsescale::trainer {

// One SplitMix64 output for `x` (a bijective 64-bit mixer).
inline uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  uint64_t NextU64() {
    state_ += 0x9e3779b97f4a7c15ULL;
    uint64_t x = state_;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  }

  // Uniform in (0, 1): 53 random bits, never exactly 0.
  double NextUniform() { return (static_cast<double>(NextU64() >> 11) + 0.5) * 0x1.0p-53; }

  // Standard normal by Box-Muller (one value per call; the pair's second value is dropped so the
  // stream position is a simple count).
  double NextNormal() {
    const double u1 = NextUniform();
    const double u2 = NextUniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  uint64_t state_;
};

}  // namespace sparsescale::trainer

// SplitMix64: a tiny portable random generator and 64-bit mixer, so seeded streams are the same
// on every platform, compiler and standard library (whose distributions are
// implementation-defined). The law's fitter starts and bootstrap resamples and the trainer's
// initialisation and data sampling all draw from it; tests pin their streams bit for bit.
// Not thread-safe; one generator per stream.
#pragma once

#include <cstdint>

namespace sparsescale {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  // One output for `x` (a bijection of 64-bit values): the first output of SplitMix64(x), which
  // makes a counter-based hash of (seed, index) without keeping a generator.
  static uint64_t Mix(uint64_t x) {
    x += kGolden;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
  }

  // A seed for stream `index` of a generator family seeded with `seed`.
  static uint64_t StreamSeed(uint64_t seed, uint64_t index) {
    return Mix(seed ^ (index * 0xD1B54A32D192ED03ull));
  }

  uint64_t Next() {
    const uint64_t out = Mix(state_);
    state_ += kGolden;
    return out;
  }

  // Uniform in [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

 private:
  static constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;

  uint64_t state_;
};

}  // namespace sparsescale

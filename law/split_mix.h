// SplitMix64: a tiny portable random generator, so seeded starts and bootstrap resamples are the
// same on every platform and standard library. Not thread-safe; one per stream.
#pragma once

#include <cstdint>

namespace sparsescale::law {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    state_ += 0x9E3779B97F4A7C15ull;
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  // Uniform in [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

  // A seed for stream `index` of a generator family seeded with `seed`.
  static uint64_t StreamSeed(uint64_t seed, uint64_t index) {
    SplitMix64 mixer(seed ^ (index * 0xD1B54A32D192ED03ull));
    return mixer.Next();
  }

 private:
  uint64_t state_;
};

}  // namespace sparsescale::law

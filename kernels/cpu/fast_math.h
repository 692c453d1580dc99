// Branch-free float exp that GCC vectorises without -ffast-math (glibc's expf is a call per
// element). Cephes' range reduction and degree-5 polynomial: relative error about 2e-7 on
// [-87, 80]; inputs outside are clamped, so exp(-inf) gives about 1.6e-38 rather than 0.
// GCC compiles callers with one copy of their arithmetic per clamp case, computed for every
// element and blended; both clamp values are chosen so that those copies stay clear of
// denormals (exp(88) made 1 / (1 + e) denormal and GeluForward 6x slower).
// Stateless; thread-safe.
#pragma once

#include <bit>
#include <cstdint>

// Hot element-wise loops are compiled twice, for x86-64-v3 (AVX2 + FMA) and for the x86-64
// baseline, and the dynamic loader picks one per CPU (GCC function multi-versioning), so one
// binary runs on any x86-64 machine and a given machine always runs the same code. Not under
// ThreadSanitizer: the loader runs the clones' resolver before TSan's runtime is up, and the
// instrumented resolver crashes the program at start.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_THREAD__)
#define SS_CPU_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define SS_CPU_CLONES
#endif

namespace sparsescale::kernels::cpu {

inline float ExpF(float x) {
  x = x < -87.0f ? -87.0f : (x > 80.0f ? 80.0f : x);
  // Round x / ln2 to the nearest integer with the 1.5 * 2^23 trick (no call to nearbyint).
  const float kRound = 12582912.0f;
  const float n = (x * 1.44269504088896341f + kRound) - kRound;
  const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  return y * std::bit_cast<float>(bits);
}

}  // namespace sparsescale::kernels::cpu

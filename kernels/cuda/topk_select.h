// Internal to kernels/cuda: exact, deterministic top-k selection on the GPU, shared by the
// magnitude and n:m masks.
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "kernels/cuda/context.h"

namespace sparsescale::kernels::cuda {

// Among the non-zero keys[0..n), marks the k largest (ties broken by the lower index):
// mask[i] = 1 for those, 0 for the other non-zero keys; mask[i] is left as it is where
// keys[i] == 0. k must not exceed the number of non-zero keys. Radix select over the 32-bit
// keys (4 histogram passes of 8 bits, all state on the device, no host round trip), then the
// ties at the threshold ranked by index with per-block counts and an exclusive scan.
absl::Status LaunchSelectTopK(CudaContext& ctx, float* mask, const uint32_t* keys, size_t n,
                              size_t k);

// keys[i] = the order-preserving key of |w[i]| plus one (never 0): every entry a candidate.
absl::Status LaunchMagnitudeKeys(CudaContext& ctx, uint32_t* keys, const float* w, size_t n);

// Per group of m consecutive elements: mask = 1 for its n largest |w| (ties by lower index) and
// 0 for the rest; keys = 0 for the kept elements (no longer candidates), the magnitude key for
// the others.
absl::Status LaunchGroupKeep(CudaContext& ctx, float* mask, uint32_t* keys, const float* w,
                             size_t groups, int n, int m);

}  // namespace sparsescale::kernels::cuda

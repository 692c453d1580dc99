// Internal to kernels/cuda: exact, deterministic top-k selection on the GPU, shared by the
// magnitude and n:m masks.
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "kernels/cuda/context.h"

namespace sparsescale::kernels::cuda {

// Order-preserving 32-bit key of |w| plus one, so that 0 can mean "not a candidate".
// |w| as an IEEE-754 bit pattern with the sign cleared orders like the value itself.
#ifdef __CUDACC__
__device__ inline uint32_t MagnitudeKey(float w) { return (__float_as_uint(w) & 0x7fffffffu) + 1u; }
#endif

// Among the non-zero keys[0..n), marks the k largest (ties broken by the lower index):
// mask[i] = 1 for those, 0 for the other non-zero keys; mask[i] is left as it is where
// keys[i] == 0. k must not exceed the number of non-zero keys. Radix select over the 32-bit
// keys (4 histogram passes of 8 bits, all state on the device, no host round trip), then the
// ties at the threshold ranked by index with per-block counts and an exclusive scan.
absl::Status LaunchSelectTopK(CudaContext& ctx, float* mask, const uint32_t* keys, size_t n,
                              size_t k);

}  // namespace sparsescale::kernels::cuda

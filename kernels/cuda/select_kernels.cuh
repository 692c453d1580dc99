// The device code of the mask selection and the host-side launch sequences, written once for
// the GPU (included by topk_select.cu only: the kernels have external linkage) and for the host
// emulator (kernels/cuda_emu/select_emu_test.cc runs them against the CPU backend in CI).
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/status.h"
#include "kernels/cuda/launch.cuh"

namespace sparsescale::kernels::cuda::select {

// Order-preserving 32-bit key of |w| plus one, so that 0 can mean "not a candidate".
// |w| as an IEEE-754 bit pattern with the sign cleared orders like the value itself.
__device__ inline uint32_t MagnitudeKey(float w) { return (__float_as_uint(w) & 0x7fffffffu) + 1u; }

constexpr int kThreads = 256;
constexpr int kPerThread = 8;
constexpr int kChunk = kThreads * kPerThread;  // elements per block in the tie passes
constexpr int kHistBlocks = 1024;

struct SelectState {
  uint32_t prefix;
  uint32_t prefix_mask;
  unsigned long long remaining;  // how many still to take among keys matching the prefix
  unsigned long long hist[256];
};

__global__ void InitStateKernel(SelectState* s, unsigned long long k) {
  s->prefix = 0;
  s->prefix_mask = 0;
  s->remaining = k;
  for (int i = 0; i < 256; ++i) {
    s->hist[i] = 0;
  }
}

__global__ void HistogramKernel(SelectState* s, const uint32_t* keys, size_t n, int shift) {
  __shared__ unsigned int local[256];
  for (int i = threadIdx.x; i < 256; i += blockDim.x) {
    local[i] = 0;
  }
  __syncthreads();
  const uint32_t prefix = s->prefix;
  const uint32_t prefix_mask = s->prefix_mask;
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n;
       i += size_t{gridDim.x} * blockDim.x) {
    const uint32_t key = keys[i];
    if (key != 0 && (key & prefix_mask) == prefix) {
      atomicAdd(&local[(key >> shift) & 0xffu], 1u);
    }
  }
  __syncthreads();
  for (int i = threadIdx.x; i < 256; i += blockDim.x) {
    if (local[i] != 0) {
      atomicAdd(&s->hist[i], static_cast<unsigned long long>(local[i]));
    }
  }
}

// Picks the digit holding the remaining-th largest key and narrows the prefix.
__global__ void ChooseDigitKernel(SelectState* s, int shift) {
  unsigned long long above = 0;
  int digit = 0;
  for (int d = 255; d >= 0; --d) {
    if (above + s->hist[d] >= s->remaining) {
      digit = d;
      break;
    }
    above += s->hist[d];
  }
  s->remaining -= above;
  s->prefix |= static_cast<uint32_t>(digit) << shift;
  s->prefix_mask |= 0xffu << shift;
  for (int d = 0; d < 256; ++d) {
    s->hist[d] = 0;
  }
}

__global__ void CountTiesKernel(unsigned long long* block_ties, const SelectState* s,
                                const uint32_t* keys, size_t n) {
  __shared__ unsigned int count;
  if (threadIdx.x == 0) {
    count = 0;
  }
  __syncthreads();
  const uint32_t threshold = s->prefix;
  const size_t begin = blockIdx.x * size_t{kChunk};
  unsigned int mine = 0;
  for (int r = 0; r < kPerThread; ++r) {
    const size_t i = begin + r * size_t{kThreads} + threadIdx.x;
    mine += (i < n && keys[i] == threshold) ? 1u : 0u;
  }
  atomicAdd(&count, mine);
  __syncthreads();
  if (threadIdx.x == 0) {
    block_ties[blockIdx.x] = count;
  }
}

// Exclusive scan of the per-block tie counts, in block order (one thread: a few thousand adds).
__global__ void ScanTiesKernel(unsigned long long* block_ties, unsigned int blocks) {
  unsigned long long running = 0;
  for (unsigned int b = 0; b < blocks; ++b) {
    const unsigned long long c = block_ties[b];
    block_ties[b] = running;
    running += c;
  }
}

__global__ void MarkKernel(float* mask, const SelectState* s, const uint32_t* keys,
                           const unsigned long long* tie_offset, size_t n) {
  __shared__ unsigned int warp_counts[kThreads / 32];
  const uint32_t threshold = s->prefix;
  const unsigned long long take = s->remaining;
  unsigned long long rank = tie_offset[blockIdx.x];
  const size_t begin = blockIdx.x * size_t{kChunk};
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  for (int r = 0; r < kPerThread; ++r) {
    const size_t i = begin + r * size_t{kThreads} + threadIdx.x;
    const uint32_t key = i < n ? keys[i] : 0u;
    const bool tie = key != 0 && key == threshold;
    const unsigned int ballot = __ballot_sync(0xffffffffu, tie);
    if (lane == 0) {
      warp_counts[warp] = __popc(ballot);
    }
    __syncthreads();
    unsigned long long before = rank + __popc(ballot & ((1u << lane) - 1u));
    unsigned int round_total = 0;
    for (int w = 0; w < kThreads / 32; ++w) {
      before += w < warp ? warp_counts[w] : 0u;
      round_total += warp_counts[w];
    }
    if (key != 0) {
      mask[i] = (key > threshold || (tie && before < take)) ? 1.0f : 0.0f;
    }
    rank += round_total;
    __syncthreads();
  }
}

__global__ void ZeroCandidatesKernel(float* mask, const uint32_t* keys, size_t n) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n;
       i += size_t{gridDim.x} * blockDim.x) {
    if (keys[i] != 0) {
      mask[i] = 0.0f;
    }
  }
}

__global__ void MagnitudeKeysKernel(uint32_t* keys, const float* w, size_t n) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n;
       i += size_t{gridDim.x} * blockDim.x) {
    keys[i] = MagnitudeKey(w[i]);
  }
}

// One thread per group: rank each element within its group by (key desc, index asc).
__global__ void GroupKeepKernel(float* mask, uint32_t* keys, const float* w, size_t groups, int n,
                                int m) {
  for (size_t g = blockIdx.x * size_t{blockDim.x} + threadIdx.x; g < groups;
       g += size_t{gridDim.x} * blockDim.x) {
    const size_t base = g * m;
    for (int j = 0; j < m; ++j) {
      const uint32_t kj = MagnitudeKey(w[base + j]);
      int rank = 0;
      for (int i = 0; i < m; ++i) {
        const uint32_t ki = MagnitudeKey(w[base + i]);
        rank += (ki > kj || (ki == kj && i < j)) ? 1 : 0;
      }
      const bool kept = rank < n;
      mask[base + j] = kept ? 1.0f : 0.0f;
      keys[base + j] = kept ? 0u : kj;  // kept elements are no longer candidates
    }
  }
}

// Scratch the selection of n keys needs: its state and one tie count per chunk.
inline size_t SelectScratchBytes(size_t n) {
  return sizeof(SelectState) + sizeof(unsigned long long) * ((n + kChunk - 1) / kChunk);
}

// Among the non-zero keys[0..n), marks the k largest (see topk_select.h); `scratch` holds
// SelectScratchBytes(n) bytes of device memory.
template <typename Launcher>
absl::Status RunSelectTopK(const Launcher& launch, float* mask, const uint32_t* keys, size_t n,
                           size_t k, void* scratch) {
  if (n == 0) {
    return absl::OkStatus();
  }
  if (k == 0) {
    return launch(CappedBlocks(n, kThreads, 65536u), kThreads, 0, ZeroCandidatesKernel, mask, keys,
                  n);
  }
  const unsigned int chunks = static_cast<unsigned int>((n + kChunk - 1) / kChunk);
  SelectState* state = static_cast<SelectState*>(scratch);
  unsigned long long* block_ties = reinterpret_cast<unsigned long long*>(state + 1);
  RETURN_IF_ERROR(launch(1, 1, 0, InitStateKernel, state, static_cast<unsigned long long>(k)));
  const unsigned int hist_blocks = CappedBlocks(n, kThreads, kHistBlocks);
  for (int shift = 24; shift >= 0; shift -= 8) {
    RETURN_IF_ERROR(launch(hist_blocks, kThreads, 0, HistogramKernel, state, keys, n, shift));
    RETURN_IF_ERROR(launch(1, 1, 0, ChooseDigitKernel, state, shift));
  }
  RETURN_IF_ERROR(launch(chunks, kThreads, 0, CountTiesKernel, block_ties,
                         static_cast<const SelectState*>(state), keys, n));
  RETURN_IF_ERROR(launch(1, 1, 0, ScanTiesKernel, block_ties, chunks));
  return launch(chunks, kThreads, 0, MarkKernel, mask, static_cast<const SelectState*>(state),
                keys, static_cast<const unsigned long long*>(block_ties), n);
}

template <typename Launcher>
absl::Status RunMagnitudeKeys(const Launcher& launch, uint32_t* keys, const float* w, size_t n) {
  return launch(CappedBlocks(n, kThreads, 65536u), kThreads, 0, MagnitudeKeysKernel, keys, w, n);
}

template <typename Launcher>
absl::Status RunGroupKeep(const Launcher& launch, float* mask, uint32_t* keys, const float* w,
                          size_t groups, int n, int m) {
  return launch(CappedBlocks(groups, kThreads, 65536u), kThreads, 0, GroupKeepKernel, mask, keys,
                w, groups, n, m);
}

}  // namespace sparsescale::kernels::cuda::select

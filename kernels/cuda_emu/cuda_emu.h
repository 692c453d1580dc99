// A host emulator for CUDA kernel bodies, so the logic of device code (indexing, tiling,
// masking, barriers, shared-memory layout) is tested by CI on machines without a GPU.
//
// Launch() runs a kernel's blocks one after another; inside a block every CUDA thread is a
// fiber (ucontext) on the calling thread. A fiber runs until it reaches a barrier
// (__syncthreads, __syncwarp, a shuffle), so fibers run in a fixed order and each runs as far
// ahead of the others as the barriers allow: a read that lacks the barrier before it sees stale
// shared memory, deterministically. Barriers that not every thread of their scope reaches
// (divergent __syncthreads) are reported as errors instead of hanging. Dynamic shared memory is
// a fresh heap block of exactly the requested size per block, filled with 0xFF bytes (NaN as
// floats), so reading memory nobody wrote poisons the result and an overrun is an ASan error.
//
// This header defines the CUDA spellings device code uses (__global__, threadIdx, float4,
// __nv_bfloat16 with round-to-nearest-even, __shfl_xor_sync, and nvcuda::wmma fragments of
// 16x16x16 bf16 -> fp32, which check the alignment and stride rules the hardware enforces).
// wmma fragments hold the whole tile in every lane (the real layout is opaque anyway), a store
// writes only the lane's share, and mma_sync accumulates in fp32.
//
// Limit: a shuffle is a barrier here, so shared-memory writes made before a shuffle are visible
// after it; on the hardware they need __syncwarp(). Keep the explicit __syncwarp() anyway.
// Include this header instead of the CUDA headers, before the device code.
//
// Not thread-safe: one Launch at a time per process.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <type_traits>

#include "absl/status/status.h"

#define SPARSESCALE_CUDA_EMU 1

namespace sparsescale::kernels::cuda_emu {

struct Dim3 {
  unsigned x = 1, y = 1, z = 1;
};

// Runs `kernel` once per thread of every block of `grid` (2-D: z must be 1; 1-D blocks of
// `threads`, 1 to 1024; the last warp may be partial) with `smem_bytes` of dynamic shared memory. Returns the first error a
// thread raised (Fail, __trap, a wmma rule) or a barrier deadlock, naming the block and thread.
absl::Status Launch(Dim3 grid, int threads, size_t smem_bytes,
                    const std::function<void()>& kernel);

// Inside a kernel run by Launch.
Dim3 ThreadIdx();
Dim3 BlockIdx();
Dim3 GridDim();
Dim3 BlockDim();
unsigned char* DynamicSmem();
void SyncThreads();
void SyncWarp();
float ShflXor(float value, int lane_mask);
float Shfl(float value, int src_lane);
unsigned Ballot(bool predicate);
// Ends this thread with an error (printf-style) that Launch returns; the block's other threads
// are abandoned. Formats into a fixed buffer: an abandoned fiber's frames are never unwound, so
// nothing on them may own heap memory.
[[noreturn]] void Fail(const char* format, ...) __attribute__((format(printf, 1, 2)));

}  // namespace sparsescale::kernels::cuda_emu

// ---- CUDA spellings ----

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
// Static shared memory: one instance for all fibers (they share one OS thread); blocks run one
// after another and CUDA leaves it undefined at block start, so kernels initialise it anyway.
#define __shared__ static
#define threadIdx (::sparsescale::kernels::cuda_emu::ThreadIdx())
#define blockIdx (::sparsescale::kernels::cuda_emu::BlockIdx())
#define gridDim (::sparsescale::kernels::cuda_emu::GridDim())
#define blockDim (::sparsescale::kernels::cuda_emu::BlockDim())

inline void __syncthreads() { ::sparsescale::kernels::cuda_emu::SyncThreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  if (mask != 0xffffffffu) {
    ::sparsescale::kernels::cuda_emu::Fail("__syncwarp: only the full mask is emulated");
  }
  ::sparsescale::kernels::cuda_emu::SyncWarp();
}
inline float __shfl_xor_sync(unsigned mask, float value, int lane_mask) {
  if (mask != 0xffffffffu) {
    ::sparsescale::kernels::cuda_emu::Fail("__shfl_xor_sync: only the full mask is emulated");
  }
  return ::sparsescale::kernels::cuda_emu::ShflXor(value, lane_mask);
}
inline float __shfl_sync(unsigned mask, float value, int src_lane) {
  if (mask != 0xffffffffu) {
    ::sparsescale::kernels::cuda_emu::Fail("__shfl_sync: only the full mask is emulated");
  }
  return ::sparsescale::kernels::cuda_emu::Shfl(value, src_lane);
}
[[noreturn]] inline void __trap() { ::sparsescale::kernels::cuda_emu::Fail("__trap()"); }
inline unsigned __ballot_sync(unsigned mask, int predicate) {
  if (mask != 0xffffffffu) {
    ::sparsescale::kernels::cuda_emu::Fail("__ballot_sync: only the full mask is emulated");
  }
  return ::sparsescale::kernels::cuda_emu::Ballot(predicate != 0);
}
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
// Fibers never preempt each other between barriers, so a read-modify-write is atomic here.
template <typename T>
inline T atomicAdd(T* address, T value) {
  const T old = *address;
  *address = old + value;
  return old;
}

struct alignas(8) float2 {
  float x, y;
};
inline float2 make_float2(float x, float y) { return float2{x, y}; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __int_as_float(int i) {
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
}
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }

struct dim3 {
  unsigned x, y, z;
  dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
  operator ::sparsescale::kernels::cuda_emu::Dim3() const { return {x, y, z}; }
};

struct alignas(16) float4 {
  float x, y, z, w;
};
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }

struct __nv_bfloat16 {
  uint16_t bits;
};
struct alignas(4) __nv_bfloat162 {
  __nv_bfloat16 x, y;
};
inline __nv_bfloat16 __float2bfloat16_rn(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) {
    return __nv_bfloat16{static_cast<uint16_t>((u >> 16) | 0x40)};  // quiet NaN stays NaN
  }
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest, ties to even
  return __nv_bfloat16{static_cast<uint16_t>(u >> 16)};
}
inline float __bfloat162float(__nv_bfloat16 h) {
  const uint32_t u = static_cast<uint32_t>(h.bits) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) {
  return __nv_bfloat162{__float2bfloat16_rn(a), __float2bfloat16_rn(b)};
}

namespace nvcuda::wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

// The whole 16x16 tile, row-major by logical (row, column), in every lane.
template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
  static_assert(M == 16 && N == 16 && K == 16, "only 16x16x16 fragments are emulated");
  T x[256];
};

namespace detail {
inline void Check(const void* ptr, unsigned ldm, size_t element_bytes, const char* what) {
  // The hardware rules: a 256-bit aligned pointer, ldm a multiple of 16 bytes.
  if (reinterpret_cast<uintptr_t>(ptr) % 32 != 0) {
    ::sparsescale::kernels::cuda_emu::Fail("%s: pointer not 32-byte aligned", what);
  }
  if ((ldm * element_bytes) % 16 != 0) {
    ::sparsescale::kernels::cuda_emu::Fail("%s: ldm %u is not a multiple of 16 bytes", what,
                                           ldm);
  }
}
template <typename L>
constexpr bool kColMajor = std::is_same_v<L, col_major>;
}  // namespace detail

template <typename Use, typename L>
void load_matrix_sync(fragment<Use, 16, 16, 16, __nv_bfloat16, L>& f, const __nv_bfloat16* ptr,
                      unsigned ldm) {
  detail::Check(ptr, ldm, 2, "wmma::load_matrix_sync");
  for (int r = 0; r < 16; ++r) {
    for (int c = 0; c < 16; ++c) {
      f.x[r * 16 + c] = detail::kColMajor<L> ? ptr[c * ldm + r] : ptr[r * ldm + c];
    }
  }
}

inline void fill_fragment(fragment<accumulator, 16, 16, 16, float>& f, float value) {
  for (float& v : f.x) {
    v = value;
  }
}

template <typename LA, typename LB>
void mma_sync(fragment<accumulator, 16, 16, 16, float>& d,
              const fragment<matrix_a, 16, 16, 16, __nv_bfloat16, LA>& a,
              const fragment<matrix_b, 16, 16, 16, __nv_bfloat16, LB>& b,
              const fragment<accumulator, 16, 16, 16, float>& c) {
  fragment<accumulator, 16, 16, 16, float> out;
  for (int r = 0; r < 16; ++r) {
    for (int n = 0; n < 16; ++n) {
      float s = c.x[r * 16 + n];
      for (int k = 0; k < 16; ++k) {
        s += __bfloat162float(a.x[r * 16 + k]) * __bfloat162float(b.x[k * 16 + n]);
      }
      out.x[r * 16 + n] = s;
    }
  }
  d = out;
}

// Each lane writes only its share of the tile (8 of the 256 elements), as on the hardware, so
// a read of the stored tile by another lane without __syncwarp() first sees stale memory.
inline void store_matrix_sync(float* ptr, const fragment<accumulator, 16, 16, 16, float>& f,
                              unsigned ldm, layout_t layout) {
  detail::Check(ptr, ldm, 4, "wmma::store_matrix_sync");
  const unsigned lane = ::sparsescale::kernels::cuda_emu::ThreadIdx().x % 32;
  for (unsigned i = lane; i < 256; i += 32) {
    const unsigned r = i / 16, c = i % 16;
    (layout == mem_col_major ? ptr[c * ldm + r] : ptr[r * ldm + c]) = f.x[i];
  }
}

}  // namespace nvcuda::wmma

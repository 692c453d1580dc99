// How a kernel is launched, as a value, so that the host-side sequence of launches an op makes
// (several kernels, their grids, their order) is written once in a *_kernels.cuh header and run
// both on the GPU (KernelLauncher{stream}: `<<<>>>` on that stream, then the launch error) and
// through the host emulator (kernels/cuda_emu: the same call runs the blocks on the CPU).
//   launch(grid, threads, smem_bytes, Kernel, args...)
#pragma once

#include <cstddef>

#include "absl/status/status.h"

#ifndef SPARSESCALE_CUDA_EMU
#include <cuda_runtime_api.h>

#include "kernels/cuda/cuda_check.h"
#endif

// Declares `name`, a `type*` to the block's dynamic shared memory (128-byte aligned).
#ifdef SPARSESCALE_CUDA_EMU
#define SPARSESCALE_DYNAMIC_SMEM(type, name) \
  type* name = reinterpret_cast<type*>(::sparsescale::kernels::cuda_emu::DynamicSmem())
#else
#define SPARSESCALE_DYNAMIC_SMEM(type, name) extern __shared__ __align__(128) type name[]
#endif

namespace sparsescale::kernels::cuda {

#ifdef SPARSESCALE_CUDA_EMU

struct KernelLauncher {
  template <typename... Params, typename... Args>
  absl::Status operator()(dim3 grid, unsigned threads, size_t smem, void (*kernel)(Params...),
                          Args... args) const {
    return cuda_emu::Launch(grid, static_cast<int>(threads), smem, [&] { kernel(args...); });
  }
};

#else

struct KernelLauncher {
  cudaStream_t stream;
  template <typename... Params, typename... Args>
  absl::Status operator()(dim3 grid, unsigned threads, size_t smem, void (*kernel)(Params...),
                          Args... args) const {
    kernel<<<grid, threads, smem, stream>>>(args...);
    RETURN_IF_LAUNCH_FAILED();
    return absl::OkStatus();
  }
};

#endif

// Blocks of `threads` that cover n items, at least 1, at most `cap` (grid-stride loops do the
// rest).
inline unsigned int CappedBlocks(size_t n, unsigned int threads, unsigned int cap) {
  const size_t blocks = (n + threads - 1) / threads;
  return blocks < 1 ? 1u : (blocks > cap ? cap : static_cast<unsigned int>(blocks));
}

}  // namespace sparsescale::kernels::cuda

// Backend selection. The CUDA backend is linked only when the build found nvcc; the trainer
// never sees a CUDA header either way.
#include "kernels/ops.h"

#ifdef SPARSESCALE_HAVE_CUDA
#include "kernels/cuda/cuda_ops.h"
#endif

namespace sparsescale::kernels {

bool CudaAvailable() {
#ifdef SPARSESCALE_HAVE_CUDA
  return cuda::DeviceCount() > 0;
#else
  return false;
#endif
}

absl::StatusOr<std::unique_ptr<Ops>> MakeCudaOps(int device_index) {
#ifdef SPARSESCALE_HAVE_CUDA
  if (!CudaAvailable()) {
    return absl::UnavailableError("device: no CUDA GPU is usable in this process");
  }
  return cuda::MakeCudaOps(device_index);
#else
  (void)device_index;
  return absl::UnavailableError("device: this build of sparsescale has no CUDA backend");
#endif
}

absl::StatusOr<std::unique_ptr<Ops>> MakeOps(const std::string& device, int threads) {
  if (threads < 1) {
    return absl::InvalidArgumentError("threads: must be >= 1");
  }
  if (device == "cpu") {
    return MakeCpuOps(threads);
  }
  if (device == "cuda") {
    return MakeCudaOps(0);
  }
  if (device == "auto" || device.empty()) {
    if (CudaAvailable()) {
      return MakeCudaOps(0);
    }
    return MakeCpuOps(threads);
  }
  return absl::InvalidArgumentError("device: must be one of auto, cpu, cuda; got \"" + device +
                                    "\"");
}

}  // namespace sparsescale::kernels

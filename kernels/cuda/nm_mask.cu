// Gradual n:m mask on the GPU: every group of m consecutive elements of a row keeps its n
// largest |w| (ties by lower index); the rest of the `keep` budget goes to the largest |w|
// among the other elements through the shared top-k selection.
#include <string>

#include "common/status.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launchers.h"
#include "kernels/cuda/topk_select.h"

namespace sparsescale::kernels::cuda {
namespace {

constexpr int kMaxM = 64;

}  // namespace

absl::Status LaunchNmMask(CudaContext& ctx, float* mask, const float* w, int rows, int cols, int n,
                          int m, size_t keep) {
  if (rows <= 0 || cols <= 0) {
    return absl::InvalidArgumentError("NmMask: rows and cols must be positive");
  }
  if (m < 1 || m > kMaxM || n < 0 || n > m) {
    return absl::InvalidArgumentError("NmMask: need 0 <= n <= m and 1 <= m <= 64, got n=" +
                                      std::to_string(n) + " m=" + std::to_string(m));
  }
  if (cols % m != 0) {
    return absl::InvalidArgumentError("NmMask: cols (" + std::to_string(cols) +
                                      ") must be a multiple of m (" + std::to_string(m) + ")");
  }
  const size_t total = static_cast<size_t>(rows) * cols;
  const size_t forced = total / m * n;
  if (keep < forced || keep > total) {
    return absl::InvalidArgumentError("NmMask: keep (" + std::to_string(keep) + ") must be in [" +
                                      std::to_string(forced) + ", " + std::to_string(total) + "]");
  }
  if (mask == nullptr || w == nullptr) {
    return absl::InvalidArgumentError("NmMask: mask and w must be non-null");
  }
  ASSIGN_OR_RETURN(void* mem, ctx.Scratch(ScratchSlot::kSelectKeys, sizeof(uint32_t) * total));
  uint32_t* keys = static_cast<uint32_t*>(mem);
  RETURN_IF_ERROR(LaunchGroupKeep(ctx, mask, keys, w, total / m, n, m));
  return LaunchSelectTopK(ctx, mask, keys, total, keep - forced);
}

}  // namespace sparsescale::kernels::cuda

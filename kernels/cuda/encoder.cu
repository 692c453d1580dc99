// Token + position embedding. The backward is deterministic: token positions are sorted by
// token id (stable radix sort, so positions stay ascending within a token) and each distinct
// token's rows of dout are summed by one block in that fixed order, with no atomics.
#include <cub/device/device_radix_sort.cuh>

#include "common/status.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launchers.h"

namespace sparsescale::kernels::cuda {
namespace {

constexpr unsigned int kThreads = 256;

// An out-of-range token gives a NaN row rather than an out-of-bounds read: checking on the
// host would need a copy of the tokens every step.
__global__ void EncoderForwardKernel(float* out, const int32_t* tokens, const float* wte,
                                     const float* wpe, int BT, int T, int C, int V) {
  const size_t total = static_cast<size_t>(BT) * C;
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < total;
       i += size_t{gridDim.x} * blockDim.x) {
    const size_t bt = i / C;
    const int c = static_cast<int>(i % C);
    const int t = static_cast<int>(bt % T);
    const int token = tokens[bt];
    out[i] = (token < 0 || token >= V)
                 ? __int_as_float(0x7fc00000)
                 : wte[static_cast<size_t>(token) * C + c] + wpe[static_cast<size_t>(t) * C + c];
  }
}

__global__ void IotaKernel(int32_t* x, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) {
    x[i] = i;
  }
}

// One block per sorted position; the block at the first position of each token sums that
// token's dout rows in ascending position order.
__global__ void WteBackwardKernel(float* dwte, const float* dout, const int32_t* sorted_tokens,
                                  const int32_t* sorted_pos, int BT, int C) {
  const int i = blockIdx.x;
  const int token = sorted_tokens[i];
  // A negative token has no row (EncoderForward gave it NaN); the op has no V to check the top.
  if (token < 0 || (i > 0 && sorted_tokens[i - 1] == token)) {
    return;
  }
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    float sum = 0.0f;
    for (int j = i; j < BT && sorted_tokens[j] == token; ++j) {
      sum += dout[static_cast<size_t>(sorted_pos[j]) * C + c];
    }
    dwte[static_cast<size_t>(token) * C + c] += sum;
  }
}

__global__ void WpeBackwardKernel(float* dwpe, const float* dout, int B, int T, int C) {
  const size_t total = static_cast<size_t>(T) * C;
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < total;
       i += size_t{gridDim.x} * blockDim.x) {
    float sum = 0.0f;
    for (int b = 0; b < B; ++b) {
      sum += dout[static_cast<size_t>(b) * total + i];
    }
    dwpe[i] += sum;
  }
}

unsigned int Blocks(size_t n) {
  const unsigned int b = BlocksFor(n, kThreads);
  return b < 65536u ? b : 65536u;
}

absl::Status CheckShape(const char* op, int B, int T, int C) {
  if (B <= 0 || T <= 0 || C <= 0) {
    return absl::InvalidArgumentError(std::string(op) + ": B, T and C must be positive");
  }
  return absl::OkStatus();
}

absl::Status WteBackward(CudaContext& ctx, float* dwte, const float* dout, const int32_t* tokens,
                         int BT, int C) {
  ASSIGN_OR_RETURN(void* sort_mem, ctx.Scratch(ScratchSlot::kSort, sizeof(int32_t) * 3 * BT));
  int32_t* positions = static_cast<int32_t*>(sort_mem);
  int32_t* sorted_tokens = positions + BT;
  int32_t* sorted_pos = sorted_tokens + BT;
  IotaKernel<<<(BT + kThreads - 1) / kThreads, kThreads, 0, ctx.stream()>>>(positions, BT);
  RETURN_IF_LAUNCH_FAILED();
  size_t temp_bytes = 0;
  CUDA_RETURN_IF_ERROR(cub::DeviceRadixSort::SortPairs(
      nullptr, temp_bytes, tokens, sorted_tokens, positions, sorted_pos, BT, 0, 32, ctx.stream()));
  ASSIGN_OR_RETURN(void* temp, ctx.Scratch(ScratchSlot::kSortTemp, temp_bytes));
  CUDA_RETURN_IF_ERROR(cub::DeviceRadixSort::SortPairs(
      temp, temp_bytes, tokens, sorted_tokens, positions, sorted_pos, BT, 0, 32, ctx.stream()));
  WteBackwardKernel<<<BT, kThreads, 0, ctx.stream()>>>(dwte, dout, sorted_tokens, sorted_pos, BT,
                                                       C);
  RETURN_IF_LAUNCH_FAILED();
  return absl::OkStatus();
}

}  // namespace

absl::Status LaunchEncoderForward(CudaContext& ctx, float* out, const int32_t* tokens,
                                  const float* wte, const float* wpe, int B, int T, int C, int V) {
  RETURN_IF_ERROR(CheckShape("EncoderForward", B, T, C));
  if (V <= 0) {
    return absl::InvalidArgumentError("EncoderForward: V must be positive");
  }
  if (out == nullptr || tokens == nullptr || wte == nullptr || wpe == nullptr) {
    return absl::InvalidArgumentError("EncoderForward: out, tokens, wte and wpe must be non-null");
  }
  const size_t total = static_cast<size_t>(B) * T * C;
  EncoderForwardKernel<<<Blocks(total), kThreads, 0, ctx.stream()>>>(out, tokens, wte, wpe, B * T,
                                                                     T, C, V);
  RETURN_IF_LAUNCH_FAILED();
  return absl::OkStatus();
}

absl::Status LaunchEncoderBackward(CudaContext& ctx, float* dwte, float* dwpe, const float* dout,
                                   const int32_t* tokens, int B, int T, int C) {
  RETURN_IF_ERROR(CheckShape("EncoderBackward", B, T, C));
  if (dout == nullptr || tokens == nullptr) {
    return absl::InvalidArgumentError("EncoderBackward: dout and tokens must be non-null");
  }
  if (dwte != nullptr) {
    RETURN_IF_ERROR(WteBackward(ctx, dwte, dout, tokens, B * T, C));
  }
  if (dwpe != nullptr) {
    WpeBackwardKernel<<<Blocks(static_cast<size_t>(T) * C), kThreads, 0, ctx.stream()>>>(dwpe, dout,
                                                                                         B, T, C);
    RETURN_IF_LAUNCH_FAILED();
  }
  return absl::OkStatus();
}

}  // namespace sparsescale::kernels::cuda

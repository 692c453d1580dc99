// Internal to kernels/cuda: the state every CUDA op runs against. One CudaContext holds the
// device index, one non-blocking stream (all ops are issued on it, in order), a cuBLASLt handle,
// and grow-only scratch buffers reused across calls (bf16 operand copies, reduction partials,
// selection state, the cuBLASLt workspace), so no op allocates in the steady state.
//
// Not thread-safe: owned by one CudaOps, used by one thread.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>

#include "absl/status/statusor.h"
#include "kernels/ops.h"

namespace sparsescale::kernels::cuda {

// Device memory from cudaMalloc, freed (cudaFree) when destroyed.
class CudaBuffer final : public DeviceBuffer {
 public:
  // Returns a zero-filled buffer, or ResourceExhausted naming the size.
  static absl::StatusOr<std::unique_ptr<CudaBuffer>> Create(size_t bytes);
  ~CudaBuffer() override;
  CudaBuffer(const CudaBuffer&) = delete;
  CudaBuffer& operator=(const CudaBuffer&) = delete;

  void* data() override { return data_; }
  size_t bytes() const override { return bytes_; }

 private:
  CudaBuffer(void* data, size_t bytes) : data_(data), bytes_(bytes) {}
  void* data_;
  size_t bytes_;
};

// The scratch buffers an op may ask for. Two ops never hold the same slot at once because ops
// run one after another on the stream and a slot's content does not outlive its op.
enum class ScratchSlot : int {
  kBf16A = 0,    // bf16 copy of a product's first operand
  kBf16B,        // bf16 copy of the second operand
  kBf16C,        // bf16 copy of a third operand (dout in MatmulBackward)
  kLtWorkspace,  // cuBLASLt workspace
  kReduce,       // per-block partial sums / counts
  kSelectKeys,   // 32-bit keys of a top-k selection
  kSelectState,  // radix-select state and per-block tie counts
  kSort,         // radix sort buffers (encoder backward)
  kSortTemp,     // CUB temporary storage
  kCount,
};

class CudaContext {
 public:
  // Selects `device`, creates the stream and cuBLASLt handle; Unavailable when the device
  // cannot be used.
  static absl::StatusOr<std::unique_ptr<CudaContext>> Create(int device);
  ~CudaContext();
  CudaContext(const CudaContext&) = delete;
  CudaContext& operator=(const CudaContext&) = delete;

  int device() const { return device_; }
  cudaStream_t stream() const { return stream_; }
  cublasLtHandle_t lt() const { return lt_; }
  int sm_count() const { return sm_count_; }
  size_t max_shared_bytes() const { return max_shared_bytes_; }
  int compute_major() const { return compute_major_; }

  // Lets `kernel` (a __global__ function) launch with `bytes` of dynamic shared memory: an error
  // naming `op` when the device has less, the opt-in attribute above the default 48 KiB.
  absl::Status AllowDynamicSmem(const void* kernel, size_t bytes, const char* op);

  // Which causal-attention kernel AttentionForward/Backward run: the bf16 tensor-core one
  // (attention_tc.cu; the default where the head size and device allow it) or the fp32
  // CUDA-core one (attention.cu). Forward and backward must use the same one.
  bool fp32_attention() const { return fp32_attention_; }
  void set_fp32_attention(bool on) { fp32_attention_ = on; }

  // Device memory of at least `bytes` for `slot`, valid until the next call for the same slot.
  // Growing synchronises the stream first. Returns ResourceExhausted when allocation fails.
  absl::StatusOr<void*> Scratch(ScratchSlot slot, size_t bytes);

  // cuBLASLt algorithms chosen by the heuristic, keyed by the product's full description, so
  // the heuristic runs once per shape rather than once per call.
  using LtKey = std::array<int64_t, 12>;
  std::map<LtKey, cublasLtMatmulAlgo_t>& lt_algo_cache() { return lt_algo_cache_; }

 private:
  CudaContext() = default;

  int device_ = 0;
  cudaStream_t stream_ = nullptr;
  cublasLtHandle_t lt_ = nullptr;
  int sm_count_ = 0;
  size_t max_shared_bytes_ = 0;
  int compute_major_ = 0;
  bool fp32_attention_ = false;
  std::array<std::unique_ptr<CudaBuffer>, static_cast<size_t>(ScratchSlot::kCount)> scratch_;
  std::map<LtKey, cublasLtMatmulAlgo_t> lt_algo_cache_;
};

}  // namespace sparsescale::kernels::cuda

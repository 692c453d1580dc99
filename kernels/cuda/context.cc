#include "kernels/cuda/context.h"

#include <string>

#include "common/status.h"
#include "kernels/cuda/cuda_check.h"

namespace sparsescale::kernels::cuda {

absl::StatusOr<std::unique_ptr<CudaBuffer>> CudaBuffer::Create(size_t bytes) {
  void* data = nullptr;
  // cudaMalloc(0) may return null; keep one byte so data() is always a valid device pointer.
  const size_t alloc_bytes = bytes == 0 ? 1 : bytes;
  const cudaError_t err = cudaMalloc(&data, alloc_bytes);
  if (err != cudaSuccess) {
    cudaGetLastError();  // An allocation failure is not sticky: clear it.
    return absl::ResourceExhaustedError("cudaMalloc of " + std::to_string(bytes) +
                                        " bytes failed: " + cudaGetErrorString(err));
  }
  std::unique_ptr<CudaBuffer> buffer(new CudaBuffer(data, bytes));
  // cudaMemset runs on the legacy default stream, which the backend's non-blocking stream does
  // not wait for: finish it here so no later op can see the memory before it is zero.
  CUDA_RETURN_IF_ERROR(cudaMemset(data, 0, alloc_bytes));
  CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(nullptr));
  return buffer;
}

CudaBuffer::~CudaBuffer() { cudaFree(data_); }

absl::Status CudaContext::AllowDynamicSmem(const void* kernel, size_t bytes, const char* op) {
  if (bytes > max_shared_bytes_) {
    return absl::InvalidArgumentError(std::string(op) + ": the kernel needs " +
                                      std::to_string(bytes) +
                                      " bytes of shared memory per block, the device has " +
                                      std::to_string(max_shared_bytes_));
  }
  if (bytes > 48 * 1024) {
    CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(
        kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<CudaContext>> CudaContext::Create(int device) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || device < 0 || device >= count) {
    cudaGetLastError();
    return absl::UnavailableError("device: CUDA device " + std::to_string(device) +
                                  " is not usable (" + std::to_string(count) + " visible)");
  }
  std::unique_ptr<CudaContext> ctx(new CudaContext());
  ctx->device_ = device;
  CUDA_RETURN_IF_ERROR(cudaSetDevice(device));
  CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&ctx->stream_, cudaStreamNonBlocking));
  CUBLAS_RETURN_IF_ERROR(cublasLtCreate(&ctx->lt_));
  CUDA_RETURN_IF_ERROR(
      cudaDeviceGetAttribute(&ctx->sm_count_, cudaDevAttrMultiProcessorCount, device));
  int smem = 0;
  CUDA_RETURN_IF_ERROR(
      cudaDeviceGetAttribute(&smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  ctx->max_shared_bytes_ = static_cast<size_t>(smem);
  CUDA_RETURN_IF_ERROR(
      cudaDeviceGetAttribute(&ctx->compute_major_, cudaDevAttrComputeCapabilityMajor, device));
  return ctx;
}

CudaContext::~CudaContext() {
  if (stream_ != nullptr) {
    cudaStreamSynchronize(stream_);
  }
  for (auto& buffer : scratch_) {
    buffer.reset();
  }
  if (lt_ != nullptr) {
    cublasLtDestroy(lt_);
  }
  if (stream_ != nullptr) {
    cudaStreamDestroy(stream_);
  }
}

absl::StatusOr<void*> CudaContext::Scratch(ScratchSlot slot, size_t bytes) {
  std::unique_ptr<CudaBuffer>& buffer = scratch_[static_cast<size_t>(slot)];
  if (buffer == nullptr || buffer->bytes() < bytes) {
    // Grow by at least 1.5x so a slowly growing size does not reallocate on every call.
    const size_t old_bytes = buffer == nullptr ? 0 : buffer->bytes();
    // The previous buffer may still be read by queued work.
    CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
    buffer.reset();
    const size_t want = bytes > old_bytes + old_bytes / 2 ? bytes : old_bytes + old_bytes / 2;
    ASSIGN_OR_RETURN(buffer, CudaBuffer::Create(want));
  }
  return buffer->data();
}

}  // namespace sparsescale::kernels::cuda

// The CUDA backend of the Ops interface (kernels/ops.h) and the entry points ops_factory.cc
// calls. This header is included by plain C++ files: it declares no CUDA types.
//
// Every op runs on one GPU stream in issue order; the conventions are ops.h's, with these
// backend-specific choices (each documented again at its op):
// - Gemm / MatmulForward / MatmulBackward convert fp32 operands to bf16 (scratch) and run
//   cuBLASLt with fp32 accumulation: expect about 1e-2 relative difference from the CPU.
// - AttentionForward/Backward run on bf16 tensor cores (fp32 accumulation and softmax) when the
//   head size is 16, 32, 64 or 128 on a compute capability 8+ device (about 1e-2 relative from
//   the CPU); otherwise, or after SetFp32Attention(ops, true), on the fp32 CUDA-core kernel.
// - AttentionForward keeps only the logsumexp of each query row in `att`
//   (AttentionStateFloats = B*NH*T); AttentionBackward uses as many floats of `datt_scratch`.
// - 2:4 weights of supported shapes (HasSparseMatmul) pack into the sparse tensor-core layout
//   of sparse24.h; re-packing trusts the mask checked at packing (no synchronisation).
// - CountNonZero synchronises (its result is a host value); everything else is asynchronous
//   until CopyToHost.
// A CudaOps is not thread-safe.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "kernels/ops.h"

namespace sparsescale::kernels::cuda {

class CudaContext;

// Number of usable CUDA devices; 0 when there is no GPU or no driver (any CUDA error).
int DeviceCount();

// The CUDA backend on `device_index`; Unavailable when that device cannot be used.
absl::StatusOr<std::unique_ptr<Ops>> MakeCudaOps(int device_index);

// The context (stream, scratch) behind a CUDA Ops, for CUDA-only extensions such as the 2:4
// kernels and NCCL; null when `ops` is not the CUDA backend.
CudaContext* ContextOf(Ops& ops);

// Makes a CUDA Ops run attention on the fp32 CUDA-core kernel (`on`) or, where supported, the
// bf16 tensor-core one (the default). InvalidArgument when `ops` is not the CUDA backend.
absl::Status SetFp32Attention(Ops& ops, bool on);

}  // namespace sparsescale::kernels::cuda

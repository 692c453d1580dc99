// 2:4 structured-sparse linear layer forward on sparse tensor cores (mma.sp, bf16, fp32
// accumulation): out[BT, OC] = inp[BT, C] @ W[OC, C]^T + bias, with W 2:4-sparse along its
// input dimension (every 4 consecutive inputs of a row hold at most 2 non-zeros).
//
// Only the forward product speeds up: the input gradient needs W^T 2:4 along the outputs (a
// transposable mask) and the weight gradient has no sparse operand, so both stay dense.
// Plain C++ (no CUDA headers). Functions take the CUDA Ops backend; with any other backend
// they return InvalidArgument. Not thread-safe (uses the backend's stream).
#pragma once

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/ops.h"

namespace sparsescale::kernels::cuda {

// A weight in the layout mma.sp reads: for each row, the two kept values of every group of 4
// (bf16, [rows, cols/2]) and their positions (2 bits each, ascending, 16 bits per 16 inputs:
// uint16 [rows, cols/16]).
struct Sparse24Weight {
  int rows = 0;
  int cols = 0;
  std::unique_ptr<DeviceBuffer> values;
  std::unique_ptr<DeviceBuffer> meta;
};

// Shapes the kernel handles: rows % 64 == 0 and cols % 64 == 0.
bool Sparse24ShapeSupported(int rows, int cols);

// Compresses w * mask ([rows, cols] fp32, mask 0/1) on the GPU. Returns InvalidArgument when a
// group of 4 keeps more than 2 elements (checked on the device, one 4-byte copy back) or the
// shape is unsupported.
absl::StatusOr<Sparse24Weight> CompressSparse24(Ops& ops, const float* w, const float* mask,
                                                int rows, int cols);
// The same into existing buffers (a training step recompresses after every optimiser update).
// With check_mask false the mask is trusted (it was checked when first compressed and has not
// changed): no flag copy back, no synchronisation, so a training step stays asynchronous.
absl::Status RecompressSparse24(Ops& ops, Sparse24Weight& sw, const float* w, const float* mask,
                                bool check_mask = true);

// out[BT, rows] = inp[BT, cols] @ W^T + bias (bias may be null). inp is fp32 and converted to
// bf16 while it is loaded. inp and out must be 16-byte aligned.
absl::Status Sparse24MatmulForward(Ops& ops, float* out, const float* inp, const Sparse24Weight& w,
                                   const float* bias, int BT);

}  // namespace sparsescale::kernels::cuda

// Trainer checkpoints as safetensors files a user can open from PyTorch or JAX:
//   weights        "transformer.wte.weight", "transformer.h.0.attn.c_attn.weight", ...,
//                  "lm_head.weight" (F32; linear weights are [out, in] like torch.nn.Linear)
//   masks          "mask.<weight name>" for wte, the body matrices and lm_head (F32 0/1)
//   AdamW moments  "optim.m.<name>", "optim.v.<name>" for every parameter (F32)
//   trainer state  "trainer.step" I64[1], "trainer.tokens" I64[1] (data position),
//                  "trainer.rng" I64[2] (sampler seed bits, windows drawn so far)
//   __metadata__   format, step, job_spec (normalised JSON), job_hash, cumulative FLOPs, wall
//                  time, sparsity, backend.
// Reads validate the file and every shape. Free functions; thread-compatible.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/ops.h"
#include "sparsescale/v1/job.pb.h"
#include "worker/trainer/gpt.h"

namespace sparsescale::trainer {

inline constexpr char kCheckpointFormat[] = "sparsescale.checkpoint.v1";

// Backend buffers of the trainer state (device pointers of `ops`).
struct StateBuffers {
  float* params = nullptr;  // layout.num_params()
  float* masks = nullptr;   // layout.num_mask()
  float* m = nullptr;       // layout.num_params()
  float* v = nullptr;       // layout.num_params()
};

// Scalars saved with the buffers; doubles round-trip exactly (printed with 17 digits).
struct CheckpointScalars {
  int64_t step = 0;
  int64_t tokens = 0;
  uint64_t seed = 0;
  double flops_dense = 0;
  double flops_sparse = 0;
  double wall_s = 0;
  double sparsity = 0;
};

// Writes atomically to `path`. `spec` must be normalised.
absl::Status WriteCheckpoint(const std::string& path, const sparsescale::v1::JobSpec& spec,
                             kernels::Ops* ops, const ParamLayout& layout,
                             const StateBuffers& state, const CheckpointScalars& scalars);

// Restores a checkpoint written by WriteCheckpoint for the same job (CanonicalJobSpecHash of
// its job_spec must equal that of `spec`, else InvalidArgument). Errors name the file and the
// tensor or key at fault.
absl::StatusOr<CheckpointScalars> ReadCheckpoint(const std::string& path,
                                                 const sparsescale::v1::JobSpec& spec,
                                                 kernels::Ops* ops, const ParamLayout& layout,
                                                 const StateBuffers& state);

// Reads just the job spec stored in a checkpoint (for `train --resume` without --config).
absl::StatusOr<sparsescale::v1::JobSpec> ReadCheckpointJobSpec(const std::string& path);

// Loads only the weights (every parameter tensor, shapes checked) into `params`: the dense
// starting point of PruningSpec.init_checkpoint. Masks and optimiser state are ignored.
absl::Status LoadWeights(const std::string& path, kernels::Ops* ops, const ParamLayout& layout,
                         float* params);

}  // namespace sparsescale::trainer

// The GPT decoder the trainer prunes: pre-norm blocks (LayerNorm -> causal attention -> residual,
// LayerNorm -> GELU MLP -> residual), learned positions, final LayerNorm and an untied lm_head
// (so the head is pruned on its own). All parameters live in one flat buffer at fixed offsets
// (llm.c style); gradients and AdamW moments use the same layout. Every computation goes
// through kernels::Ops. A Gpt is not thread-safe: one trainer owns one.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/ops.h"

namespace sparsescale::trainer {

struct GptConfig {
  int layers = 0;
  int width = 0;  // C
  int heads = 0;
  int context = 0;  // T
  int vocab = 0;    // V
};

// What a parameter tensor is, which decides pruning, weight decay and initialisation.
enum class TensorRole {
  kTokenEmbedding,     // wte [V, C]: pruned at the embedding target
  kPositionEmbedding,  // wpe [T, C]: never pruned
  kBodyMatrix,         // attention and MLP weights [out, in]: pruned at S
  kHead,               // lm_head [V, C]: pruned at the embedding target
  kNormWeight,         // never pruned, no decay
  kBias,               // never pruned, no decay
};

struct ParamTensor {
  std::string name;  // safetensors name, e.g. "transformer.h.0.attn.c_attn.weight"
  TensorRole role;
  int64_t rows = 0;  // shape [rows, cols]; 1-D tensors have rows == 1 and a 1-D shape
  int64_t cols = 0;
  size_t offset = 0;                 // into the parameter buffer, in floats
  size_t mask_offset = 0;            // into the mask buffer, in floats (maskable tensors only)
  bool maskable = false;             // has a mask: body matrices, wte and lm_head
  bool residual_projection = false;  // attn.c_proj / mlp.c_proj: init scaled by 1/sqrt(2L)
  size_t size() const { return static_cast<size_t>(rows * cols); }
  bool is_matrix() const { return role != TensorRole::kNormWeight && role != TensorRole::kBias; }
  std::vector<int64_t> shape() const;
};

// Fixed offsets of every tensor. Order: wte, wpe, then per block ln_1, attn.c_attn,
// attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj (weight before bias), then ln_f and lm_head.
class ParamLayout {
 public:
  explicit ParamLayout(const GptConfig& config);
  const std::vector<ParamTensor>& tensors() const { return tensors_; }
  const ParamTensor* Find(const std::string& name) const;
  size_t num_params() const { return num_params_; }
  size_t num_mask() const { return num_mask_; }
  // Sum of sizes of the tensors used in matrix products (body matrices + lm_head).
  int64_t matmul_params() const;

 private:
  void Add(const std::string& name, TensorRole role, int64_t rows, int64_t cols);
  std::vector<ParamTensor> tensors_;
  size_t num_params_ = 0;
  size_t num_mask_ = 0;
};

// The model: parameters, gradients, activations for one batch shape [B, T].
class Gpt {
 public:
  // Allocates everything for batches of `batch` sequences of config.context tokens.
  static absl::StatusOr<std::unique_ptr<Gpt>> Create(kernels::Ops* ops, const GptConfig& config,
                                                     int batch);
  ~Gpt();

  // GPT-2 initialisation from `seed`: N(0, 0.02) matrices (residual projections scaled by
  // 1/sqrt(2 * layers)), zero biases, unit norm weights.
  absl::Status InitWeights(uint64_t seed);

  // Told during the backward pass that the gradients of the parameters [offset, offset +
  // count) are final. Slices arrive from the end of the buffer towards the start, each ending
  // where the previous one began, and cover it all (kernels::BucketedAllReducer::Ready).
  using GradsReady = std::function<absl::Status(size_t offset, size_t count)>;

  // Zeroes the gradients, runs forward and backward on inputs/targets [B*T] (host int32), and
  // returns the mean cross-entropy of the batch (gradients are of that mean).
  absl::StatusOr<double> TrainStep(const int32_t* inputs, const int32_t* targets,
                                   const GradsReady& ready = nullptr);
  // Forward only: the mean cross-entropy of the batch.
  absl::StatusOr<double> Loss(const int32_t* inputs, const int32_t* targets);

  // From now on the forward products of the body matrices run on the backend's n:m-sparse
  // kernel where it has one (Ops::HasSparseMatmul), or on every body matrix when `everywhere`
  // (the CPU's reference packing; for tests and comparisons): packs weight * mask of each (the
  // masks buffer laid out by ParamTensor::mask_offset, exactly n:m by now). Returns how many
  // matrices were packed. The backward products stay dense (they need W^T, which is not n:m).
  absl::StatusOr<int> UseSparseMatmul(const float* masks, int n, int m, bool everywhere);
  // Re-packs the packed matrices after the weights changed (every optimiser step); nothing
  // to do before UseSparseMatmul.
  absl::Status RepackSparse();
  // Number of body matrices whose forward product runs sparse (0 before UseSparseMatmul).
  int sparse_matrices() const;

  const GptConfig& config() const { return config_; }
  const ParamLayout& layout() const { return layout_; }
  int batch() const { return batch_; }
  float* params() { return params_->f32(); }
  float* grads() { return grads_->f32(); }
  float* param(const ParamTensor& t) { return params() + t.offset; }
  float* grad(const ParamTensor& t) { return grads() + t.offset; }

 private:
  struct Acts;  // activation buffers
  Gpt(kernels::Ops* ops, const GptConfig& config, int batch);
  absl::Status Allocate();
  absl::StatusOr<double> Forward(const int32_t* inputs, const int32_t* targets, bool with_grad);
  absl::Status ForwardBlock(int l, const float* residual);
  absl::Status Backward(const GradsReady& ready);
  absl::Status BackwardBlock(int l, float* dres);
  const float* P(int index) { return params() + layout_.tensors()[index].offset; }
  float* G(int index) { return grads() + layout_.tensors()[index].offset; }
  int BlockTensor(int l, int k) const { return 2 + l * 12 + k; }
  // out = inp @ W^T + b for block l's weight tensor k (packed when UseSparseMatmul packed it).
  absl::Status Linear(float* out, const float* inp, int l, int k, int BT, int C, int OC);

  kernels::Ops* ops_;
  GptConfig config_;
  ParamLayout layout_;
  int batch_;
  std::unique_ptr<kernels::DeviceBuffer> params_;
  std::unique_ptr<kernels::DeviceBuffer> grads_;
  std::vector<std::unique_ptr<kernels::DeviceBuffer>> buffers_;  // owns every activation
  std::unique_ptr<Acts> acts_;
  size_t att_floats_ = 0;  // attention state per layer (Ops::AttentionStateFloats)
  // Per tensor index: the packed weight of a body matrix with a sparse forward, else null.
  std::vector<std::unique_ptr<kernels::PackedWeight>> packed_;
  const float* masks_ = nullptr;  // the trainer's, for RepackSparse
};

}  // namespace sparsescale::trainer

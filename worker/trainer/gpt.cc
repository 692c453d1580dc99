#include "worker/trainer/gpt.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "worker/trainer/rng.h"

namespace sparsescale::trainer {
namespace {

constexpr float kLayerNormEps = 1e-5f;
constexpr double kInitStd = 0.02;

// Indices of the tensors of one block, in layout order.
enum BlockSlot : int {
  kLn1W,
  kLn1B,
  kQkvW,
  kQkvB,
  kAttProjW,
  kAttProjB,
  kLn2W,
  kLn2B,
  kFcW,
  kFcB,
  kFcProjW,
  kFcProjB,
  kBlockTensors
};

}  // namespace

std::vector<int64_t> ParamTensor::shape() const {
  if (role == TensorRole::kNormWeight || role == TensorRole::kBias) {
    return {cols};
  }
  return {rows, cols};
}

ParamLayout::ParamLayout(const GptConfig& c) {
  const int64_t C = c.width;
  Add("transformer.wte.weight", TensorRole::kTokenEmbedding, c.vocab, C);
  Add("transformer.wpe.weight", TensorRole::kPositionEmbedding, c.context, C);
  for (int l = 0; l < c.layers; ++l) {
    const std::string p = absl::StrCat("transformer.h.", l, ".");
    Add(p + "ln_1.weight", TensorRole::kNormWeight, 1, C);
    Add(p + "ln_1.bias", TensorRole::kBias, 1, C);
    Add(p + "attn.c_attn.weight", TensorRole::kBodyMatrix, 3 * C, C);
    Add(p + "attn.c_attn.bias", TensorRole::kBias, 1, 3 * C);
    Add(p + "attn.c_proj.weight", TensorRole::kBodyMatrix, C, C);
    tensors_.back().residual_projection = true;
    Add(p + "attn.c_proj.bias", TensorRole::kBias, 1, C);
    Add(p + "ln_2.weight", TensorRole::kNormWeight, 1, C);
    Add(p + "ln_2.bias", TensorRole::kBias, 1, C);
    Add(p + "mlp.c_fc.weight", TensorRole::kBodyMatrix, 4 * C, C);
    Add(p + "mlp.c_fc.bias", TensorRole::kBias, 1, 4 * C);
    Add(p + "mlp.c_proj.weight", TensorRole::kBodyMatrix, C, 4 * C);
    tensors_.back().residual_projection = true;
    Add(p + "mlp.c_proj.bias", TensorRole::kBias, 1, C);
  }
  Add("transformer.ln_f.weight", TensorRole::kNormWeight, 1, C);
  Add("transformer.ln_f.bias", TensorRole::kBias, 1, C);
  Add("lm_head.weight", TensorRole::kHead, c.vocab, C);
}

void ParamLayout::Add(const std::string& name, TensorRole role, int64_t rows, int64_t cols) {
  ParamTensor t;
  t.name = name;
  t.role = role;
  t.rows = rows;
  t.cols = cols;
  t.offset = num_params_;
  t.maskable = role == TensorRole::kTokenEmbedding || role == TensorRole::kBodyMatrix ||
               role == TensorRole::kHead;
  if (t.maskable) {
    t.mask_offset = num_mask_;
    num_mask_ += t.size();
  }
  num_params_ += t.size();
  tensors_.push_back(std::move(t));
}

const ParamTensor* ParamLayout::Find(const std::string& name) const {
  for (const ParamTensor& t : tensors_) {
    if (t.name == name) {
      return &t;
    }
  }
  return nullptr;
}

int64_t ParamLayout::matmul_params() const {
  int64_t n = 0;
  for (const ParamTensor& t : tensors_) {
    if (t.role == TensorRole::kBodyMatrix || t.role == TensorRole::kHead) {
      n += static_cast<int64_t>(t.size());
    }
  }
  return n;
}

// Activation and backward scratch buffers. Per-layer tensors are [L, ...] slabs.
struct Gpt::Acts {
  int32_t* inputs = nullptr;   // [B*T]
  int32_t* targets = nullptr;  // [B*T]
  float* encoded = nullptr;    // [BT, C]
  float* ln1 = nullptr;        // [L, BT, C]
  float* ln1_mean = nullptr;   // [L, BT]
  float* ln1_rstd = nullptr;   // [L, BT]
  float* qkv = nullptr;        // [L, BT, 3C]
  float* atty = nullptr;       // [L, BT, C]
  float* att = nullptr;        // [L, AttentionStateFloats]
  float* residual2 = nullptr;  // [L, BT, C]
  float* ln2 = nullptr;        // [L, BT, C]
  float* ln2_mean = nullptr;   // [L, BT]
  float* ln2_rstd = nullptr;   // [L, BT]
  float* fch = nullptr;        // [L, BT, 4C]
  float* fch_gelu = nullptr;   // [L, BT, 4C]
  float* residual3 = nullptr;  // [L, BT, C]
  float* proj = nullptr;       // [BT, C] scratch: attention / MLP projection output
  float* lnf = nullptr;        // [BT, C]
  float* lnf_mean = nullptr;   // [BT]
  float* lnf_rstd = nullptr;   // [BT]
  float* logits = nullptr;     // [BT, V]; overwritten by its gradient in training
  float* losses = nullptr;     // [BT]
  // Backward scratch.
  float* dres = nullptr;   // [BT, C] gradient of the running residual stream
  float* dc = nullptr;     // [BT, C]
  float* d4c_a = nullptr;  // [BT, 4C] (also dqkv, 3C)
  float* d4c_b = nullptr;  // [BT, 4C]
  float* datt = nullptr;   // [AttentionStateFloats]
};

Gpt::Gpt(kernels::Ops* ops, const GptConfig& config, int batch)
    : ops_(ops), config_(config), layout_(config), batch_(batch), acts_(std::make_unique<Acts>()) {}

Gpt::~Gpt() = default;

absl::StatusOr<std::unique_ptr<Gpt>> Gpt::Create(kernels::Ops* ops, const GptConfig& config,
                                                 int batch) {
  SS_CHECK(config.layers > 0 && config.width > 0 && config.heads > 0 && config.context > 0 &&
           config.vocab > 0 && batch > 0 && config.width % config.heads == 0);
  std::unique_ptr<Gpt> gpt(new Gpt(ops, config, batch));
  RETURN_IF_ERROR(gpt->Allocate());
  return gpt;
}

absl::Status Gpt::Allocate() {
  ASSIGN_OR_RETURN(params_, ops_->Allocate(layout_.num_params() * sizeof(float)));
  ASSIGN_OR_RETURN(grads_, ops_->Allocate(layout_.num_params() * sizeof(float)));
  const size_t L = config_.layers, C = config_.width, V = config_.vocab;
  const size_t BT = static_cast<size_t>(batch_) * config_.context;
  const size_t att = ops_->AttentionStateFloats(kernels::AttentionShape{
      batch_, config_.context, config_.heads, config_.width / config_.heads});
  att_floats_ = att;
  auto alloc = [this](size_t floats) -> absl::StatusOr<float*> {
    ASSIGN_OR_RETURN(auto buffer, ops_->Allocate(std::max<size_t>(floats, 1) * sizeof(float)));
    float* p = buffer->f32();
    buffers_.push_back(std::move(buffer));
    return p;
  };
  Acts& a = *acts_;
  ASSIGN_OR_RETURN(float* inputs, alloc(BT));
  ASSIGN_OR_RETURN(float* targets, alloc(BT));
  a.inputs = reinterpret_cast<int32_t*>(inputs);
  a.targets = reinterpret_cast<int32_t*>(targets);
  ASSIGN_OR_RETURN(a.encoded, alloc(BT * C));
  ASSIGN_OR_RETURN(a.ln1, alloc(L * BT * C));
  ASSIGN_OR_RETURN(a.ln1_mean, alloc(L * BT));
  ASSIGN_OR_RETURN(a.ln1_rstd, alloc(L * BT));
  ASSIGN_OR_RETURN(a.qkv, alloc(L * BT * 3 * C));
  ASSIGN_OR_RETURN(a.atty, alloc(L * BT * C));
  ASSIGN_OR_RETURN(a.att, alloc(L * att));
  ASSIGN_OR_RETURN(a.residual2, alloc(L * BT * C));
  ASSIGN_OR_RETURN(a.ln2, alloc(L * BT * C));
  ASSIGN_OR_RETURN(a.ln2_mean, alloc(L * BT));
  ASSIGN_OR_RETURN(a.ln2_rstd, alloc(L * BT));
  ASSIGN_OR_RETURN(a.fch, alloc(L * BT * 4 * C));
  ASSIGN_OR_RETURN(a.fch_gelu, alloc(L * BT * 4 * C));
  ASSIGN_OR_RETURN(a.residual3, alloc(L * BT * C));
  ASSIGN_OR_RETURN(a.proj, alloc(BT * C));
  ASSIGN_OR_RETURN(a.lnf, alloc(BT * C));
  ASSIGN_OR_RETURN(a.lnf_mean, alloc(BT));
  ASSIGN_OR_RETURN(a.lnf_rstd, alloc(BT));
  ASSIGN_OR_RETURN(a.logits, alloc(BT * V));
  ASSIGN_OR_RETURN(a.losses, alloc(BT));
  ASSIGN_OR_RETURN(a.dres, alloc(BT * C));
  ASSIGN_OR_RETURN(a.dc, alloc(BT * C));
  ASSIGN_OR_RETURN(a.d4c_a, alloc(BT * 4 * C));
  ASSIGN_OR_RETURN(a.d4c_b, alloc(BT * 4 * C));
  ASSIGN_OR_RETURN(a.datt, alloc(att));
  return absl::OkStatus();
}

absl::Status Gpt::InitWeights(uint64_t seed) {
  std::vector<float> host(layout_.num_params(), 0.0f);
  Rng rng(seed);
  const double residual_std = kInitStd / std::sqrt(2.0 * config_.layers);
  for (const ParamTensor& t : layout_.tensors()) {
    float* p = host.data() + t.offset;
    if (t.role == TensorRole::kNormWeight) {
      std::fill(p, p + t.size(), 1.0f);
    } else if (t.is_matrix()) {
      const double std = t.residual_projection ? residual_std : kInitStd;
      for (size_t i = 0; i < t.size(); ++i) {
        p[i] = static_cast<float>(std * rng.NextNormal());
      }
    }
  }
  return ops_->CopyToDevice(params(), host.data(), host.size() * sizeof(float));
}

absl::StatusOr<double> Gpt::TrainStep(const int32_t* inputs, const int32_t* targets,
                                      const GradsReady& ready) {
  RETURN_IF_ERROR(ops_->Fill(grads(), 0.0f, layout_.num_params()));
  ASSIGN_OR_RETURN(double loss, Forward(inputs, targets, /*with_grad=*/true));
  RETURN_IF_ERROR(Backward(ready));
  return loss;
}

absl::StatusOr<double> Gpt::Loss(const int32_t* inputs, const int32_t* targets) {
  return Forward(inputs, targets, /*with_grad=*/false);
}

absl::Status Gpt::ForwardBlock(int l, const float* residual) {
  const int C = config_.width;
  const int BT = batch_ * config_.context;
  const size_t bt = static_cast<size_t>(BT);
  const size_t att_size = att_floats_;
  Acts& a = *acts_;
  float* ln1 = a.ln1 + l * bt * C;
  float* qkv = a.qkv + l * bt * 3 * C;
  float* atty = a.atty + l * bt * C;
  float* residual2 = a.residual2 + l * bt * C;
  float* ln2 = a.ln2 + l * bt * C;
  float* fch = a.fch + l * bt * 4 * C;
  float* fch_gelu = a.fch_gelu + l * bt * 4 * C;
  const kernels::AttentionShape shape{batch_, config_.context, config_.heads, C / config_.heads};
  auto w = [&](int k) { return P(BlockTensor(l, k)); };
  RETURN_IF_ERROR(ops_->LayerNormForward(ln1, a.ln1_mean + l * bt, a.ln1_rstd + l * bt, residual,
                                         w(kLn1W), w(kLn1B), BT, C, kLayerNormEps));
  RETURN_IF_ERROR(Linear(qkv, ln1, l, kQkvW, BT, C, 3 * C));
  RETURN_IF_ERROR(ops_->AttentionForward(atty, a.att + l * att_size, qkv, shape));
  RETURN_IF_ERROR(Linear(a.proj, atty, l, kAttProjW, BT, C, C));
  RETURN_IF_ERROR(ops_->ResidualForward(residual2, residual, a.proj, bt * C));
  RETURN_IF_ERROR(ops_->LayerNormForward(ln2, a.ln2_mean + l * bt, a.ln2_rstd + l * bt, residual2,
                                         w(kLn2W), w(kLn2B), BT, C, kLayerNormEps));
  RETURN_IF_ERROR(Linear(fch, ln2, l, kFcW, BT, C, 4 * C));
  RETURN_IF_ERROR(ops_->GeluForward(fch_gelu, fch, bt * 4 * C));
  RETURN_IF_ERROR(Linear(a.proj, fch_gelu, l, kFcProjW, BT, 4 * C, C));
  return ops_->ResidualForward(a.residual3 + l * bt * C, residual2, a.proj, bt * C);
}

absl::Status Gpt::Linear(float* out, const float* inp, int l, int k, int BT, int C, int OC) {
  const int index = BlockTensor(l, k);
  const float* bias = P(index + 1);  // every block weight is followed by its bias
  if (!packed_.empty() && packed_[static_cast<size_t>(index)] != nullptr) {
    return ops_->SparseMatmulForward(out, inp, *packed_[static_cast<size_t>(index)], bias, BT);
  }
  return ops_->MatmulForward(out, inp, P(index), bias, BT, C, OC);
}

absl::StatusOr<int> Gpt::UseSparseMatmul(const float* masks, int n, int m, bool everywhere) {
  const auto& tensors = layout_.tensors();
  std::vector<std::unique_ptr<kernels::PackedWeight>> packed(tensors.size());
  int count = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const ParamTensor& t = tensors[i];
    const int rows = static_cast<int>(t.rows), cols = static_cast<int>(t.cols);
    if (t.role != TensorRole::kBodyMatrix ||
        !(everywhere || ops_->HasSparseMatmul(rows, cols, n, m))) {
      continue;
    }
    auto made =
        ops_->PackSparseWeight(params() + t.offset, masks + t.mask_offset, rows, cols, n, m);
    if (!made.ok()) {
      return absl::Status(made.status().code(),
                          t.name + ": " + std::string(made.status().message()));
    }
    packed[i] = std::move(*made);
    ++count;
  }
  packed_ = std::move(packed);
  masks_ = masks;
  return count;
}

absl::Status Gpt::RepackSparse() {
  const auto& tensors = layout_.tensors();
  for (size_t i = 0; i < packed_.size(); ++i) {
    if (packed_[i] != nullptr) {
      RETURN_IF_ERROR(ops_->RepackSparseWeight(*packed_[i], params() + tensors[i].offset,
                                               masks_ + tensors[i].mask_offset));
    }
  }
  return absl::OkStatus();
}

int Gpt::sparse_matrices() const {
  return static_cast<int>(
      std::count_if(packed_.begin(), packed_.end(), [](const auto& p) { return p != nullptr; }));
}

absl::StatusOr<double> Gpt::Forward(const int32_t* inputs, const int32_t* targets, bool with_grad) {
  const int B = batch_, T = config_.context, C = config_.width, V = config_.vocab;
  const int BT = B * T;
  const int L = config_.layers;
  Acts& a = *acts_;
  RETURN_IF_ERROR(ops_->CopyToDevice(a.inputs, inputs, sizeof(int32_t) * BT));
  RETURN_IF_ERROR(ops_->CopyToDevice(a.targets, targets, sizeof(int32_t) * BT));
  RETURN_IF_ERROR(ops_->EncoderForward(a.encoded, a.inputs, P(0), P(1), B, T, C, V));
  const float* residual = a.encoded;
  for (int l = 0; l < L; ++l) {
    RETURN_IF_ERROR(ForwardBlock(l, residual));
    residual = a.residual3 + static_cast<size_t>(l) * BT * C;
  }
  const int lnf = 2 + L * kBlockTensors;
  RETURN_IF_ERROR(ops_->LayerNormForward(a.lnf, a.lnf_mean, a.lnf_rstd, residual, P(lnf),
                                         P(lnf + 1), BT, C, kLayerNormEps));
  RETURN_IF_ERROR(ops_->MatmulForward(a.logits, a.lnf, P(lnf + 2), nullptr, BT, C, V));
  RETURN_IF_ERROR(ops_->CrossEntropyForwardBackward(a.losses, with_grad ? a.logits : nullptr,
                                                    a.logits, a.targets, BT, V, V,
                                                    1.0f / static_cast<float>(BT)));
  std::vector<float> losses(BT);
  RETURN_IF_ERROR(ops_->CopyToHost(losses.data(), a.losses, sizeof(float) * BT));
  double sum = 0;
  for (float x : losses) {
    sum += x;
  }
  return sum / BT;
}

absl::Status Gpt::BackwardBlock(int l, float* dres) {
  const int C = config_.width;
  const int BT = batch_ * config_.context;
  const size_t bt = static_cast<size_t>(BT);
  const size_t att_size = att_floats_;
  Acts& a = *acts_;
  const float* residual = l == 0 ? a.encoded : a.residual3 + (l - 1) * bt * C;
  const kernels::AttentionShape shape{batch_, config_.context, config_.heads, C / config_.heads};
  auto w = [&](int k) { return P(BlockTensor(l, k)); };
  auto g = [&](int k) { return G(BlockTensor(l, k)); };
  // MLP: residual3 = residual2 + c_proj(gelu(c_fc(ln_2(residual2)))).
  float* dfch_gelu = a.d4c_a;
  float* dfch = a.d4c_b;
  RETURN_IF_ERROR(ops_->Fill(dfch_gelu, 0.0f, bt * 4 * C));
  RETURN_IF_ERROR(ops_->MatmulBackward(dfch_gelu, g(kFcProjW), g(kFcProjB), dres,
                                       a.fch_gelu + l * bt * 4 * C, w(kFcProjW), BT, 4 * C, C));
  RETURN_IF_ERROR(ops_->Fill(dfch, 0.0f, bt * 4 * C));
  RETURN_IF_ERROR(ops_->GeluBackward(dfch, a.fch + l * bt * 4 * C, dfch_gelu, bt * 4 * C));
  RETURN_IF_ERROR(ops_->Fill(a.dc, 0.0f, bt * C));
  RETURN_IF_ERROR(ops_->MatmulBackward(a.dc, g(kFcW), g(kFcB), dfch, a.ln2 + l * bt * C, w(kFcW),
                                       BT, C, 4 * C));
  // dres (gradient of residual3, which is also that of residual2 through the skip) gains the
  // ln_2 path and becomes the full gradient of residual2.
  RETURN_IF_ERROR(ops_->LayerNormBackward(dres, g(kLn2W), g(kLn2B), a.dc, a.residual2 + l * bt * C,
                                          w(kLn2W), a.ln2_mean + l * bt, a.ln2_rstd + l * bt, BT,
                                          C));
  // Attention: residual2 = residual + c_proj(attn(c_attn(ln_1(residual)))).
  RETURN_IF_ERROR(ops_->Fill(a.dc, 0.0f, bt * C));
  RETURN_IF_ERROR(ops_->MatmulBackward(a.dc, g(kAttProjW), g(kAttProjB), dres, a.atty + l * bt * C,
                                       w(kAttProjW), BT, C, C));
  float* dqkv = a.d4c_a;
  RETURN_IF_ERROR(ops_->Fill(dqkv, 0.0f, bt * 3 * C));
  RETURN_IF_ERROR(ops_->AttentionBackward(dqkv, a.datt, a.dc, a.qkv + l * bt * 3 * C,
                                          a.atty + l * bt * C, a.att + l * att_size, shape));
  RETURN_IF_ERROR(ops_->Fill(a.dc, 0.0f, bt * C));
  RETURN_IF_ERROR(ops_->MatmulBackward(a.dc, g(kQkvW), g(kQkvB), dqkv, a.ln1 + l * bt * C, w(kQkvW),
                                       BT, C, 3 * C));
  return ops_->LayerNormBackward(dres, g(kLn1W), g(kLn1B), a.dc, residual, w(kLn1W),
                                 a.ln1_mean + l * bt, a.ln1_rstd + l * bt, BT, C);
}

absl::Status Gpt::Backward(const GradsReady& ready) {
  const int B = batch_, T = config_.context, C = config_.width, V = config_.vocab;
  const int BT = B * T;
  const int L = config_.layers;
  const size_t bt = static_cast<size_t>(BT);
  Acts& a = *acts_;
  const int lnf = 2 + L * kBlockTensors;
  // a.logits now holds dlogits (CrossEntropyForwardBackward wrote the gradient in place).
  RETURN_IF_ERROR(ops_->Fill(a.dc, 0.0f, bt * C));
  RETURN_IF_ERROR(
      ops_->MatmulBackward(a.dc, G(lnf + 2), nullptr, a.logits, a.lnf, P(lnf + 2), BT, C, V));
  RETURN_IF_ERROR(ops_->Fill(a.dres, 0.0f, bt * C));
  const float* last = a.residual3 + (L - 1) * bt * C;
  RETURN_IF_ERROR(ops_->LayerNormBackward(a.dres, G(lnf), G(lnf + 1), a.dc, last, P(lnf),
                                          a.lnf_mean, a.lnf_rstd, BT, C));
  // Parameters [offset(first), end_of_ready) are final: tell `ready` (tensors finish in
  // reverse layout order: ln_f and the head, each block from the last, then the embeddings).
  size_t end_of_ready = layout_.num_params();
  auto finished_from = [&](int first) -> absl::Status {
    const size_t offset = layout_.tensors()[static_cast<size_t>(first)].offset;
    const size_t count = end_of_ready - offset;
    end_of_ready = offset;
    return ready ? ready(offset, count) : absl::OkStatus();
  };
  RETURN_IF_ERROR(finished_from(lnf));
  for (int l = L - 1; l >= 0; --l) {
    RETURN_IF_ERROR(BackwardBlock(l, a.dres));
    RETURN_IF_ERROR(finished_from(BlockTensor(l, 0)));
  }
  RETURN_IF_ERROR(ops_->EncoderBackward(G(0), G(1), a.dres, a.inputs, B, T, C));
  return finished_from(0);
}

}  // namespace sparsescale::trainer

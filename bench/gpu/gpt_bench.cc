// GPT-2-124M-shaped training-step throughput on the CUDA backend: forward, backward and AdamW
// of a compact GPT written directly against kernels/ops.h (the trainer's model, without
// protobuf or data loading), dense or with the four linear layers of every block 2:4-sparse
// in the forward product (sparse tensor cores). Prints one markdown table row per mode, then
// the cost of one gradual-magnitude mask update as the trainer runs it (worker/trainer/
// pruning.cc UpdateMasks + trainer.cc UpdateDensities) against the training step. First, the
// attention kernels alone at the model's shape: the bf16 tensor-core one (the default) against
// the fp32 CUDA-core one.
//
// Usage: gpt_bench [--mode dense|dense-fp32att|sparse24|both|all] [--batch B] [--steps N]
//                  [--layers L] [--context T] [--mask-reps R] [--attention-reps R]
// Modes: both = dense and sparse24; all = those and dense-fp32att (the dense step with the fp32
// attention kernel: the baseline for the tensor-core attention's effect on the whole step).
// --attention-reps (default 10, 0 skips): timed attention forward + backward calls.
// --mask-reps (default 5, 0 skips): timed mask updates (median reported) after 2 warm-ups.
// --batch 0 (default) picks the largest batch that fits in 80% of free GPU memory (max 64).
// Exits 0 with a message when no GPU is usable.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "common/status.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/sparse24.h"
#include "kernels/ops.h"

namespace sparsescale::bench {
namespace {

using kernels::DeviceBuffer;
using kernels::Ops;
using kernels::cuda::Sparse24Weight;

struct Config {
  int L = 12, C = 768, NH = 12, T = 1024, V = 50257, Vp = 50304;
  int B = 0;
  int steps = 10;
  int warmup = 3;
  int mask_reps = 5;
  int attention_reps = 10;
  std::string mode = "both";
};

// The paper's schedule (Frantar et al. 2024): masks recomputed every 100 steps inside the
// window [25%, 75%] of training, none outside it.
constexpr int kMaskIntervalSteps = 100;
constexpr double kWindowFractionOfRun = 0.5;
// Body sparsity of the timed update: s(t) halfway through the window for a 50% target,
// 0.5 * (1 - 0.5^3). Mid-window rather than 50% itself because at the end of the window a 2:4
// mask has nothing left to fill (keep == the n:m floor), which would flatter the n:m path.
constexpr double kTimedTarget = 0.5;
constexpr double kTimedSparsity = kTimedTarget * (1.0 - 0.125);

// One maskable tensor as the trainer's ParamLayout has it ([rows, cols] at a float offset).
struct MaskedTensor {
  size_t offset;
  int rows, cols;
  bool body;  // attention / MLP weight (pruned at the body sparsity; n:m in 2:4 mode)
  size_t size() const { return size_t(rows) * cols; }
};

struct MaskUpdateTiming {
  double body_ms = 0;   // the block weight matrices only (48 for 12 layers)
  double total_ms = 0;  // every maskable tensor: the block weights, token embedding and head
};

// Offsets (in floats) of every parameter tensor in the one flat buffer.
struct Layout {
  size_t wte, wpe, lnfw, lnfb, total;
  struct LayerOffsets {
    size_t ln1w, ln1b, qkvw, qkvb, attw, attb, ln2w, ln2b, fcw, fcb, projw, projb;
  };
  std::vector<LayerOffsets> layers;
};

Layout MakeLayout(const Config& c) {
  Layout l;
  size_t at = 0;
  auto take = [&at](size_t n) {
    const size_t o = at;
    at += n;
    return o;
  };
  const size_t C = c.C;
  l.wte = take(size_t(c.Vp) * C);
  l.wpe = take(size_t(c.T) * C);
  for (int i = 0; i < c.L; ++i) {
    Layout::LayerOffsets o;
    o.ln1w = take(C);
    o.ln1b = take(C);
    o.qkvw = take(3 * C * C);
    o.qkvb = take(3 * C);
    o.attw = take(C * C);
    o.attb = take(C);
    o.ln2w = take(C);
    o.ln2b = take(C);
    o.fcw = take(4 * C * C);
    o.fcb = take(4 * C);
    o.projw = take(4 * C * C);
    o.projb = take(C);
    l.layers.push_back(o);
  }
  l.lnfw = take(C);
  l.lnfb = take(C);
  l.total = at;
  return l;
}

// Activations saved for the backward pass, per layer, and the shared backward scratch.
struct Acts {
  std::unique_ptr<DeviceBuffer> mem;
  float *encoded, *lnf, *lnf_mean, *lnf_rstd, *logits, *losses;
  struct LayerActs {
    float *ln1, *ln1_mean, *ln1_rstd, *qkv, *atty, *lse, *attproj, *res2, *ln2, *ln2_mean,
        *ln2_rstd, *fch, *fch_gelu, *fcproj, *res3;
  };
  std::vector<LayerActs> layers;
  float *dres, *dln, *dqkv, *datty, *dfch, *dfch_gelu, *datt_scratch;
};

size_t ActFloats(const Config& c, int B) {
  const size_t BT = size_t(B) * c.T, C = c.C, lse = size_t(B) * c.NH * c.T;
  const size_t per_layer = BT * (18 * C + 4) + lse;
  const size_t top = BT * (2 * C + 2 + size_t(c.Vp) + 1);
  const size_t back = BT * (C * 3 + 3 * C + 8 * C) + lse;
  return per_layer * c.L + top + back + 64 * 64;  // + slack for 16-byte rounding
}

absl::StatusOr<Acts> AllocateActs(Ops& ops, const Config& c, int B) {
  Acts a;
  ASSIGN_OR_RETURN(a.mem, ops.Allocate(ActFloats(c, B) * sizeof(float)));
  float* at = a.mem->f32();
  auto take = [&at](size_t n) {
    float* p = at;
    at += (n + 3) / 4 * 4;  // keep every array 16-byte aligned (float4 loads)
    return p;
  };
  const size_t BT = size_t(B) * c.T, C = c.C, lse = size_t(B) * c.NH * c.T;
  a.encoded = take(BT * C);
  for (int l = 0; l < c.L; ++l) {
    Acts::LayerActs x;
    x.ln1 = take(BT * C);
    x.ln1_mean = take(BT);
    x.ln1_rstd = take(BT);
    x.qkv = take(3 * BT * C);
    x.atty = take(BT * C);
    x.lse = take(lse);
    x.attproj = take(BT * C);
    x.res2 = take(BT * C);
    x.ln2 = take(BT * C);
    x.ln2_mean = take(BT);
    x.ln2_rstd = take(BT);
    x.fch = take(4 * BT * C);
    x.fch_gelu = take(4 * BT * C);
    x.fcproj = take(BT * C);
    x.res3 = take(BT * C);
    a.layers.push_back(x);
  }
  a.lnf = take(BT * C);
  a.lnf_mean = take(BT);
  a.lnf_rstd = take(BT);
  a.logits = take(BT * c.Vp);
  a.losses = take(BT);
  a.dres = take(BT * C);
  a.dln = take(BT * C);
  a.dqkv = take(3 * BT * C);
  a.datty = take(BT * C);
  a.dfch = take(4 * BT * C);
  a.dfch_gelu = take(4 * BT * C);
  a.datt_scratch = take(lse);
  return a;
}

// Deterministic uniform values with standard deviation `std` (xorshift: fast for 124M values).
std::vector<float> InitParams(const Config& c, const Layout& l) {
  std::vector<float> p(l.total, 0.0f);
  uint64_t s = 0x9E3779B97F4A7C15ull;
  auto uniform = [&s](float std) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    const float u = static_cast<float>(s >> 40) / static_cast<float>(1 << 24);  // [0, 1)
    return (2.0f * u - 1.0f) * std * 1.7320508f;
  };
  auto fill = [&](size_t off, size_t n, float std) {
    for (size_t i = 0; i < n; ++i) {
      p[off + i] = uniform(std);
    }
  };
  const size_t C = c.C;
  fill(l.wte, size_t(c.V) * C, 0.02f);  // padded vocabulary rows stay zero
  fill(l.wpe, size_t(c.T) * C, 0.01f);
  for (const auto& o : l.layers) {
    std::fill(p.begin() + o.ln1w, p.begin() + o.ln1w + C, 1.0f);
    std::fill(p.begin() + o.ln2w, p.begin() + o.ln2w + C, 1.0f);
    fill(o.qkvw, 3 * C * C, 0.02f);
    fill(o.attw, C * C, 0.02f / std::sqrt(2.0f * c.L));
    fill(o.fcw, 4 * C * C, 0.02f);
    fill(o.projw, 4 * C * C, 0.02f / std::sqrt(2.0f * c.L));
  }
  std::fill(p.begin() + l.lnfw, p.begin() + l.lnfw + C, 1.0f);
  return p;
}

struct LinearRef {
  size_t w, b;
  int in, out;
};

std::vector<LinearRef> Linears(const Config& c, const Layout::LayerOffsets& o) {
  return {{o.qkvw, o.qkvb, c.C, 3 * c.C},
          {o.attw, o.attb, c.C, c.C},
          {o.fcw, o.fcb, c.C, 4 * c.C},
          {o.projw, o.projb, 4 * c.C, c.C}};
}

// The trainer's maskable tensors in its order: wte, the 4 weights of every block, lm_head.
// gpt_bench ties the head to wte, so the head's update runs on wte's storage (same size and
// the same work as the trainer's untied [V, C] head).
std::vector<MaskedTensor> MaskedTensors(const Config& c, const Layout& l) {
  std::vector<MaskedTensor> t{{l.wte, c.V, c.C, false}};
  for (const auto& o : l.layers) {
    for (const LinearRef& r : Linears(c, o)) {
      t.push_back({r.w, r.out, r.in, true});
    }
  }
  t.push_back({l.wte, c.V, c.C, false});
  return t;
}

// round(size * (1 - s)) as worker/trainer/pruning.cc KeepCount.
size_t KeepCount(size_t size, double sparsity) {
  const double keep = std::round(static_cast<double>(size) * (1.0 - sparsity));
  return static_cast<size_t>(std::clamp(keep, 0.0, static_cast<double>(size)));
}

double Median(std::vector<double> x) {
  std::sort(x.begin(), x.end());
  const size_t h = x.size() / 2;
  return x.size() % 2 == 1 ? x[h] : 0.5 * (x[h - 1] + x[h]);
}

class GptBench {
 public:
  GptBench(Ops& ops, Config c, bool sparse)
      : ops_(ops), c_(c), sparse_(sparse), l_(MakeLayout(c)) {}

  absl::Status Init(int B) {
    B_ = B;
    const size_t bytes = l_.total * sizeof(float);
    ASSIGN_OR_RETURN(params_, ops_.Allocate(bytes));
    ASSIGN_OR_RETURN(grads_, ops_.Allocate(bytes));
    ASSIGN_OR_RETURN(m_, ops_.Allocate(bytes));
    ASSIGN_OR_RETURN(v_, ops_.Allocate(bytes));
    const std::vector<float> host = InitParams(c_, l_);
    RETURN_IF_ERROR(ops_.CopyToDevice(params_->data(), host.data(), bytes));
    ASSIGN_OR_RETURN(acts_, AllocateActs(ops_, c_, B));
    const size_t BT = size_t(B) * c_.T;
    std::vector<int32_t> tokens(BT), targets(BT);
    for (size_t i = 0; i < BT; ++i) {
      tokens[i] = static_cast<int32_t>((i * 7919 + 13) % c_.V);
      targets[i] = static_cast<int32_t>((i * 104729 + 7) % c_.V);
    }
    ASSIGN_OR_RETURN(tokens_, ops_.Allocate(BT * sizeof(int32_t)));
    ASSIGN_OR_RETURN(targets_, ops_.Allocate(BT * sizeof(int32_t)));
    RETURN_IF_ERROR(ops_.CopyToDevice(tokens_->data(), tokens.data(), BT * sizeof(int32_t)));
    RETURN_IF_ERROR(ops_.CopyToDevice(targets_->data(), targets.data(), BT * sizeof(int32_t)));
    return sparse_ ? InitSparse() : absl::OkStatus();
  }

  // One optimiser step; returns the mean loss of the batch (synchronises).
  absl::StatusOr<float> Step(int64_t step) {
    RETURN_IF_ERROR(Forward());
    RETURN_IF_ERROR(Backward());
    kernels::AdamWParams p;
    p.lr = 3e-4f;
    p.weight_decay = 0.0f;
    p.step = step;
    RETURN_IF_ERROR(ops_.AdamW(P(0), grads_->f32(), m_->f32(), v_->f32(),
                               sparse_ ? mask_->f32() : nullptr, l_.total, p));
    if (sparse_) {
      RETURN_IF_ERROR(Recompress());
    }
    std::vector<float> losses(size_t(B_) * c_.T);
    RETURN_IF_ERROR(ops_.CopyToHost(losses.data(), acts_.losses, losses.size() * sizeof(float)));
    double sum = 0.0;
    for (float x : losses) {
      sum += x;
    }
    return static_cast<float>(sum / losses.size());
  }

  size_t parameters() const { return l_.total; }

  // Median wall time of one mask update done as the trainer does it at an update step, after
  // 2 untimed ones. Each starts from the dense initial weights and all-ones masks (restored
  // untimed), so that every selection is a real one: re-pruning weights already at the target,
  // or the 2:4 mode's weights (exactly 2:4 from the start), would turn the fill into one big
  // tie among zeros. Overwrites weights and masks: call after the timed training steps.
  absl::StatusOr<MaskUpdateTiming> TimeMaskUpdate(int reps) {
    if (!mask_) {
      ASSIGN_OR_RETURN(mask_, ops_.Allocate(l_.total * sizeof(float)));
    }
    const size_t bytes = l_.total * sizeof(float);
    ASSIGN_OR_RETURN(auto dense, ops_.Allocate(bytes));
    const std::vector<float> host = InitParams(c_, l_);
    RETURN_IF_ERROR(ops_.CopyToDevice(dense->data(), host.data(), bytes));
    auto timed = [&](bool body_only) -> absl::StatusOr<double> {
      RETURN_IF_ERROR(ops_.CopyDeviceToDevice(params_->data(), dense->data(), bytes));
      RETURN_IF_ERROR(ops_.Fill(mask_->f32(), 1.0f, l_.total));
      return TimedUpdate(body_only);
    };
    std::vector<double> body, total;
    for (int i = 0; i < reps + 2; ++i) {
      ASSIGN_OR_RETURN(const double b, timed(/*body_only=*/true));
      ASSIGN_OR_RETURN(const double t, timed(/*body_only=*/false));
      if (i >= 2) {
        body.push_back(b);
        total.push_back(t);
      }
    }
    return MaskUpdateTiming{Median(body), Median(total)};
  }

 private:
  // One update in milliseconds, synchronised on both ends. Mirrors UpdateMasks: a scratch mask
  // as large as the largest maskable tensor, per tensor the new mask (n:m for block weights in
  // 2:4 mode, magnitude otherwise; embedding and head at 1 - sqrt(1 - s)), then mask *= new,
  // w *= mask, m *= mask, v *= mask; then UpdateDensities' CountNonZero of every mask.
  absl::StatusOr<double> TimedUpdate(bool body_only) {
    const double s_body = kTimedSparsity, s_embed = 1.0 - std::sqrt(1.0 - kTimedSparsity);
    std::vector<MaskedTensor> tensors = MaskedTensors(c_, l_);
    if (body_only) {
      tensors.erase(std::remove_if(tensors.begin(), tensors.end(),
                                   [](const MaskedTensor& t) { return !t.body; }),
                    tensors.end());
    }
    size_t largest = 0;
    for (const MaskedTensor& t : tensors) {
      largest = std::max(largest, t.size());
    }
    if (cudaDeviceSynchronize() != cudaSuccess) {
      return absl::InternalError("cudaDeviceSynchronize failed before the mask update");
    }
    const auto t0 = std::chrono::steady_clock::now();
    ASSIGN_OR_RETURN(auto scratch, ops_.Allocate(largest * sizeof(float)));
    std::vector<int64_t> want;  // kept per tensor: masks start all ones and weights are dense
    for (const MaskedTensor& t : tensors) {
      const size_t n = t.size();
      float* w = P(t.offset);
      float* mask = mask_->f32() + t.offset;
      if (sparse_ && t.body) {
        const size_t keep = std::max(n / 4 * 2, KeepCount(n, s_body));
        RETURN_IF_ERROR(ops_.NmMask(scratch->f32(), w, t.rows, t.cols, 2, 4, keep));
        want.push_back(static_cast<int64_t>(keep));
      } else {
        const size_t keep = KeepCount(n, t.body ? s_body : s_embed);
        RETURN_IF_ERROR(ops_.MagnitudeMask(scratch->f32(), w, n, keep));
        want.push_back(static_cast<int64_t>(keep));
      }
      RETURN_IF_ERROR(ops_.ApplyMask(mask, scratch->f32(), n));
      RETURN_IF_ERROR(ops_.ApplyMask(w, mask, n));
      RETURN_IF_ERROR(ops_.ApplyMask(m_->f32() + t.offset, mask, n));
      RETURN_IF_ERROR(ops_.ApplyMask(v_->f32() + t.offset, mask, n));
    }
    int64_t kept_total = 0;
    for (const MaskedTensor& t : tensors) {
      int64_t kept = 0;
      RETURN_IF_ERROR(ops_.CountNonZero(&kept, mask_->f32() + t.offset, t.size()));
      kept_total += kept;
    }
    scratch.reset();
    if (cudaDeviceSynchronize() != cudaSuccess) {
      return absl::InternalError("cudaDeviceSynchronize failed after the mask update");
    }
    const double ms =
        1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // A check that the update did its work: the head (on wte's storage) re-selects wte's mask,
    // so wte's count is wanted twice, like every other tensor's once.
    const int64_t want_total = std::accumulate(want.begin(), want.end(), int64_t{0});
    if (kept_total != want_total) {
      return absl::InternalError("mask update kept " + std::to_string(kept_total) +
                                 " weights, expected " + std::to_string(want_total));
    }
    return ms;
  }

  float* P(size_t off) { return params_->f32() + off; }
  float* G(size_t off) { return grads_->f32() + off; }

  absl::Status InitSparse() {
    ASSIGN_OR_RETURN(mask_, ops_.Allocate(l_.total * sizeof(float)));
    RETURN_IF_ERROR(ops_.Fill(mask_->f32(), 1.0f, l_.total));
    for (const auto& o : l_.layers) {
      for (const LinearRef& r : Linears(c_, o)) {
        const size_t n = size_t(r.in) * r.out;
        RETURN_IF_ERROR(ops_.NmMask(mask_->f32() + r.w, P(r.w), r.out, r.in, 2, 4, n / 2));
        RETURN_IF_ERROR(ops_.ApplyMask(P(r.w), mask_->f32() + r.w, n));
        ASSIGN_OR_RETURN(Sparse24Weight sw, kernels::cuda::CompressSparse24(
                                                ops_, P(r.w), mask_->f32() + r.w, r.out, r.in));
        compressed_.push_back(std::move(sw));
      }
    }
    return absl::OkStatus();
  }

  absl::Status Recompress() {
    size_t i = 0;
    for (const auto& o : l_.layers) {
      for (const LinearRef& r : Linears(c_, o)) {
        RETURN_IF_ERROR(kernels::cuda::RecompressSparse24(ops_, compressed_[i++], P(r.w),
                                                          mask_->f32() + r.w,
                                                          /*check_mask=*/false));
      }
    }
    return absl::OkStatus();
  }

  // Linear layer forward: dense cuBLASLt, or the 2:4 kernel for block weights in sparse mode.
  absl::Status Linear(float* out, const float* inp, const LinearRef& r, int layer, int which) {
    const int BT = B_ * c_.T;
    if (sparse_) {
      return kernels::cuda::Sparse24MatmulForward(ops_, out, inp, compressed_[layer * 4 + which],
                                                  P(r.b), BT);
    }
    return ops_.MatmulForward(out, inp, P(r.w), P(r.b), BT, r.in, r.out);
  }

  absl::Status Forward() {
    const int BT = B_ * c_.T, C = c_.C;
    const kernels::AttentionShape s{B_, c_.T, c_.NH, C / c_.NH};
    RETURN_IF_ERROR(ops_.EncoderForward(acts_.encoded, tokens_->i32(), P(l_.wte), P(l_.wpe), B_,
                                        c_.T, C, c_.V));
    const float* residual = acts_.encoded;
    for (int l = 0; l < c_.L; ++l) {
      const auto& o = l_.layers[l];
      auto& a = acts_.layers[l];
      const auto lin = Linears(c_, o);
      RETURN_IF_ERROR(ops_.LayerNormForward(a.ln1, a.ln1_mean, a.ln1_rstd, residual, P(o.ln1w),
                                            P(o.ln1b), BT, C, 1e-5f));
      RETURN_IF_ERROR(Linear(a.qkv, a.ln1, lin[0], l, 0));
      RETURN_IF_ERROR(ops_.AttentionForward(a.atty, a.lse, a.qkv, s));
      RETURN_IF_ERROR(Linear(a.attproj, a.atty, lin[1], l, 1));
      RETURN_IF_ERROR(ops_.ResidualForward(a.res2, residual, a.attproj, size_t(BT) * C));
      RETURN_IF_ERROR(ops_.LayerNormForward(a.ln2, a.ln2_mean, a.ln2_rstd, a.res2, P(o.ln2w),
                                            P(o.ln2b), BT, C, 1e-5f));
      RETURN_IF_ERROR(Linear(a.fch, a.ln2, lin[2], l, 2));
      RETURN_IF_ERROR(ops_.GeluForward(a.fch_gelu, a.fch, size_t(BT) * 4 * C));
      RETURN_IF_ERROR(Linear(a.fcproj, a.fch_gelu, lin[3], l, 3));
      RETURN_IF_ERROR(ops_.ResidualForward(a.res3, a.res2, a.fcproj, size_t(BT) * C));
      residual = a.res3;
    }
    RETURN_IF_ERROR(ops_.LayerNormForward(acts_.lnf, acts_.lnf_mean, acts_.lnf_rstd, residual,
                                          P(l_.lnfw), P(l_.lnfb), BT, C, 1e-5f));
    RETURN_IF_ERROR(ops_.MatmulForward(acts_.logits, acts_.lnf, P(l_.wte), nullptr, BT, C, c_.Vp));
    return ops_.CrossEntropyForwardBackward(acts_.losses, acts_.logits, acts_.logits,
                                            targets_->i32(), BT, c_.V, c_.Vp, 1.0f / BT);
  }

  absl::Status Zero(float* x, size_t n) { return ops_.Fill(x, 0.0f, n); }

  absl::Status LayerBackward(int l) {
    const int BT = B_ * c_.T, C = c_.C;
    const size_t n = size_t(BT) * C;
    const kernels::AttentionShape s{B_, c_.T, c_.NH, C / c_.NH};
    const auto& o = l_.layers[l];
    const auto& a = acts_.layers[l];
    const float* residual_in = l == 0 ? acts_.encoded : acts_.layers[l - 1].res3;
    RETURN_IF_ERROR(Zero(acts_.dfch_gelu, 4 * n));
    RETURN_IF_ERROR(ops_.MatmulBackward(acts_.dfch_gelu, G(o.projw), G(o.projb), acts_.dres,
                                        a.fch_gelu, P(o.projw), BT, 4 * C, C));
    RETURN_IF_ERROR(Zero(acts_.dfch, 4 * n));
    RETURN_IF_ERROR(ops_.GeluBackward(acts_.dfch, a.fch, acts_.dfch_gelu, 4 * n));
    RETURN_IF_ERROR(Zero(acts_.dln, n));
    RETURN_IF_ERROR(ops_.MatmulBackward(acts_.dln, G(o.fcw), G(o.fcb), acts_.dfch, a.ln2, P(o.fcw),
                                        BT, C, 4 * C));
    RETURN_IF_ERROR(ops_.LayerNormBackward(acts_.dres, G(o.ln2w), G(o.ln2b), acts_.dln, a.res2,
                                           P(o.ln2w), a.ln2_mean, a.ln2_rstd, BT, C));
    RETURN_IF_ERROR(Zero(acts_.datty, n));
    RETURN_IF_ERROR(ops_.MatmulBackward(acts_.datty, G(o.attw), G(o.attb), acts_.dres, a.atty,
                                        P(o.attw), BT, C, C));
    RETURN_IF_ERROR(Zero(acts_.dqkv, 3 * n));
    RETURN_IF_ERROR(ops_.AttentionBackward(acts_.dqkv, acts_.datt_scratch, acts_.datty, a.qkv,
                                           a.atty, a.lse, s));
    RETURN_IF_ERROR(Zero(acts_.dln, n));
    RETURN_IF_ERROR(ops_.MatmulBackward(acts_.dln, G(o.qkvw), G(o.qkvb), acts_.dqkv, a.ln1,
                                        P(o.qkvw), BT, C, 3 * C));
    return ops_.LayerNormBackward(acts_.dres, G(o.ln1w), G(o.ln1b), acts_.dln, residual_in,
                                  P(o.ln1w), a.ln1_mean, a.ln1_rstd, BT, C);
  }

  absl::Status Backward() {
    const int BT = B_ * c_.T, C = c_.C;
    const size_t n = size_t(BT) * C;
    RETURN_IF_ERROR(Zero(grads_->f32(), l_.total));
    RETURN_IF_ERROR(Zero(acts_.dln, n));
    RETURN_IF_ERROR(ops_.MatmulBackward(acts_.dln, G(l_.wte), nullptr, acts_.logits, acts_.lnf,
                                        P(l_.wte), BT, C, c_.Vp));
    RETURN_IF_ERROR(Zero(acts_.dres, n));
    RETURN_IF_ERROR(ops_.LayerNormBackward(acts_.dres, G(l_.lnfw), G(l_.lnfb), acts_.dln,
                                           acts_.layers.back().res3, P(l_.lnfw), acts_.lnf_mean,
                                           acts_.lnf_rstd, BT, C));
    for (int l = c_.L - 1; l >= 0; --l) {
      RETURN_IF_ERROR(LayerBackward(l));
    }
    return ops_.EncoderBackward(G(l_.wte), G(l_.wpe), acts_.dres, tokens_->i32(), B_, c_.T, C);
  }

  Ops& ops_;
  Config c_;
  bool sparse_;
  Layout l_;
  int B_ = 0;
  std::unique_ptr<DeviceBuffer> params_, grads_, m_, v_, mask_, tokens_, targets_;
  Acts acts_;
  std::vector<Sparse24Weight> compressed_;
};

// Largest batch whose activations fit in 80% of free memory after the 4 parameter-sized
// buffers (+ mask) and the bf16 operand scratch of the vocabulary product.
int ChooseBatch(const Config& c, size_t params) {
  size_t free_bytes = 0, total_bytes = 0;
  if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) {
    return 1;
  }
  const double usable = 0.8 * static_cast<double>(free_bytes) - 5.0 * params * sizeof(float);
  const double per_seq = static_cast<double>(ActFloats(c, 1)) * sizeof(float) +
                         2.0 * c.T * (c.Vp + 2 * c.C);  // bf16 copies of dlogits and inputs
  const int b = static_cast<int>(usable / per_seq);
  return std::clamp(b, 1, 64);
}

struct ModeResult {
  double step_ms = 0;
  absl::StatusOr<MaskUpdateTiming> mask = absl::UnavailableError("not measured");
};

absl::StatusOr<ModeResult> RunMode(Ops& ops, const Config& c, bool sparse, bool fp32_attention) {
  RETURN_IF_ERROR(kernels::cuda::SetFp32Attention(ops, fp32_attention));
  GptBench bench(ops, c, sparse);
  const int B = c.B > 0 ? c.B : ChooseBatch(c, MakeLayout(c).total);
  RETURN_IF_ERROR(bench.Init(B));
  float first_loss = 0.0f, loss = 0.0f;
  for (int i = 1; i <= c.warmup; ++i) {
    ASSIGN_OR_RETURN(loss, bench.Step(i));
    if (i == 1) {
      first_loss = loss;
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 1; i <= c.steps; ++i) {
    ASSIGN_OR_RETURN(loss, bench.Step(c.warmup + i));
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!std::isfinite(loss)) {
    return absl::InternalError("loss is not finite");
  }
  const double tokens = double(B) * c.T * c.steps;
  const double tok_s = tokens / secs;
  // (6 x parameters + attention) FLOPs per token; attention counted as 12 L C T (PaLM's).
  const double flops_per_token = 6.0 * bench.parameters() + 12.0 * c.L * c.C * c.T;
  RETURN_IF_ERROR(kernels::cuda::SetFp32Attention(ops, false));
  std::printf("| %-20s | %3d | %8.1f | %9.0f | %5.1f%% | %6.3f -> %6.3f |\n",
              sparse ? "2:4" : (fp32_attention ? "dense, fp32 attention" : "dense"), B,
              1e3 * secs / c.steps, tok_s, 100.0 * tok_s * flops_per_token / 989e12, first_loss,
              loss);
  std::fflush(stdout);
  ModeResult result;
  result.step_ms = 1e3 * secs / c.steps;
  if (c.mask_reps > 0) {
    result.mask = bench.TimeMaskUpdate(c.mask_reps);
  }
  return result;
}

// Attention forward and backward alone at the model's shape, each kernel: mean of `reps` calls
// after 2 warm-ups, synchronised around each timed batch of calls. FLOPs counted as issued by
// the causal kernels' useful work: forward 2 products of T x T/2 x HS per head (4 B NH T^2 HS /
// 2), backward 2.5x that (FlashAttention's count; these kernels issue 7/5 of it, see
// attention_tc.cu).
absl::Status PrintAttentionTable(Ops& ops, const Config& c, int B) {
  const kernels::AttentionShape s{B, c.T, c.NH, c.C / c.NH};
  const size_t n_qkv = size_t(B) * c.T * 3 * c.C, n_out = size_t(B) * c.T * c.C;
  const size_t n_state = ops.AttentionStateFloats(s);
  ASSIGN_OR_RETURN(auto qkv, ops.Allocate(n_qkv * sizeof(float)));
  ASSIGN_OR_RETURN(auto dqkv, ops.Allocate(n_qkv * sizeof(float)));
  ASSIGN_OR_RETURN(auto out, ops.Allocate(n_out * sizeof(float)));
  ASSIGN_OR_RETURN(auto dout, ops.Allocate(n_out * sizeof(float)));
  ASSIGN_OR_RETURN(auto lse, ops.Allocate(n_state * sizeof(float)));
  ASSIGN_OR_RETURN(auto scratch, ops.Allocate(n_state * sizeof(float)));
  {  // deterministic, O(1) inputs: a ramp folded into [-1, 1)
    std::vector<float> host(n_qkv);
    for (size_t i = 0; i < n_qkv; ++i) {
      host[i] = static_cast<float>((i * 2654435761u) % 2048) / 1024.0f - 1.0f;
    }
    RETURN_IF_ERROR(ops.CopyToDevice(qkv->data(), host.data(), n_qkv * sizeof(float)));
    RETURN_IF_ERROR(ops.CopyToDevice(dout->data(), host.data(), n_out * sizeof(float)));
  }
  auto f32 = [](std::unique_ptr<DeviceBuffer>& b) { return static_cast<float*>(b->data()); };
  auto time_ms = [&](auto&& call) -> absl::StatusOr<double> {
    for (int i = 0; i < 2; ++i) {
      RETURN_IF_ERROR(call());
    }
    if (cudaDeviceSynchronize() != cudaSuccess) {
      return absl::InternalError("cudaDeviceSynchronize failed before the attention timing");
    }
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < c.attention_reps; ++i) {
      RETURN_IF_ERROR(call());
    }
    if (cudaDeviceSynchronize() != cudaSuccess) {
      return absl::InternalError("cudaDeviceSynchronize failed after the attention timing");
    }
    return 1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() /
           c.attention_reps;
  };
  const double fwd_flops = 2.0 * B * c.NH * double(c.T) * c.T * s.HS;
  std::printf("Attention alone, B=%d T=%d NH=%d HS=%d (mean of %d calls after 2 warm-ups):\n\n", B,
              c.T, c.NH, s.HS, c.attention_reps);
  std::printf("| kernel            | forward ms | TFLOP/s | backward ms | TFLOP/s |\n");
  std::printf("|-------------------|------------|---------|-------------|---------|\n");
  double fp32_total = 0;
  for (const bool fp32 : {true, false}) {
    RETURN_IF_ERROR(kernels::cuda::SetFp32Attention(ops, fp32));
    ASSIGN_OR_RETURN(const double fwd, time_ms([&] {
                       return ops.AttentionForward(f32(out), f32(lse), f32(qkv), s);
                     }));
    ASSIGN_OR_RETURN(const double bwd, time_ms([&] {
                       return ops.AttentionBackward(f32(dqkv), f32(scratch), f32(dout), f32(qkv),
                                                    f32(out), f32(lse), s);
                     }));
    std::printf("| %-17s | %10.3f | %7.1f | %11.3f | %7.1f |\n",
                fp32 ? "fp32 CUDA cores" : "bf16 tensor cores", fwd, fwd_flops / fwd / 1e9, bwd,
                2.5 * fwd_flops / bwd / 1e9);
    if (fp32) {
      fp32_total = fwd + bwd;
    } else {
      std::printf("\ntensor-core / fp32 speed-up, forward + backward: %.2fx\n\n",
                  fp32_total / (fwd + bwd));
    }
  }
  RETURN_IF_ERROR(kernels::cuda::SetFp32Attention(ops, false));
  std::fflush(stdout);
  return absl::OkStatus();
}

// The mask-update table: one update serves the 100 steps after it, so averaged over the window
// its share of training time is update / (100 x step); the window is half the run.
void PrintMaskTable(const Config& c, const std::vector<std::pair<bool, ModeResult>>& rows) {
  std::printf(
      "\nMask update as the trainer runs it (UpdateMasks + UpdateDensities; body sparsity %.4f "
      "= mid-window s(t) for S = %.0f%%, embedding and head at 1 - sqrt(1 - s); median of %d "
      "after 2 warm-ups), one every %d steps inside the window (%.0f%% of the run):\n\n",
      kTimedSparsity, 100 * kTimedTarget, c.mask_reps, kMaskIntervalSteps,
      100 * kWindowFractionOfRun);
  std::printf(
      "| mask      | update ms, blocks    | update ms, all    | step ms  | share of window "
      "| share of run |\n");
  std::printf(
      "|-----------|----------------------|-------------------|----------|-----------------"
      "|--------------|\n");
  // Inside the window the trainer's products are dense for both kinds of mask (a 2:4 job moves
  // to the sparse kernel only once its mask has frozen at the end): the dense step is the one
  // an update is weighed against, when it was measured.
  double dense_step_ms = 0;
  for (const auto& [sparse, r] : rows) {
    dense_step_ms = sparse ? dense_step_ms : r.step_ms;
  }
  for (const auto& [sparse, r] : rows) {
    const char* mode = sparse ? "2:4" : "magnitude";
    if (!r.mask.ok()) {
      std::printf("| %-9s | not measured: %s |\n", mode, r.mask.status().ToString().c_str());
      continue;
    }
    const double step_ms = dense_step_ms > 0 ? dense_step_ms : r.step_ms;
    const double share = r.mask->total_ms / (kMaskIntervalSteps * step_ms);
    std::printf("| %-9s | %20.2f | %17.2f | %8.1f | %14.3f%% | %11.3f%% |\n", mode, r.mask->body_ms,
                r.mask->total_ms, step_ms, 100 * share, 100 * share * kWindowFractionOfRun);
  }
  std::fflush(stdout);
}

int Main(int argc, char** argv) {
  Config c;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const int value = std::atoi(argv[i + 1]);
    if (flag == "--mode") {
      c.mode = argv[i + 1];
    } else if (flag == "--batch") {
      c.B = value;
    } else if (flag == "--steps") {
      c.steps = std::max(1, value);
    } else if (flag == "--layers") {
      c.L = std::max(1, value);
    } else if (flag == "--context") {
      c.T = std::max(32, value);
    } else if (flag == "--mask-reps") {
      c.mask_reps = std::max(0, value);
    } else if (flag == "--attention-reps") {
      c.attention_reps = std::max(0, value);
    } else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  static const char* const kModes[] = {"dense", "dense-fp32att", "sparse24", "both", "all"};
  if (std::find(std::begin(kModes), std::end(kModes), c.mode) == std::end(kModes)) {
    std::fprintf(stderr,
                 "gpt_bench: --mode must be dense, dense-fp32att, sparse24, both or all; "
                 "got %s\n",
                 c.mode.c_str());
    return 2;
  }
  if (kernels::cuda::DeviceCount() == 0) {
    std::printf("gpt_bench: no CUDA GPU is usable here; nothing to measure\n");
    return 0;
  }
  auto ops = kernels::cuda::MakeCudaOps(0);
  if (!ops.ok()) {
    std::fprintf(stderr, "gpt_bench: %s\n", ops.status().ToString().c_str());
    return 1;
  }
  if (c.attention_reps > 0) {
    // At --batch capped at 16 (16 when the batch is chosen automatically): B x NH = 192 blocks
    // of work per query tile already fill the 132 SMs.
    const absl::Status a = PrintAttentionTable(**ops, c, std::min(16, c.B > 0 ? c.B : 16));
    if (!a.ok()) {
      std::fprintf(stderr, "gpt_bench (attention): %s\n", a.ToString().c_str());
    }
  }
  std::printf("GPT L=%d C=%d NH=%d T=%d V=%d, %d timed steps after %d warm-up\n\n", c.L, c.C, c.NH,
              c.T, c.V, c.steps, c.warmup);
  std::printf(
      "| mode                 |   B | step ms  | tokens/s  |  MFU   | "
      "loss first -> last |\n");
  std::printf(
      "|----------------------|-----|----------|-----------|--------|"
      "--------------------|\n");
  std::vector<std::pair<bool, ModeResult>> rows;
  struct Row {
    const char* name;
    bool sparse, fp32_attention;
  };
  for (const Row& row : {Row{"dense", false, false}, Row{"dense-fp32att", false, true},
                         Row{"sparse24", true, false}}) {
    const bool wanted =
        c.mode == row.name || c.mode == "all" || (c.mode == "both" && !row.fp32_attention);
    if (!wanted) {
      continue;
    }
    Config rc = c;
    rc.mask_reps = row.fp32_attention ? 0 : c.mask_reps;  // the mask table uses the default
    absl::StatusOr<ModeResult> r = RunMode(**ops, rc, row.sparse, row.fp32_attention);
    if (!r.ok()) {
      std::fprintf(stderr, "gpt_bench (%s): %s\n", row.name, r.status().ToString().c_str());
      return 1;
    }
    if (!row.fp32_attention) {
      rows.emplace_back(row.sparse, *std::move(r));
    }
  }
  if (c.mask_reps > 0) {
    PrintMaskTable(c, rows);
  }
  return 0;
}

}  // namespace
}  // namespace sparsescale::bench

int main(int argc, char** argv) { return sparsescale::bench::Main(argc, argv); }

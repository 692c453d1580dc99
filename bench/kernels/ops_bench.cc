// Time of every CPU Ops call in one GPT block's forward and backward (plus the lm_head and
// loss) on the trainer's largest shape, to show where a training step's time goes and how
// close the whole block runs to the GEMM library's own speed.
//
//   ops_bench [--threads N] [--B 16] [--T 256] [--C 256] [--NH 4] [--V 256] [--reps 5]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench/kernels/bench_clock.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/ops.h"

namespace sparsescale::bench {
namespace {

struct Options {
  int threads = 1, B = 16, T = 256, C = 256, NH = 4, V = 256, reps = 5;
};

Options ParseArgs(int argc, char** argv) {
  Options o;
  const std::map<std::string, int*> flags = {
      {"--threads", &o.threads}, {"--B", &o.B}, {"--T", &o.T},      {"--C", &o.C},
      {"--NH", &o.NH},           {"--V", &o.V}, {"--reps", &o.reps}};
  for (int i = 1; i + 1 < argc; i += 2) {
    auto it = flags.find(argv[i]);
    if (it != flags.end()) {
      *it->second = std::max(1, std::atoi(argv[i + 1]));
    }
  }
  return o;
}

std::vector<float> Random(size_t n, uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) {
    x = dist(rng);
  }
  return v;
}

// One named step of the block, with its floating-point operation count (0: not a product).
struct Step {
  std::string name;
  double flops;
  std::function<absl::Status()> run;
};

int Run(const Options& o) {
  const int B = o.B, T = o.T, C = o.C, NH = o.NH, V = o.V, BT = B * T;
  const size_t bt = BT;
  auto ops = kernels::MakeCpuOps(o.threads);
  // Buffers (host vectors: the CPU backend works on host memory).
  auto x = Random(bt * C, 1, 1.0f), ln = Random(bt * C, 2, 1.0f), mean = Random(bt, 3, 1.0f),
       rstd = Random(bt, 4, 1.0f), lnw = Random(C, 5, 1.0f), lnb = Random(C, 6, 0.1f);
  auto qkv = Random(bt * 3 * C, 7, 1.0f), atty = Random(bt * C, 8, 1.0f);
  auto att = Random(size_t(B) * NH * T * T, 9, 1.0f), datt = att;
  auto fch = Random(bt * 4 * C, 10, 1.0f), fchg = fch, dfch = fch, dfchg = fch;
  auto wqkv = Random(size_t(3) * C * C, 11, 0.05f), wproj = Random(size_t(C) * C, 12, 0.05f);
  auto wfc = Random(size_t(4) * C * C, 13, 0.05f), wfcp = Random(size_t(4) * C * C, 14, 0.05f);
  auto whead = Random(size_t(V) * C, 15, 0.05f), bias = Random(4 * C, 16, 0.1f);
  auto dwqkv = wqkv, dwproj = wproj, dwfc = wfc, dwfcp = wfcp, dwhead = whead, dbias = bias;
  auto dx = x, dln = ln, dqkv = qkv, datty = atty, out = x, res = x;
  auto logits = Random(bt * V, 17, 1.0f), losses = Random(bt, 18, 1.0f);
  auto dlnw = lnw, dlnb = lnb;
  std::vector<float> adam_m(size_t(4) * C * C, 0.0f), adam_v(size_t(4) * C * C, 0.0f);
  std::vector<int32_t> targets(bt);
  for (size_t i = 0; i < bt; ++i) {
    targets[i] = static_cast<int32_t>(i * 7919 % V);
  }
  const kernels::AttentionShape shape{B, T, NH, C / NH};
  auto mm = [](double M, double N, double K) { return 2.0 * M * N * K; };
  const double attn_flops = 2.0 * mm(T, T, C / NH) * B * NH;  // QK^T and PV (full squares)

  std::vector<Step> steps = {
      {"layernorm fwd", 0,
       [&] {
         return ops->LayerNormForward(ln.data(), mean.data(), rstd.data(), x.data(), lnw.data(),
                                      lnb.data(), BT, C, 1e-5f);
       }},
      {"matmul fwd qkv", mm(BT, 3 * C, C),
       [&] {
         return ops->MatmulForward(qkv.data(), ln.data(), wqkv.data(), bias.data(), BT, C, 3 * C);
       }},
      {"attention fwd", attn_flops,
       [&] { return ops->AttentionForward(atty.data(), att.data(), qkv.data(), shape); }},
      {"matmul fwd proj", mm(BT, C, C),
       [&] {
         return ops->MatmulForward(out.data(), atty.data(), wproj.data(), bias.data(), BT, C, C);
       }},
      {"residual fwd", 0,
       [&] { return ops->ResidualForward(res.data(), x.data(), out.data(), bt * C); }},
      {"matmul fwd fc", mm(BT, 4 * C, C),
       [&] {
         return ops->MatmulForward(fch.data(), ln.data(), wfc.data(), bias.data(), BT, C, 4 * C);
       }},
      {"gelu fwd", 0, [&] { return ops->GeluForward(fchg.data(), fch.data(), bt * 4 * C); }},
      {"matmul fwd fcproj", mm(BT, C, 4 * C),
       [&] {
         return ops->MatmulForward(out.data(), fchg.data(), wfcp.data(), bias.data(), BT, 4 * C, C);
       }},
      {"matmul fwd head", mm(BT, V, C),
       [&] {
         return ops->MatmulForward(logits.data(), ln.data(), whead.data(), nullptr, BT, C, V);
       }},
      {"crossentropy", 0,
       [&] {
         return ops->CrossEntropyForwardBackward(losses.data(), logits.data(), logits.data(),
                                                 targets.data(), BT, V, V, 1.0f / BT);
       }},
      {"matmul bwd head", 2 * mm(BT, V, C),
       [&] {
         return ops->MatmulBackward(dln.data(), dwhead.data(), nullptr, logits.data(), ln.data(),
                                    whead.data(), BT, C, V);
       }},
      {"matmul bwd fcproj", 2 * mm(BT, C, 4 * C),
       [&] {
         return ops->MatmulBackward(dfchg.data(), dwfcp.data(), dbias.data(), out.data(),
                                    fchg.data(), wfcp.data(), BT, 4 * C, C);
       }},
      {"gelu bwd", 0,
       [&] { return ops->GeluBackward(dfch.data(), fch.data(), dfchg.data(), bt * 4 * C); }},
      {"matmul bwd fc", 2 * mm(BT, 4 * C, C),
       [&] {
         return ops->MatmulBackward(dln.data(), dwfc.data(), dbias.data(), dfch.data(), ln.data(),
                                    wfc.data(), BT, C, 4 * C);
       }},
      {"layernorm bwd", 0,
       [&] {
         return ops->LayerNormBackward(dx.data(), dlnw.data(), dlnb.data(), dln.data(), x.data(),
                                       lnw.data(), mean.data(), rstd.data(), BT, C);
       }},
      {"matmul bwd proj", 2 * mm(BT, C, C),
       [&] {
         return ops->MatmulBackward(datty.data(), dwproj.data(), dbias.data(), out.data(),
                                    atty.data(), wproj.data(), BT, C, C);
       }},
      {"attention bwd", 2 * attn_flops,
       [&] {
         return ops->AttentionBackward(dqkv.data(), datt.data(), datty.data(), qkv.data(),
                                       att.data(), shape);
       }},
      {"matmul bwd qkv", 2 * mm(BT, 3 * C, C),
       [&] {
         return ops->MatmulBackward(dln.data(), dwqkv.data(), dbias.data(), dqkv.data(), ln.data(),
                                    wqkv.data(), BT, C, 3 * C);
       }},
      {"fill (zero grads)", 0, [&] { return ops->Fill(dfchg.data(), 0.0f, bt * 4 * C); }},
      {"adamw (block params)", 0,
       [&] {
         kernels::AdamWParams p;
         p.lr = 1e-9f;
         return ops->AdamW(wfc.data(), dwfc.data(), adam_m.data(), adam_v.data(), nullptr,
                           size_t(4) * C * C, p);
       }},
  };
  std::vector<double> best(steps.size(), 1e30);
  for (int rep = 0; rep < o.reps; ++rep) {
    for (size_t i = 0; i < steps.size(); ++i) {
      const double start = Seconds(ClockFor(o.threads));
      const absl::Status s = steps[i].run();
      const double sec = Seconds(ClockFor(o.threads)) - start;
      if (!s.ok()) {
        std::fprintf(stderr, "%s: %s\n", steps[i].name.c_str(), s.ToString().c_str());
        return 1;
      }
      best[i] = std::min(best[i], sec);
    }
  }
  double total = 0, gemm_time = 0, gemm_flops = 0, all_flops = 0;
  for (size_t i = 0; i < steps.size(); ++i) {
    total += best[i];
    all_flops += steps[i].flops;
    if (steps[i].name.rfind("matmul", 0) == 0) {
      gemm_time += best[i];
      gemm_flops += steps[i].flops;
    }
  }
  std::printf("B=%d T=%d C=%d NH=%d V=%d threads=%d gemm=%s; best of %d by %s\n\n", B, T, C, NH, V,
              o.threads, kernels::cpu::GemmLibraryName(), o.reps, ClockName(o.threads));
  std::printf("| op | ms | GFLOP/s | share |\n|---|---|---|---|\n");
  for (size_t i = 0; i < steps.size(); ++i) {
    std::printf(
        "| %s | %.2f | %s | %.1f%% |\n", steps[i].name.c_str(), best[i] * 1e3,
        steps[i].flops > 0 ? std::to_string(int(steps[i].flops / best[i] * 1e-9)).c_str() : "-",
        100.0 * best[i] / total);
  }
  std::printf(
      "\nblock total %.1f ms; matmuls %.1f GFLOP/s; whole block %.1f GFLOP/s (%.0f%% of "
      "the matmuls' rate)\n",
      total * 1e3, gemm_flops / gemm_time * 1e-9, all_flops / total * 1e-9,
      100.0 * (all_flops / total) / (gemm_flops / gemm_time));
  return 0;
}

}  // namespace
}  // namespace sparsescale::bench

int main(int argc, char** argv) {
  return sparsescale::bench::Run(sparsescale::bench::ParseArgs(argc, argv));
}

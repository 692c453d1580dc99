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

// Every tensor one block touches (host vectors: the CPU backend works on host memory).
struct Buffers {
  std::vector<float> x, ln, mean, rstd, lnw, lnb, qkv, atty, att, datt, fch, fchg, dfch, dfchg;
  std::vector<float> wqkv, wproj, wfc, wfcp, whead, bias, dwqkv, dwproj, dwfc, dwfcp, dwhead;
  std::vector<float> dbias, dx, dln, dqkv, datty, out, res, logits, losses, dlnw, dlnb;
  std::vector<float> adam_m, adam_v;
  std::vector<int32_t> targets;
};

Buffers MakeBuffers(const Options& o) {
  const int B = o.B, T = o.T, C = o.C, NH = o.NH, V = o.V;
  const size_t bt = static_cast<size_t>(B) * T;
  Buffers b;
  b.x = Random(bt * C, 1, 1.0f), b.ln = Random(bt * C, 2, 1.0f), b.mean = Random(bt, 3, 1.0f);
  b.rstd = Random(bt, 4, 1.0f), b.lnw = Random(C, 5, 1.0f), b.lnb = Random(C, 6, 0.1f);
  b.qkv = Random(bt * 3 * C, 7, 1.0f), b.atty = Random(bt * C, 8, 1.0f);
  b.att = Random(size_t(B) * NH * T * T, 9, 1.0f), b.datt = b.att;
  b.fch = Random(bt * 4 * C, 10, 1.0f), b.fchg = b.fch, b.dfch = b.fch, b.dfchg = b.fch;
  b.wqkv = Random(size_t(3) * C * C, 11, 0.05f), b.wproj = Random(size_t(C) * C, 12, 0.05f);
  b.wfc = Random(size_t(4) * C * C, 13, 0.05f), b.wfcp = Random(size_t(4) * C * C, 14, 0.05f);
  b.whead = Random(size_t(V) * C, 15, 0.05f), b.bias = Random(4 * C, 16, 0.1f);
  b.dwqkv = b.wqkv, b.dwproj = b.wproj, b.dwfc = b.wfc, b.dwfcp = b.wfcp, b.dwhead = b.whead;
  b.dbias = b.bias, b.dx = b.x, b.dln = b.ln, b.dqkv = b.qkv, b.datty = b.atty;
  b.out = b.x, b.res = b.x, b.logits = Random(bt * V, 17, 1.0f), b.losses = Random(bt, 18, 1.0f);
  b.dlnw = b.lnw, b.dlnb = b.lnb;
  b.adam_m.assign(size_t(4) * C * C, 0.0f), b.adam_v.assign(size_t(4) * C * C, 0.0f);
  b.targets.resize(bt);
  for (size_t i = 0; i < bt; ++i) {
    b.targets[i] = static_cast<int32_t>(i * 7919 % V);
  }
  return b;
}

// The block's ops in trainer order; the lambdas keep pointers to `ops` and `b`.
std::vector<Step> BlockSteps(const Options& o, kernels::Ops* ops, Buffers* b) {
  const int B = o.B, T = o.T, C = o.C, NH = o.NH, V = o.V, BT = B * T;
  const size_t bt = BT;
  const kernels::AttentionShape shape{B, T, NH, C / NH};
  auto mm = [](double M, double N, double K) { return 2.0 * M * N * K; };
  const double attn_flops = 2.0 * mm(T, T, C / NH) * B * NH;  // QK^T and PV (full squares)
  return {
      {"layernorm fwd", 0,
       [=] {
         return ops->LayerNormForward(b->ln.data(), b->mean.data(), b->rstd.data(), b->x.data(),
                                      b->lnw.data(), b->lnb.data(), BT, C, 1e-5f);
       }},
      {"matmul fwd qkv", mm(BT, 3 * C, C),
       [=] {
         return ops->MatmulForward(b->qkv.data(), b->ln.data(), b->wqkv.data(), b->bias.data(), BT,
                                   C, 3 * C);
       }},
      {"attention fwd", attn_flops,
       [=] { return ops->AttentionForward(b->atty.data(), b->att.data(), b->qkv.data(), shape); }},
      {"matmul fwd proj", mm(BT, C, C),
       [=] {
         return ops->MatmulForward(b->out.data(), b->atty.data(), b->wproj.data(), b->bias.data(),
                                   BT, C, C);
       }},
      {"residual fwd", 0,
       [=] { return ops->ResidualForward(b->res.data(), b->x.data(), b->out.data(), bt * C); }},
      {"matmul fwd fc", mm(BT, 4 * C, C),
       [=] {
         return ops->MatmulForward(b->fch.data(), b->ln.data(), b->wfc.data(), b->bias.data(), BT,
                                   C, 4 * C);
       }},
      {"gelu fwd", 0, [=] { return ops->GeluForward(b->fchg.data(), b->fch.data(), bt * 4 * C); }},
      {"matmul fwd fcproj", mm(BT, C, 4 * C),
       [=] {
         return ops->MatmulForward(b->out.data(), b->fchg.data(), b->wfcp.data(), b->bias.data(),
                                   BT, 4 * C, C);
       }},
      {"matmul fwd head", mm(BT, V, C),
       [=] {
         return ops->MatmulForward(b->logits.data(), b->ln.data(), b->whead.data(), nullptr, BT, C,
                                   V);
       }},
      {"crossentropy", 0,
       [=] {
         return ops->CrossEntropyForwardBackward(b->losses.data(), b->logits.data(),
                                                 b->logits.data(), b->targets.data(), BT, V, V,
                                                 1.0f / BT);
       }},
      {"matmul bwd head", 2 * mm(BT, V, C),
       [=] {
         return ops->MatmulBackward(b->dln.data(), b->dwhead.data(), nullptr, b->logits.data(),
                                    b->ln.data(), b->whead.data(), BT, C, V);
       }},
      {"matmul bwd fcproj", 2 * mm(BT, C, 4 * C),
       [=] {
         return ops->MatmulBackward(b->dfchg.data(), b->dwfcp.data(), b->dbias.data(),
                                    b->out.data(), b->fchg.data(), b->wfcp.data(), BT, 4 * C, C);
       }},
      {"gelu bwd", 0,
       [=] {
         return ops->GeluBackward(b->dfch.data(), b->fch.data(), b->dfchg.data(), bt * 4 * C);
       }},
      {"matmul bwd fc", 2 * mm(BT, 4 * C, C),
       [=] {
         return ops->MatmulBackward(b->dln.data(), b->dwfc.data(), b->dbias.data(), b->dfch.data(),
                                    b->ln.data(), b->wfc.data(), BT, C, 4 * C);
       }},
      {"layernorm bwd", 0,
       [=] {
         return ops->LayerNormBackward(b->dx.data(), b->dlnw.data(), b->dlnb.data(), b->dln.data(),
                                       b->x.data(), b->lnw.data(), b->mean.data(), b->rstd.data(),
                                       BT, C);
       }},
      {"matmul bwd proj", 2 * mm(BT, C, C),
       [=] {
         return ops->MatmulBackward(b->datty.data(), b->dwproj.data(), b->dbias.data(),
                                    b->out.data(), b->atty.data(), b->wproj.data(), BT, C, C);
       }},
      {"attention bwd", 2 * attn_flops,
       [=] {
         return ops->AttentionBackward(b->dqkv.data(), b->datt.data(), b->datty.data(),
                                       b->qkv.data(), b->atty.data(), b->att.data(), shape);
       }},
      {"matmul bwd qkv", 2 * mm(BT, 3 * C, C),
       [=] {
         return ops->MatmulBackward(b->dln.data(), b->dwqkv.data(), b->dbias.data(), b->dqkv.data(),
                                    b->ln.data(), b->wqkv.data(), BT, C, 3 * C);
       }},
      {"fill (zero grads)", 0, [=] { return ops->Fill(b->dfchg.data(), 0.0f, bt * 4 * C); }},
      {"adamw (block params)", 0,
       [=] {
         kernels::AdamWParams p;
         p.lr = 1e-9f;
         return ops->AdamW(b->wfc.data(), b->dwfc.data(), b->adam_m.data(), b->adam_v.data(),
                           nullptr, size_t(4) * C * C, p);
       }},
  };
}

// Best time of each step over o.reps rounds; empty when a step fails.
std::vector<double> TimeSteps(const Options& o, const std::vector<Step>& steps) {
  std::vector<double> best(steps.size(), 1e30);
  for (int rep = 0; rep < o.reps; ++rep) {
    for (size_t i = 0; i < steps.size(); ++i) {
      const double start = Seconds(ClockFor(o.threads));
      const absl::Status s = steps[i].run();
      const double sec = Seconds(ClockFor(o.threads)) - start;
      if (!s.ok()) {
        std::fprintf(stderr, "%s: %s\n", steps[i].name.c_str(), s.ToString().c_str());
        return {};
      }
      best[i] = std::min(best[i], sec);
    }
  }
  return best;
}

void PrintReport(const Options& o, const std::vector<Step>& steps,
                 const std::vector<double>& best) {
  double total = 0, gemm_time = 0, gemm_flops = 0, all_flops = 0;
  for (size_t i = 0; i < steps.size(); ++i) {
    total += best[i];
    all_flops += steps[i].flops;
    if (steps[i].name.rfind("matmul", 0) == 0) {
      gemm_time += best[i];
      gemm_flops += steps[i].flops;
    }
  }
  std::printf("B=%d T=%d C=%d NH=%d V=%d threads=%d gemm=%s; best of %d by %s\n\n", o.B, o.T, o.C,
              o.NH, o.V, o.threads, kernels::cpu::GemmLibraryName(), o.reps, ClockName(o.threads));
  std::printf("| op | ms | GFLOP/s | share |\n|---|---|---|---|\n");
  for (size_t i = 0; i < steps.size(); ++i) {
    const std::string rate = steps[i].flops > 0
                                 ? std::to_string(static_cast<int>(steps[i].flops / best[i] * 1e-9))
                                 : "-";
    std::printf("| %s | %.2f | %s | %.1f%% |\n", steps[i].name.c_str(), best[i] * 1e3, rate.c_str(),
                100.0 * best[i] / total);
  }
  std::printf(
      "\nblock total %.1f ms; matmuls %.1f GFLOP/s; whole block %.1f GFLOP/s (%.0f%% of "
      "the matmuls' rate)\n",
      total * 1e3, gemm_flops / gemm_time * 1e-9, all_flops / total * 1e-9,
      100.0 * (all_flops / total) / (gemm_flops / gemm_time));
}

int Run(const Options& o) {
  auto ops = kernels::MakeCpuOps(o.threads);
  Buffers buffers = MakeBuffers(o);
  const std::vector<Step> steps = BlockSteps(o, ops.get(), &buffers);
  const std::vector<double> best = TimeSteps(o, steps);
  if (best.empty()) {
    return 1;
  }
  PrintReport(o, steps, best);
  return 0;
}

}  // namespace
}  // namespace sparsescale::bench

int main(int argc, char** argv) {
  return sparsescale::bench::Run(sparsescale::bench::ParseArgs(argc, argv));
}

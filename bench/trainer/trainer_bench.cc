// Trainer step speed on the CPU backend. For two fixed GPT configs it times a whole training
// step (forward, backward, gradient norm, AdamW), counts the FLOPs of all matrix products and
// attention (6 * N_matmul + 12 * L * C * T per token), and compares the achieved rate with
//   - the GEMM library's own rate on the step's largest matrix shape (MLP c_fc: BT x 4C x C),
//     measured through Ops::Gemm in the same run, and
//   - the same step on plain reference loops (bench/trainer/reference_ops.h).
//
// Usage: trainer_bench [--threads K] [--steps N] [--reference-large]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench/trainer/reference_ops.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/ops.h"
#include "worker/trainer/flops.h"
#include "worker/trainer/gpt.h"
#include "worker/trainer/rng.h"

namespace sparsescale::bench {
namespace {

using trainer::Gpt;
using trainer::GptConfig;
using Clock = std::chrono::steady_clock;

struct BenchConfig {
  const char* name;
  GptConfig model;
  int batch;
};

void Check(const absl::Status& status) {
  if (!status.ok()) {
    std::fprintf(stderr, "trainer_bench: %s\n", std::string(status.message()).c_str());
    std::exit(1);
  }
}

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// Seconds per training step (mean over `steps` after one warm-up step).
double TimeSteps(kernels::Ops* ops, const BenchConfig& c, int steps) {
  auto gpt_or = Gpt::Create(ops, c.model, c.batch);
  Check(gpt_or.status());
  Gpt& gpt = **gpt_or;
  Check(gpt.InitWeights(1));
  const size_t n = gpt.layout().num_params();
  auto m = ops->Allocate(n * 4);
  auto v = ops->Allocate(n * 4);
  auto sumsq = ops->Allocate(4);
  Check(m.status());
  Check(v.status());
  Check(sumsq.status());
  const size_t bt = static_cast<size_t>(c.batch) * c.model.context;
  std::vector<int32_t> inputs(bt), targets(bt);
  trainer::Rng rng(5);
  for (size_t i = 0; i < bt; ++i) {
    inputs[i] = static_cast<int32_t>(rng.NextU64() % c.model.vocab);
    targets[i] = static_cast<int32_t>(rng.NextU64() % c.model.vocab);
  }
  kernels::AdamWParams p;
  p.lr = 1e-4f;
  p.weight_decay = 0.1f;
  auto one_step = [&](int64_t t) {
    Check(gpt.TrainStep(inputs.data(), targets.data()).status());
    Check(ops->Fill((*sumsq)->f32(), 0.0f, 1));
    Check(ops->SumSquares((*sumsq)->f32(), gpt.grads(), n));
    float host = 0;
    Check(ops->CopyToHost(&host, (*sumsq)->f32(), 4));
    p.step = t;
    Check(ops->AdamW(gpt.params(), gpt.grads(), (*m)->f32(), (*v)->f32(), nullptr, n, p));
  };
  one_step(1);
  const auto start = Clock::now();
  for (int t = 0; t < steps; ++t) {
    one_step(t + 2);
  }
  return Seconds(start) / steps;
}

// GFLOP/s of Ops::Gemm on out[M, N] = A[M, K] @ W[N, K]^T, the layout of a linear layer.
double GemmRate(kernels::Ops* ops, int M, int N, int K) {
  auto a = ops->Allocate(size_t{4} * M * K);
  auto b = ops->Allocate(size_t{4} * N * K);
  auto c = ops->Allocate(size_t{4} * M * N);
  Check(a.status());
  Check(b.status());
  Check(c.status());
  Check(ops->Fill((*a)->f32(), 0.5f, size_t{1} * M * K));
  Check(ops->Fill((*b)->f32(), 0.25f, size_t{1} * N * K));
  auto run = [&] {
    Check(ops->Gemm(false, true, M, N, K, 1.0f, (*a)->f32(), K, (*b)->f32(), K, 0.0f, (*c)->f32(),
                    N));
  };
  run();
  int reps = 0;
  const auto start = Clock::now();
  while (Seconds(start) < 1.0 || reps < 5) {
    run();
    ++reps;
  }
  return 2.0 * M * N * K * reps / Seconds(start) / 1e9;
}

void RunConfig(const BenchConfig& c, int threads, int steps, bool reference) {
  const trainer::ParamLayout layout(c.model);
  const int64_t tokens = int64_t{c.batch} * c.model.context;
  const double flops = trainer::DenseStepFlops(c.model, layout, tokens);
  auto ops = kernels::MakeCpuOps(threads);
  const double step_s = TimeSteps(ops.get(), c, steps);
  const double step_rate = flops / step_s / 1e9;
  const int M = static_cast<int>(tokens), N = 4 * c.model.width, K = c.model.width;
  const double gemm_rate = GemmRate(ops.get(), M, N, K);
  std::printf("%-22s | %9.0f | %8.3f | %8.2f | %-13s %7.2f | %5.0f%%", c.name, tokens / step_s,
              step_s, step_rate,
              (std::to_string(M) + "x" + std::to_string(N) + "x" + std::to_string(K)).c_str(),
              gemm_rate, 100.0 * step_rate / gemm_rate);
  if (reference) {
    auto ref = MakeReferenceOps();
    const double ref_s = TimeSteps(ref.get(), c, 1);
    std::printf(" | %8.2f | %6.1fx\n", ref_s, ref_s / step_s);
  } else {
    std::printf(" | %8s | %7s\n", "-", "-");
  }
  std::fflush(stdout);
}

}  // namespace
}  // namespace sparsescale::bench

int main(int argc, char** argv) {
  int threads = 1;
  int steps = 5;
  bool reference_large = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--steps") == 0 && i + 1 < argc) {
      steps = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--reference-large") == 0) {
      reference_large = true;
    } else {
      std::fprintf(stderr, "usage: trainer_bench [--threads K] [--steps N] [--reference-large]\n");
      return 2;
    }
  }
  using sparsescale::bench::BenchConfig;
  const BenchConfig configs[] = {
      {"L4 C128 T128 H4 B8", {4, 128, 4, 128, 256}, 8},
      {"L6 C256 T256 H4 B8", {6, 256, 4, 256, 256}, 8},
  };
  std::printf("CPU backend, %d thread(s), GEMM library %s, %d timed steps\n", threads,
              sparsescale::kernels::cpu::GemmLibraryName(), steps);
  std::printf("%-22s | %9s | %8s | %8s | %-13s %7s | %6s | %8s | %7s\n", "config", "tokens/s",
              "step s", "GFLOP/s", "largest GEMM", "GFLOP/s", "% peak", "ref s", "speedup");
  for (size_t i = 0; i < 2; ++i) {
    sparsescale::bench::RunConfig(configs[i], threads, steps, i == 0 || reference_large);
  }
  return 0;
}

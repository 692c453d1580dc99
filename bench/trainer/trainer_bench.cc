// Trainer step speed on the CPU backend. For two fixed GPT configs it times
//   - whole training steps of the real trainer loop (RunTraining on a synthetic shard: forward,
//     backward, masks, gradient norm, AdamW; the first step and the last, which evaluates and
//     checkpoints, are excluded), and
//   - the model step alone (Gpt::TrainStep + gradient norm + AdamW) on the CPU backend and on
//     plain reference loops (bench/trainer/reference_ops.h),
// counts the FLOPs of all matrix products and attention (6 * N_matmul + 12 * L * C * T per
// token) and compares the achieved rate with the GEMM library's own rate on the step's largest
// matrix shape (MLP c_fc: BT x 4C x C), measured through Ops::Gemm in the same run.
//
// Usage: trainer_bench [--threads K] [--steps N] [--no-reference] [--reference-large]
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "bench/trainer/reference_ops.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/ops.h"
#include "worker/trainer/flops.h"
#include "worker/trainer/gpt.h"
#include "worker/trainer/rng.h"
#include "worker/trainer/shard.h"
#include "worker/trainer/trainer.h"

namespace sparsescale::bench {
namespace {

using trainer::Gpt;
using trainer::GptConfig;

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

// CPU seconds of this process (all threads). On a shared machine this, unlike wall time, does
// not count the time other processes hold the cores, so rates measured in one run compare fairly.
double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// CPU seconds per model step, mean over `steps` steps after one warm-up step.
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
  const double start = CpuSeconds();
  for (int t = 0; t < steps; ++t) {
    one_step(t + 2);
  }
  return (CpuSeconds() - start) / steps;
}

// CPU time from the end of step 1 to the end of the step before the last (which also
// evaluates and checkpoints).
class StepClock : public trainer::TrainObserver {
 public:
  void OnProgress(const trainer::TrainProgress& p) override {
    if (p.step == 1) {
      first_s = CpuSeconds();
    }
    if (p.step == p.total_steps - 1) {
      last_s = CpuSeconds();
    }
  }
  double first_s = 0, last_s = 0;
};

// CPU seconds per step of the real trainer loop over `steps` timed steps.
double TimeTrainerLoop(const BenchConfig& c, int threads, int steps) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("sparsescale-trainer-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  trainer::Rng rng(9);
  std::vector<uint16_t> tokens(1 << 20);
  for (auto& t : tokens) {
    t = static_cast<uint16_t>(rng.NextU64() % c.model.vocab);
  }
  Check(trainer::WriteShard((dir / "train.bin").string(), tokens));
  sparsescale::v1::JobSpec spec;
  auto* m = spec.mutable_model();
  m->set_layers(c.model.layers);
  m->set_width(c.model.width);
  m->set_heads(c.model.heads);
  m->set_context(c.model.context);
  auto* d = spec.mutable_data();
  d->add_train_shards((dir / "train.bin").string());
  d->set_batch_size(c.batch);
  const int total = steps + 2;
  d->set_tokens(int64_t{total} * c.batch * c.model.context);
  d->set_eval_interval_steps(total);
  d->set_eval_batches(1);
  spec.set_log_interval_steps(total);
  spec.mutable_checkpoint()->set_interval_steps(0);
  // Masks active on every timed step (the pruned trainer's real path), set by a one-shot update
  // after step 1 so that no mask recomputation (every 100 steps in a real run) is timed.
  spec.mutable_pruning()->set_sparsity(0.5);
  spec.mutable_pruning()->set_start_fraction(0.0);
  spec.mutable_pruning()->set_end_fraction(1.0 / total);
  spec.set_device("cpu");
  spec.set_threads(threads);
  trainer::TrainOptions options;
  options.out_dir = (dir / "run").string();
  StepClock clock;
  Check(trainer::RunTraining(spec, options, &clock).status());
  std::filesystem::remove_all(dir);
  return (clock.last_s - clock.first_s) / steps;
}

// GFLOP/s (per CPU second) over repeated calls (at least 1 CPU s) of Ops::Gemm on out[M, N] = A[M,
// K] @ W[N, K]^T, the layout of a linear layer.
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
  const double start = CpuSeconds();
  int reps = 0;
  for (; CpuSeconds() - start < 1.0 || reps < 5; ++reps) {
    run();
  }
  return 2.0 * M * N * K * reps / (CpuSeconds() - start) / 1e9;
}

void RunConfig(const BenchConfig& c, int threads, int steps, bool reference) {
  const trainer::ParamLayout layout(c.model);
  const int64_t tokens = int64_t{c.batch} * c.model.context;
  const double flops = trainer::DenseStepFlops(c.model, layout, tokens);
  const double loop_s = TimeTrainerLoop(c, threads, steps);
  auto ops = kernels::MakeCpuOps(threads);
  const double step_s = TimeSteps(ops.get(), c, steps);
  const int M = static_cast<int>(tokens), N = 4 * c.model.width, K = c.model.width;
  const double gemm_rate = GemmRate(ops.get(), M, N, K);
  const double loop_rate = flops / loop_s / 1e9;
  std::printf("%-20s | %8.0f | %7.3f | %7.2f | %7.3f | %-14s %6.2f | %5.0f%%", c.name,
              tokens / loop_s, loop_s, loop_rate, step_s,
              (std::to_string(M) + "x" + std::to_string(N) + "x" + std::to_string(K)).c_str(),
              gemm_rate, 100.0 * loop_rate / gemm_rate);
  if (reference) {
    auto ref = MakeReferenceOps();
    const double ref_s = TimeSteps(ref.get(), c, 1);
    std::printf(" | %7.2f | %6.1fx\n", ref_s, ref_s / step_s);
  } else {
    std::printf(" | %7s | %7s\n", "-", "-");
  }
  std::fflush(stdout);
}

}  // namespace
}  // namespace sparsescale::bench

int main(int argc, char** argv) {
  int threads = 1;
  int steps = 10;
  bool reference_large = false;
  bool reference = true;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--steps") == 0 && i + 1 < argc) {
      steps = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--no-reference") == 0) {
      reference = false;
    } else if (std::strcmp(argv[i], "--reference-large") == 0) {
      reference_large = true;
    } else {
      std::fprintf(stderr,
                   "usage: trainer_bench [--threads K] [--steps N] [--no-reference] "
                   "[--reference-large]\n");
      return 2;
    }
  }
  using sparsescale::bench::BenchConfig;
  const BenchConfig configs[] = {
      {"L4 C128 T128 H4 B8", {4, 128, 4, 128, 256}, 8},
      {"L6 C256 T256 H4 B8", {6, 256, 4, 256, 256}, 8},
  };
  std::printf(
      "CPU backend, %d thread(s), GEMM library %s, %d timed steps; times are process CPU "
      "seconds\n",
      threads, sparsescale::kernels::cpu::GemmLibraryName(), steps);
  std::printf("%-20s | %8s | %7s | %7s | %7s | %-14s %6s | %6s | %7s | %7s\n", "config",
              "tok/cpu-s", "step s", "GFLOP/s", "model s", "largest GEMM", "GFLOP/s", "% peak",
              "ref s", "speedup");
  for (size_t i = 0; i < 2; ++i) {
    sparsescale::bench::RunConfig(configs[i], threads, steps,
                                  reference && (i == 0 || reference_large));
  }
  return 0;
}

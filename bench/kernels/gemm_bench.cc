// Single-precision GEMM on the trainer's shapes, every candidate library in one run: prints a
// markdown table of GFLOP/s (best of repeated runs) with each library's speed-up over the
// plain loops, after checking every library's result against the plain loops.
//
//   gemm_bench [--threads N] [--min-seconds S]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench/kernels/bench_clock.h"
#include "bench/kernels/gemm_providers.h"
#include "kernels/cpu/cpu_kernels.h"

namespace sparsescale::bench {
namespace {

struct Options {
  int threads = 1;
  double min_seconds = 0.3;
};

// One product of a linear layer y[BT, OC] = x[BT, C] @ w[OC, C]^T.
struct Product {
  const char* what;
  bool trans_a;
  bool trans_b;
  int M, N, K;
};

std::vector<Product> TrainerProducts() {
  const int BT = 4096;
  std::vector<Product> products;
  // qkv, fc and fcproj of C = 128 and C = 256, and the lm_head over a 256-token vocabulary.
  for (auto [C, OC] : {std::pair{128, 384},
                       {128, 512},
                       {512, 128},
                       {256, 768},
                       {256, 1024},
                       {1024, 256},
                       {256, 256}}) {
    products.push_back({"fwd  NT", false, true, BT, OC, C});   // out = inp @ w^T
    products.push_back({"dinp NN", false, false, BT, C, OC});  // dinp += dout @ w
    products.push_back({"dw   TN", true, false, OC, C, BT});   // dw += dout^T @ inp
  }
  return products;
}

std::vector<float> Random(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) {
    x = dist(rng);
  }
  return v;
}

// Seconds of one call on `clock`.
double TimeOnce(const GemmFn& gemm, const Product& p, const float* A, const float* B, float* C,
                clockid_t clock) {
  const int lda = p.trans_a ? p.M : p.K, ldb = p.trans_b ? p.K : p.N;
  const double start = Seconds(clock);
  gemm(p.trans_a, p.trans_b, p.M, p.N, p.K, 1.0f, A, lda, B, ldb, 0.0f, C, p.N);
  return Seconds(clock) - start;
}

// Max |got - want| relative to max |want|.
double RelativeError(const std::vector<float>& got, const std::vector<float>& want) {
  double err = 0.0, scale = 0.0;
  for (size_t i = 0; i < want.size(); ++i) {
    err = std::max(err, static_cast<double>(std::abs(got[i] - want[i])));
    scale = std::max(scale, static_cast<double>(std::abs(want[i])));
  }
  return err / std::max(scale, 1e-30);
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--threads") == 0) {
      o.threads = std::max(1, std::atoi(argv[i + 1]));
    } else if (std::strcmp(argv[i], "--min-seconds") == 0) {
      o.min_seconds = std::atof(argv[i + 1]);
    }
  }
  return o;
}

// The plain loops first (the baseline and the correctness oracle), then every library.
std::vector<GemmProvider> Libraries(int threads) {
  std::vector<GemmProvider> libs;
  libs.push_back({"plain", kernels::cpu::GemmPlain, "plain loops, 1 thread"});
  libs.push_back(MakeOpenBlasProvider(threads));
  libs.push_back(MakeBlisProvider(threads));
  libs.push_back(MakeOneDnnProvider(threads));
  libs.push_back(MakeEigenBaselineProvider());
  libs.push_back(MakeEigenAvx2Provider());
  libs.push_back(MakeEigenAvx512Provider());
  libs.push_back({"sparsescale",
                  [threads](bool ta, bool tb, int M, int N, int K, float alpha, const float* A,
                            int lda, const float* B, int ldb, float beta, float* C, int ldc) {
                    kernels::cpu::Gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc,
                                       threads);
                  },
                  std::string("kernels::cpu::Gemm via ") + kernels::cpu::GemmLibraryName()});
  return libs;
}

void PrintHeader(const Options& o, const std::vector<GemmProvider>& libs) {
  std::printf(
      "threads=%d min_seconds=%.2f; GFLOP/s from %s, best run (x = speed-up over "
      "plain)\n\n",
      o.threads, o.min_seconds, ClockName(o.threads));
  std::printf("| product | M x N x K |");
  for (const auto& l : libs) {
    std::printf(" %s |", l.name.c_str());
  }
  std::printf("\n|---|---|");
  for (size_t i = 0; i < libs.size(); ++i) {
    std::printf("---|");
  }
  std::printf("\n");
}

// Best seconds per library for one product (negative: unavailable or wrong result). Rounds
// call every library once each, so load from other processes on this shared machine hits all
// of them alike.
std::vector<double> MeasureProduct(const Options& o, const Product& p,
                                   const std::vector<GemmProvider>& libs) {
  const auto A = Random(static_cast<size_t>(p.M) * p.K, 1);
  const auto B = Random(static_cast<size_t>(p.K) * p.N, 2);
  std::vector<float> want(static_cast<size_t>(p.M) * p.N), C(want.size());
  std::vector<double> best(libs.size(), 1e30), spent(libs.size(), 0.0);
  for (size_t li = 0; li < libs.size(); ++li) {
    if (!libs[li].gemm) {
      best[li] = -1;
    }
  }
  for (int round = 0;; ++round) {
    bool done = round >= 3;
    for (size_t li = 0; li < libs.size(); ++li) {
      if (best[li] < 0) {
        continue;
      }
      std::vector<float>& out = li == 0 ? want : C;
      const double s =
          TimeOnce(libs[li].gemm, p, A.data(), B.data(), out.data(), ClockFor(o.threads));
      best[li] = std::min(best[li], s);
      spent[li] += s;
      done = done && spent[li] >= o.min_seconds;
      if (round == 0 && li > 0 && RelativeError(C, want) > 1e-5) {
        best[li] = -2;
      }
    }
    if (done) {
      return best;
    }
  }
}

int Run(const Options& o) {
  const std::vector<GemmProvider> libs = Libraries(o.threads);
  PrintHeader(o, libs);
  std::vector<double> log_speedup_sum(libs.size(), 0.0);
  int wrong = 0;
  const auto products = TrainerProducts();
  for (const Product& p : products) {
    const std::vector<double> best = MeasureProduct(o, p, libs);
    std::printf("| %s | %d x %d x %d |", p.what, p.M, p.N, p.K);
    for (size_t li = 0; li < libs.size(); ++li) {
      if (best[li] == -1) {
        std::printf(" n/a |");
      } else if (best[li] < 0) {
        std::printf(" WRONG |");
        ++wrong;
      } else {
        log_speedup_sum[li] += std::log(best[0] / best[li]);
        std::printf(" %.1f (%.1fx) |", 2.0 * p.M * p.N * p.K / best[li] * 1e-9, best[0] / best[li]);
      }
    }
    std::printf("\n");
    std::fflush(stdout);
  }
  std::printf("\ngeometric-mean speed-up over plain:");
  for (size_t li = 1; li < libs.size(); ++li) {
    if (libs[li].gemm) {
      std::printf(" %s %.1fx;", libs[li].name.c_str(),
                  std::exp(log_speedup_sum[li] / static_cast<double>(products.size())));
    }
  }
  std::printf("\n\n");
  for (const auto& l : libs) {
    std::printf("- %s: %s\n", l.name.c_str(), l.note.c_str());
  }
  return wrong == 0 ? 0 : 1;
}

}  // namespace
}  // namespace sparsescale::bench

int main(int argc, char** argv) {
  return sparsescale::bench::Run(sparsescale::bench::ParseArgs(argc, argv));
}

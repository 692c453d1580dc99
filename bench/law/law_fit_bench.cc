// Times the released fits (ViT: abs residuals, delta 1e-2; T5: log residuals, delta 1e-3) with
// K seeded starts and prints one JSON line per dataset: best objective, starts within 1% of it,
// and the median wall time of R repeats. bench/law/run.sh compares it with scipy_fit.py.
//
// Usage: law_fit_bench DATA_DIR [--starts K] [--threads T] [--repeat R]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "law/fitter.h"
#include "law/run_io.h"

namespace {

struct Args {
  std::string data_dir;
  int starts = 200, threads = 0, repeat = 5;
};

bool ParseArgs(int argc, char** argv, Args& args) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--starts" && has_value) {
      args.starts = std::atoi(argv[++i]);
    } else if (arg == "--threads" && has_value) {
      args.threads = std::atoi(argv[++i]);
    } else if (arg == "--repeat" && has_value) {
      args.repeat = std::max(1, std::atoi(argv[++i]));
    } else if (args.data_dir.empty() && arg[0] != '-') {
      args.data_dir = arg;
    } else {
      return false;
    }
  }
  return !args.data_dir.empty();
}

int Bench(const Args& args, const char* name, const std::string& file,
          sparsescale::law::ResidualKind residual, double delta) {
  const auto set = sparsescale::law::LoadRuns(args.data_dir + "/" + file);
  if (!set.ok()) {
    std::fprintf(stderr, "%s\n", std::string(set.status().message()).c_str());
    return 1;
  }
  sparsescale::law::FitOptions options;
  options.residual = residual;
  options.delta = delta;
  options.starts = args.starts;
  options.threads = args.threads;
  // Wall time, and process CPU time (all threads), which the shared machine's load does not
  // inflate.
  std::vector<double> seconds, cpu_seconds;
  sparsescale::law::FitResult fit;
  for (int r = 0; r < args.repeat; ++r) {
    const auto start = std::chrono::steady_clock::now();
    const std::clock_t cpu_start = std::clock();
    fit = *sparsescale::law::FitLaw(set->runs, set->scales, options);
    cpu_seconds.push_back(static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC);
    seconds.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(seconds.begin(), seconds.end());
  std::sort(cpu_seconds.begin(), cpu_seconds.end());
  const nlohmann::json line = {{"dataset", name},
                               {"objective", fit.objective},
                               {"within_1pct", fit.starts_within_1pct},
                               {"starts", fit.starts},
                               {"threads", args.threads},
                               {"seconds", seconds[seconds.size() / 2]},
                               {"seconds_min", seconds.front()},
                               {"cpu_seconds", cpu_seconds[cpu_seconds.size() / 2]}};
  std::printf("%s\n", line.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!ParseArgs(argc, argv, args)) {
    std::fprintf(stderr, "usage: law_fit_bench DATA_DIR [--starts K] [--threads T] [--repeat R]\n");
    return 2;
  }
  using sparsescale::law::ResidualKind;
  if (Bench(args, "vit", "vit-jft.json", ResidualKind::kAbs, 1e-2) != 0 ||
      Bench(args, "t5", "t5-c4.csv", ResidualKind::kLog, 1e-3) != 0) {
    return 1;
  }
  return 0;
}

// Dataset distribution: one dataset (default 1 GiB in 8 files) uploaded once to a real
// sparsescale-coordinator on loopback, then downloaded by N worker dataset caches at once
// (default 8, each with its own connection and cache directory; worker/agent/dataset_cache.h,
// verifying every chunk's and every file's sha256), each exactly once. Prints MB/s per fetcher
// and in aggregate, against plain file copies of the same bytes measured in the same run (one
// copy alone, and N at once). docs/BENCHMARKS.md has figures.
//
//   dataset_bench [--mib 1024] [--files 8] [--fetchers 8] [--dir /tmp]
#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <thread>
#include <vector>

#include "bench/coordinator/bench_util.h"
#include "client/coordinator_client.h"
#include "client/dataset_upload.h"
#include "worker/agent/dataset_cache.h"

namespace sparsescale::bench {
namespace {

namespace fs = std::filesystem;

// Writes `bytes` of pseudo-random data to `path`.
void WriteRandomFile(const std::string& path, int64_t bytes, uint64_t seed) {
  std::vector<uint64_t> block(1 << 17);  // 1 MiB
  uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
  FILE* f = std::fopen(path.c_str(), "wb");
  for (int64_t done = 0; done < bytes;) {
    for (uint64_t& w : block) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      w = x;
    }
    const int64_t n = std::min<int64_t>(bytes - done, int64_t{1} << 20);
    std::fwrite(block.data(), 1, static_cast<size_t>(n), f);
    done += n;
  }
  std::fclose(f);
}

// A plain copy (read + write, 1 MiB buffer) of `from` to `to`; bytes copied.
int64_t CopyFile(const std::string& from, const std::string& to) {
  const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  const int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  std::vector<char> buffer(1 << 20);
  int64_t total = 0;
  while (true) {
    const ssize_t n = ::read(in, buffer.data(), buffer.size());
    if (n <= 0) {
      break;
    }
    if (::write(out, buffer.data(), static_cast<size_t>(n)) != n) {
      break;
    }
    total += n;
  }
  ::close(in);
  ::close(out);
  return total;
}

double Mbps(int64_t bytes, double seconds) { return bytes / 1e6 / seconds; }

int Run(int argc, char** argv) {
  int64_t mib = 1024;
  int files = 8;
  int fetchers = 8;
  std::string base = fs::temp_directory_path().string();
  CLI::App app("dataset distribution benchmark");
  app.add_option("--mib", mib, "dataset size in MiB")->capture_default_str();
  app.add_option("--files", files, "files in the dataset")->capture_default_str();
  app.add_option("--fetchers", fetchers, "worker caches downloading at once")
      ->capture_default_str();
  app.add_option("--dir", base, "where the temporary files go")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  const std::string dir = base + "/sparsescale_dataset_bench_" + std::to_string(::getpid());
  fs::create_directories(dir + "/source");
  const int64_t total = mib << 20;
  std::vector<std::string> paths;
  for (int i = 0; i < files; ++i) {
    paths.push_back(dir + "/source/shard_" + std::to_string(i) + ".bin");
    WriteRandomFile(paths.back(), total / files + (i < total % files ? 1 : 0), i + 1);
  }
  std::printf("dataset: %lld MiB in %d files; %d fetchers; %u hardware threads\n",
              static_cast<long long>(mib), files, fetchers, std::thread::hardware_concurrency());

  // Baselines: plain copies of the same bytes, one alone and `fetchers` at once.
  fs::create_directories(dir + "/copy");
  double t0 = NowSeconds();
  for (int i = 0; i < files; ++i) {
    CopyFile(paths[i], dir + "/copy/" + std::to_string(i));
  }
  const double copy_one_s = NowSeconds() - t0;
  fs::remove_all(dir + "/copy");
  t0 = NowSeconds();
  {
    std::vector<std::thread> copies;
    for (int c = 0; c < fetchers; ++c) {
      copies.emplace_back([&, c] {
        const std::string to = dir + "/copy" + std::to_string(c);
        fs::create_directories(to);
        for (int i = 0; i < files; ++i) {
          CopyFile(paths[i], to + "/" + std::to_string(i));
        }
      });
    }
    for (std::thread& t : copies) {
      t.join();
    }
  }
  const double copy_all_s = NowSeconds() - t0;
  for (int c = 0; c < fetchers; ++c) {
    fs::remove_all(dir + "/copy" + std::to_string(c));
  }

  CoordinatorProcess coordinator(SPARSESCALE_COORDINATOR_BINARY, dir + "/coordinator.db", {});
  client::CoordinatorClient client(coordinator.address());
  t0 = NowSeconds();
  auto up = client::UploadDataset(client, "bench", paths);
  const double upload_s = NowSeconds() - t0;
  if (!up.ok()) {
    std::fprintf(stderr, "upload failed: %s\n", up.status().ToString().c_str());
    return 1;
  }
  const std::string hash = up->dataset.hash();

  std::vector<double> seconds(static_cast<size_t>(fetchers));
  std::atomic<int> failures{0};
  const double cpu0 = coordinator.CpuSeconds();
  t0 = NowSeconds();
  {
    std::vector<std::thread> threads;
    for (int w = 0; w < fetchers; ++w) {
      threads.emplace_back([&, w] {
        auto rpc = agent::MakeGrpcWorkerRpc(coordinator.address());
        agent::DatasetCacheOptions o;
        o.dir = dir + "/cache" + std::to_string(w);
        agent::DatasetCache cache(rpc.get(), o);
        const double start = NowSeconds();
        auto pin = cache.Acquire(hash);
        seconds[static_cast<size_t>(w)] = NowSeconds() - start;
        if (!pin.ok() || cache.stats().downloads != 1) {
          std::fprintf(stderr, "fetcher %d: %s\n", w, pin.status().ToString().c_str());
          ++failures;
        }
      });
    }
    for (std::thread& t : threads) {
      t.join();
    }
  }
  const double all_s = NowSeconds() - t0;
  const double coordinator_cpu = coordinator.CpuSeconds() - cpu0;

  std::printf("upload: %.1f s, %.0f MB/s (sha256 of every chunk and file, then sent)\n",
              upload_s, Mbps(total, upload_s));
  std::printf("plain copy, one:            %.0f MB/s\n", Mbps(total, copy_one_s));
  std::printf("plain copy, %d at once:      %.0f MB/s aggregate\n", fetchers,
              Mbps(total * fetchers, copy_all_s));
  std::sort(seconds.begin(), seconds.end());
  std::printf("download, %d at once:        %.0f MB/s aggregate (%.1f s for %lld MiB); per fetcher "
              "%.0f..%.0f MB/s (median %.0f)\n",
              fetchers, Mbps(total * fetchers, all_s), all_s,
              static_cast<long long>(mib * fetchers), Mbps(total, seconds.back()),
              Mbps(total, seconds.front()), Mbps(total, seconds[seconds.size() / 2]));
  std::printf("download vs plain copies at once: %.2fx; coordinator CPU %.1f s\n",
              copy_all_s / all_s, coordinator_cpu);
  fs::remove_all(dir);
  return failures.load() == 0 ? 0 : 1;
}

}  // namespace
}  // namespace sparsescale::bench

int main(int argc, char** argv) { return sparsescale::bench::Run(argc, argv); }

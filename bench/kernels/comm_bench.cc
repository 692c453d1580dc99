// All-reduce throughput of the CPU data-parallel communicator (kernels/cpu/tcp_comm.h): W ranks
// as threads of this process joined over loopback TCP, against a memcpy of the same buffer on
// one thread measured in the same run (the bound for moving the bytes once).
//
//   comm_bench [world_size=2] [trials=5]
//
// Prints, per buffer size: time per AllReduceSum (median of trials, wall time), algorithm
// bandwidth (buffer bytes / time), bus bandwidth (bytes each rank sends: 2 (W-1)/W x buffer,
// per second) and memcpy bandwidth. 136960 floats are the gradients of configs/tiny.json.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "kernels/cpu/tcp_comm.h"

namespace {

using Clock = std::chrono::steady_clock;
using sparsescale::kernels::Communicator;
using sparsescale::kernels::TcpCommListener;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Calls needed for roughly 0.2 s of work at ~1 GB/s, at least 3.
int RepsFor(size_t bytes) {
  return static_cast<int>(std::max<size_t>(3, (size_t{200} << 20) / (bytes + 65536)));
}

}  // namespace

int main(int argc, char** argv) {
  const int world = argc > 1 ? std::atoi(argv[1]) : 2;
  const int trials = argc > 2 ? std::atoi(argv[2]) : 5;
  const std::vector<size_t> floats = {1, 1024, 16384, 136960, 262144, 1 << 20, 4 << 20, 16 << 20};

  auto rank0 = TcpCommListener::Listen(0, world, "", {});
  if (!rank0.ok()) {
    std::fprintf(stderr, "%s\n", rank0.status().ToString().c_str());
    return 1;
  }
  const std::string address = (*rank0)->address();
  std::vector<std::unique_ptr<Communicator>> comms(static_cast<size_t>(world));
  {
    std::vector<std::thread> joins;
    for (int r = 0; r < world; ++r) {
      joins.emplace_back([&, r] {
        auto listener =
            r == 0 ? std::move(*rank0) : std::move(*TcpCommListener::Listen(r, world, "", {}));
        auto comm = listener->Join(address);
        if (!comm.ok()) {
          std::fprintf(stderr, "rank %d: %s\n", r, comm.status().ToString().c_str());
          std::exit(1);
        }
        comms[static_cast<size_t>(r)] = std::move(*comm);
      });
    }
    for (auto& t : joins) {
      t.join();
    }
  }

  std::printf("world %d, %d trials (median), wall time\n", world, trials);
  std::printf("%10s %10s %12s %12s %12s %12s %8s\n", "floats", "bytes", "us/call", "algbw GB/s",
              "busbw GB/s", "memcpy GB/s", "bus/cpy");
  for (size_t n : floats) {
    const size_t bytes = n * sizeof(float);
    const int reps = RepsFor(bytes);
    std::vector<double> times;
    for (int trial = 0; trial < trials; ++trial) {
      double elapsed = 0;
      std::vector<std::thread> ranks;
      for (int r = 0; r < world; ++r) {
        ranks.emplace_back([&, r] {
          std::vector<float> x(n, 1.0f);
          Communicator& comm = *comms[static_cast<size_t>(r)];
          if (!comm.Barrier().ok()) {
            std::exit(1);
          }
          const auto start = Clock::now();
          for (int i = 0; i < reps; ++i) {
            if (!comm.AllReduceSum(x.data(), n).ok()) {
              std::exit(1);
            }
          }
          if (r == 0) {
            elapsed = std::chrono::duration<double>(Clock::now() - start).count();
          }
        });
      }
      for (auto& t : ranks) {
        t.join();
      }
      times.push_back(elapsed / reps);
    }
    std::vector<double> copies;
    std::vector<char> src(bytes, 1), dst(bytes);
    for (int trial = 0; trial < trials; ++trial) {
      const auto start = Clock::now();
      for (int i = 0; i < reps; ++i) {
        src[static_cast<size_t>(i) % bytes] = static_cast<char>(i);
        std::memcpy(dst.data(), src.data(), bytes);
      }
      copies.push_back(std::chrono::duration<double>(Clock::now() - start).count() / reps);
    }
    const double t = Median(times);
    const double c = Median(copies);
    const double algbw = static_cast<double>(bytes) / t / 1e9;
    const double busbw = algbw * 2.0 * (world - 1) / world;
    const double cpybw = static_cast<double>(bytes) / c / 1e9;
    std::printf("%10zu %10zu %12.1f %12.3f %12.3f %12.3f %8.3f\n", n, bytes, t * 1e6, algbw, busbw,
                cpybw, busbw / cpybw);
  }
  return 0;
}

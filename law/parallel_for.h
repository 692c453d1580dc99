// A fixed pool of std::threads that runs body(worker, index) for every index in [0, count).
// Work is handed out one index at a time, so results stored by index do not depend on the
// thread count or scheduling. The calling thread is worker 0. Blocks until all indices ran.
#pragma once

#include <atomic>
#include <thread>
#include <vector>

namespace sparsescale::law {

// Threads to use for `requested` (0 = one per hardware thread), never more than `count`.
inline int WorkerCount(int requested, int count) {
  int threads = requested > 0 ? requested : static_cast<int>(std::thread::hardware_concurrency());
  threads = threads < 1 ? 1 : threads;
  return count < threads ? (count < 1 ? 1 : count) : threads;
}

template <typename Body>
void ParallelFor(int count, int workers, const Body& body) {
  std::atomic<int> next{0};
  auto work = [&](int worker) {
    for (int i = next++; i < count; i = next++) {
      body(worker, i);
    }
  };
  std::vector<std::thread> pool;
  for (int w = 1; w < workers; ++w) {
    pool.emplace_back(work, w);
  }
  work(0);
  for (std::thread& thread : pool) {
    thread.join();
  }
}

}  // namespace sparsescale::law

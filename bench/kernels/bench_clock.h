// Timing for the kernel benchmarks on a shared machine: single-threaded runs use the calling
// thread's CPU time (immune to other processes taking the core), multi-threaded runs use wall
// time. Stateless; thread-safe.
#pragma once

#include <ctime>

namespace sparsescale::bench {

inline double Seconds(clockid_t clock) {
  timespec t{};
  clock_gettime(clock, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

inline clockid_t ClockFor(int threads) {
  return threads == 1 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC;
}

inline const char* ClockName(int threads) { return threads == 1 ? "thread CPU time" : "wall time"; }

}  // namespace sparsescale::bench

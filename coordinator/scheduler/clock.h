// Time behind interfaces so the scheduler and the coordinator run on a fake clock in tests.
// Clock::NowMs() is a monotonic millisecond count (not wall time), for leases and timeouts;
// WallClock::NowUnixMs() is wall time, for what is stored and shown. SteadyClock, SystemClock
// and FakeClock are all thread-safe (a test advances a FakeClock while the coordinator's threads
// read it).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace sparsescale::scheduler {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMs() const = 0;
};

class WallClock {
 public:
  virtual ~WallClock() = default;
  virtual int64_t NowUnixMs() const = 0;
};

class SteadyClock : public Clock {
 public:
  int64_t NowMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

class SystemClock : public WallClock {
 public:
  int64_t NowUnixMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// Both clocks at once, moved only by AdvanceMs (wall time moves with monotonic time).
class FakeClock : public Clock, public WallClock {
 public:
  explicit FakeClock(int64_t start_ms = 1'000'000, int64_t start_unix_ms = 1'767'225'600'000)
      : now_ms_(start_ms), unix_minus_monotonic_ms_(start_unix_ms - start_ms) {}
  int64_t NowMs() const override { return now_ms_.load(); }
  int64_t NowUnixMs() const override { return unix_minus_monotonic_ms_ + now_ms_.load(); }
  void AdvanceMs(int64_t delta_ms) { now_ms_ += delta_ms; }

 private:
  std::atomic<int64_t> now_ms_;
  const int64_t unix_minus_monotonic_ms_;
};

}  // namespace sparsescale::scheduler

// Time behind an interface so the scheduler runs on a fake clock in tests. NowMs() is a
// monotonic millisecond count (not wall time). SteadyClock is thread-safe; FakeClock is not.
#pragma once

#include <chrono>
#include <cstdint>

namespace sparsescale::scheduler {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMs() const = 0;
};

class SteadyClock : public Clock {
 public:
  int64_t NowMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

class FakeClock : public Clock {
 public:
  explicit FakeClock(int64_t start_ms = 1'000'000) : now_ms_(start_ms) {}
  int64_t NowMs() const override { return now_ms_; }
  void AdvanceMs(int64_t delta_ms) { now_ms_ += delta_ms; }

 private:
  int64_t now_ms_;
};

}  // namespace sparsescale::scheduler

// A mutex whose holders wait for a condition that any other holder may make true: every
// unlock wakes the waiters to check their conditions again (absl::Mutex::Await's contract).
// Built on std::mutex and std::condition_variable so that ThreadSanitizer sees the
// synchronisation: Debian's Abseil is not built with -fsanitize=thread, so TSan cannot see
// absl::Mutex's (bench/tsan/run.sh).
//
//   AwaitMutex mu_;
//   AwaitMutex::Lock lock(mu_);                       // held for the scope
//   lock.AwaitFor(timeout, [&] { return done_; });    // false when it timed out
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <utility>

namespace sparsescale {

class AwaitMutex {
 public:
  class Lock {
   public:
    explicit Lock(AwaitMutex& mu) : mu_(mu), lock_(mu.mu_) {}
    // Notifies before unlocking: a waiter that wakes on its own (timeout, spurious) and then
    // destroys the object holding this mutex cannot do so before notify_all is done with it.
    ~Lock() { mu_.cv_.notify_all(); }
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;

    // Unlocks until `condition()` holds (checked under the lock) or `timeout` passes; returns
    // the condition's last value.
    template <class Rep, class Period, class Condition>
    bool AwaitFor(std::chrono::duration<Rep, Period> timeout, Condition condition) {
      return mu_.cv_.wait_for(lock_, timeout, std::move(condition));
    }

   private:
    AwaitMutex& mu_;
    std::unique_lock<std::mutex> lock_;
  };

 private:
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace sparsescale

// Repeated error lines logged once with a count. A hot error path (a store that cannot write,
// a failing checkpoint) calls LogRepeated with a key naming the error site: the first line of a
// key is written; further lines of that key within the window are counted, not written; the
// first one after the window is written as "<message> (repeated N times in Ts)" with the count
// of the lines that were held back, and opens a new window.
//
// Thread-safe: RepeatedLines and the process-wide LogRepeated take a mutex per call.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "common/log.h"

namespace sparsescale {

// Default window of LogRepeated.
inline constexpr int64_t kRepeatWindowMs = 10'000;

// The decision part, with the time passed in (tests use a fake one).
class RepeatedLines {
 public:
  explicit RepeatedLines(int64_t window_ms) : window_ms_(window_ms) {}

  // The line to write for `message` under `key` at `now_ms`, or nullopt when it is held back.
  std::optional<std::string> Admit(std::string_view key, std::string_view message, int64_t now_ms);
  // Lines of `key` held back in the current window (0 for an unknown key).
  int64_t HeldBack(std::string_view key) const;
  void set_window_ms(int64_t window_ms);

 private:
  struct Window {
    int64_t start_ms = 0;
    int64_t held_back = 0;
  };
  mutable std::mutex mu_;
  int64_t window_ms_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Window, std::less<>> windows_ ABSL_GUARDED_BY(mu_);
};

// Logs `message` at `level` through the process-wide RepeatedLines (kRepeatWindowMs).
void LogRepeated(LogLevel level, std::string_view key, std::string_view message);
// Sets the window of LogRepeated (--log-repeat-window-ms; tests shorten it).
void SetLogRepeatWindowMs(int64_t window_ms);

}  // namespace sparsescale

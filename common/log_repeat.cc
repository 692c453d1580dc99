#include "common/log_repeat.h"

#include <chrono>

#include "absl/strings/str_format.h"

namespace sparsescale {

std::optional<std::string> RepeatedLines::Admit(std::string_view key, std::string_view message,
                                                int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = windows_.find(key);
  if (it == windows_.end()) {
    windows_.emplace(std::string(key), Window{.start_ms = now_ms, .held_back = 0});
    return std::string(message);
  }
  Window& window = it->second;
  if (now_ms - window.start_ms < window_ms_) {
    window.held_back += 1;
    return std::nullopt;
  }
  std::string line(message);
  if (window.held_back > 0) {
    line = absl::StrFormat("%s (repeated %d times in %.0fs)", message, window.held_back,
                           static_cast<double>(now_ms - window.start_ms) / 1000.0);
  }
  window = Window{.start_ms = now_ms, .held_back = 0};
  return line;
}

int64_t RepeatedLines::HeldBack(std::string_view key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = windows_.find(key);
  return it == windows_.end() ? 0 : it->second.held_back;
}

void RepeatedLines::set_window_ms(int64_t window_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  window_ms_ = window_ms;
}

namespace {

RepeatedLines& ProcessLines() {
  static RepeatedLines* const lines = new RepeatedLines(kRepeatWindowMs);
  return *lines;
}

}  // namespace

void SetLogRepeatWindowMs(int64_t window_ms) { ProcessLines().set_window_ms(window_ms); }

void LogRepeated(LogLevel level, std::string_view key, std::string_view message) {
  RepeatedLines* const lines = &ProcessLines();
  if (!LogEnabled(level)) {
    return;
  }
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now().time_since_epoch())
                             .count();
  if (std::optional<std::string> line = lines->Admit(key, message, now_ms)) {
    LogLine(level, *line);
  }
}

}  // namespace sparsescale

#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <mutex>

#include "absl/strings/str_cat.h"

namespace sparsescale {
namespace {

std::atomic<int> g_min_level{static_cast<int>(LogLevel::kInfo)};
std::mutex g_component_mu;
std::string g_component = "sparsescale";  // guarded by g_component_mu

char LevelLetter(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return 'D';
    case LogLevel::kInfo:
      return 'I';
    case LogLevel::kWarning:
      return 'W';
    case LogLevel::kError:
      return 'E';
  }
  return '?';
}

}  // namespace

void SetLogComponent(std::string_view component) {
  std::lock_guard<std::mutex> lock(g_component_mu);
  g_component = std::string(component);
}

void SetLogLevel(LogLevel level) { g_min_level.store(static_cast<int>(level)); }

bool ParseLogLevel(std::string_view name, LogLevel* level) {
  if (name == "debug") {
    *level = LogLevel::kDebug;
  } else if (name == "info") {
    *level = LogLevel::kInfo;
  } else if (name == "warning") {
    *level = LogLevel::kWarning;
  } else if (name == "error") {
    *level = LogLevel::kError;
  } else {
    return false;
  }
  return true;
}

bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_min_level.load(); }

std::string FormatLogLine(LogLevel level, std::string_view component, int64_t unix_ms,
                          std::string_view message) {
  const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
  return absl::StrCat(stamp, ".", absl::StrFormat("%03d", static_cast<int>(unix_ms % 1000)), "Z ",
                      std::string(1, LevelLetter(level)), " ",
                      absl::string_view(component.data(), component.size()), ": ",
                      absl::string_view(message.data(), message.size()), "\n");
}

void LogLine(LogLevel level, std::string_view message) {
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  std::string component;
  {
    std::lock_guard<std::mutex> lock(g_component_mu);
    component = g_component;
  }
  const std::string line = FormatLogLine(level, component, now_ms, message);
  // One write per line: stderr is unbuffered, and a single write(2) of a short line is not
  // interleaved with other threads' lines.
  size_t written = 0;
  while (written < line.size()) {
    const ssize_t n = ::write(STDERR_FILENO, line.data() + written, line.size() - written);
    if (n <= 0) {
      return;  // nowhere left to report a failing stderr
    }
    written += static_cast<size_t>(n);
  }
}

}  // namespace sparsescale

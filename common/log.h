// The one logging facility of every sparsescale daemon and tool: one line per message on
// stderr, "2026-12-02T03:24:32.123Z I coordinator: text", with a UTC timestamp (milliseconds),
// a level letter (D, I, W, E) and the process's component name.
//
// Thread-safe: each line is written with a single write(2), so lines of concurrent threads never
// interleave. The component and the minimum level are process-wide and meant to be set once in
// main() before threads start.
#pragma once

#include <string>
#include <string_view>

#include "absl/strings/str_format.h"

namespace sparsescale {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Names the process in every line ("coordinator", "worker", "sparsescale"). Default: "sparsescale".
void SetLogComponent(std::string_view component);
// Lines below `level` are dropped. Default: kInfo.
void SetLogLevel(LogLevel level);
// Parses "debug", "info", "warning" or "error"; false (and `level` untouched) for anything else.
bool ParseLogLevel(std::string_view name, LogLevel* level);
bool LogEnabled(LogLevel level);

// Writes one finished line (`message` without a trailing newline).
void LogLine(LogLevel level, std::string_view message);
// The line LogLine would write for `message` at `unix_ms`, with its trailing newline.
std::string FormatLogLine(LogLevel level, std::string_view component, int64_t unix_ms,
                          std::string_view message);

template <typename... Args>
void LogAt(LogLevel level, const absl::FormatSpec<Args...>& format, const Args&... args) {
  if (LogEnabled(level)) {
    LogLine(level, absl::StrFormat(format, args...));
  }
}
template <typename... Args>
void LogDebug(const absl::FormatSpec<Args...>& format, const Args&... args) {
  LogAt(LogLevel::kDebug, format, args...);
}
template <typename... Args>
void LogInfo(const absl::FormatSpec<Args...>& format, const Args&... args) {
  LogAt(LogLevel::kInfo, format, args...);
}
template <typename... Args>
void LogWarning(const absl::FormatSpec<Args...>& format, const Args&... args) {
  LogAt(LogLevel::kWarning, format, args...);
}
template <typename... Args>
void LogError(const absl::FormatSpec<Args...>& format, const Args&... args) {
  LogAt(LogLevel::kError, format, args...);
}

}  // namespace sparsescale

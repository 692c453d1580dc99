// One-line log messages of the worker daemon on stderr, prefixed with the wall-clock time.
// Thread-safe (one fprintf per line).
#pragma once

#include <cstdio>
#include <ctime>
#include <string>

#include "absl/strings/str_format.h"

namespace sparsescale::agent {

template <typename... Args>
void Logf(const absl::FormatSpec<Args...>& format, const Args&... args) {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
  std::string line = absl::StrCat(stamp, " worker: ", absl::StrFormat(format, args...), "\n");
  std::fputs(line.c_str(), stderr);
}

}  // namespace sparsescale::agent

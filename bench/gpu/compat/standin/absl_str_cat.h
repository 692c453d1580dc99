// Stand-in for absl::StrCat (GPU-only builds without Abseil): streams every argument.
#pragma once

#include <sstream>
#include <string>

namespace absl {

template <typename... Args>
std::string StrCat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

}  // namespace absl

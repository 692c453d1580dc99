// Stand-in for absl::SimpleAtoi (GPU-only builds without Abseil): whole-string integer parsing
// with Abseil's rules (surrounding ASCII whitespace and a leading '+' or '-' allowed, base 10,
// false on an empty string, trailing characters or overflow).
#pragma once

#include <charconv>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace absl {

template <typename Int>
bool SimpleAtoi(std::string_view text, Int* out) {
  static_assert(std::is_integral_v<Int>, "the stand-in parses integers only");
  const auto space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
  };
  while (!text.empty() && space(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && space(text.back())) {
    text.remove_suffix(1);
  }
  if (text.size() > 1 && text.front() == '+' && text[1] != '-') {
    text.remove_prefix(1);
  }
  Int value{};
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) {
    return false;
  }
  *out = value;
  return true;
}

}  // namespace absl

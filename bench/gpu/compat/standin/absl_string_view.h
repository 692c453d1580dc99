// Stand-in for Abseil's string_view (GPU-only builds without Abseil): the standard one.
#pragma once

#include <string_view>

namespace absl {
using string_view = std::string_view;
}  // namespace absl

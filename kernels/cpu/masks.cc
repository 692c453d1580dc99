// Magnitude and gradual n:m pruning masks. Each element gets a 64-bit key, |w|'s bit pattern
// (monotonic for non-negative floats) above the complemented index, so one integer comparison
// orders by magnitude descending and then by lower index: std::nth_element on the keys gives
// the deterministic top-k in O(n).
#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"

namespace sparsescale::kernels::cpu {
namespace {

constexpr uint64_t kIndexMask = 0xFFFFFFFFull;

uint64_t Key(const float* w, size_t i) {
  const uint32_t magnitude = std::bit_cast<uint32_t>(w[i]) & 0x7FFFFFFFu;
  return (static_cast<uint64_t>(magnitude) << 32) | (kIndexMask - static_cast<uint64_t>(i));
}

size_t IndexOf(uint64_t key) { return static_cast<size_t>(kIndexMask - (key & kIndexMask)); }

// Moves the `count` largest keys to the front of `keys` (in no particular order).
void SelectLargest(std::vector<uint64_t>& keys, size_t count) {
  if (count > 0 && count < keys.size()) {
    std::nth_element(keys.begin(), keys.begin() + static_cast<std::ptrdiff_t>(count - 1),
                     keys.end(), std::greater<uint64_t>());
  }
}

}  // namespace

void MagnitudeMask(float* mask, const float* w, size_t n, size_t keep) {
  std::vector<uint64_t> keys(n);
  for (size_t i = 0; i < n; ++i) {
    keys[i] = Key(w, i);
  }
  SelectLargest(keys, keep);
  std::fill(mask, mask + n, 0.0f);
  for (size_t i = 0; i < keep; ++i) {
    mask[IndexOf(keys[i])] = 1.0f;
  }
}

void NmMask(float* mask, const float* w, int rows, int cols, int n, int m, size_t keep) {
  const size_t total = static_cast<size_t>(rows) * static_cast<size_t>(cols);
  const size_t groups = total / static_cast<size_t>(m);
  const size_t guaranteed = groups * static_cast<size_t>(n);
  std::fill(mask, mask + total, 0.0f);
  std::vector<uint64_t> group(static_cast<size_t>(m));
  std::vector<uint64_t> rest;
  rest.reserve(total - guaranteed);
  for (size_t g = 0; g < groups; ++g) {
    const size_t base = g * static_cast<size_t>(m);
    for (int j = 0; j < m; ++j) {
      group[static_cast<size_t>(j)] = Key(w, base + static_cast<size_t>(j));
    }
    SelectLargest(group, static_cast<size_t>(n));
    for (int j = 0; j < m; ++j) {
      const uint64_t key = group[static_cast<size_t>(j)];
      if (j < n) {
        mask[IndexOf(key)] = 1.0f;
      } else {
        rest.push_back(key);
      }
    }
  }
  const size_t extra = keep - guaranteed;
  SelectLargest(rest, extra);
  for (size_t i = 0; i < extra; ++i) {
    mask[IndexOf(rest[i])] = 1.0f;
  }
}

}  // namespace sparsescale::kernels::cpu

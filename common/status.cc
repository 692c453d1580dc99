#include "common/status.h"

#include <cstdio>
#include <cstdlib>

namespace sparsescale {

void CheckFailed(const char* file, int line, const char* cond) {
  std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, cond);
  std::abort();
}

}  // namespace sparsescale

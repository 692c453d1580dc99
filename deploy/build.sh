#!/usr/bin/env bash
# Configures and builds sparsescale. Usage: bash deploy/build.sh [BUILD_DIR] [extra cmake args]
# RelWithDebInfo here keeps line tables only (-g1: backtraces, perf and sanitizer reports still
# name file:line), which compiles about a quarter faster than full -g; pass
# -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g -DNDEBUG" for a build to step through in gdb.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$repo/build}"
shift || true
jobs="${SPARSESCALE_JOBS:-$(nproc)}"
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" "$@"
cmake --build "$build" -j "$jobs"

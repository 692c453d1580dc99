#!/usr/bin/env bash
# Configures and builds sparsescale. Usage: bash deploy/build.sh [BUILD_DIR] [extra cmake args]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$repo/build}"
shift || true
jobs="${SPARSESCALE_JOBS:-$(nproc)}"
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
cmake --build "$build" -j "$jobs"

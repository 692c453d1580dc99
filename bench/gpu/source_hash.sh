#!/usr/bin/env bash
# Prints one hash of the sources the GPU bundle's binaries are built from (CMake files and the
# C++/CUDA/proto sources of common, proto, kernels, worker, law, tests/gpu), the same on any
# machine with the same files: bench/gpu/bundle.sh records it, bench/gpu/gpu.sh compares.
# Usage: bash bench/gpu/source_hash.sh REPO_ROOT
set -euo pipefail
cd "$1"
find CMakeLists.txt common proto kernels worker law tests/gpu -type f \
  \( -name '*.cc' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' -o -name '*.proto' \
     -o -name 'CMakeLists.txt' \) -print0 2>/dev/null |
  LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16

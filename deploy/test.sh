#!/usr/bin/env bash
# The test command: set-up (packages, corpus), build, then every ctest test.
# Usage: bash deploy/test.sh            normal build (CUDA targets too when nvcc exists)
#        bash deploy/test.sh --sanitize  ASan + UBSan build of the CPU path
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo/deploy/setup.sh"

build="$repo/build"
werror=OFF
if [ -n "${CI:-}" ]; then werror=ON; fi
cmake_args=(-DSPARSESCALE_WERROR="$werror")
label_args=()
if [ "${1:-}" = "--sanitize" ]; then
  build="$repo/build-asan"
  # bench/ holds no tests: not built here (it is in the normal build, which compiles it).
  # Line tables only (-g1): the sanitizers' reports still name file:line, and it compiles faster.
  cmake_args+=(-DSPARSESCALE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-g1
               -DSPARSESCALE_BENCH=OFF)
  # Benchmarks-in-disguise are excluded; everything else runs under the sanitizers.
  label_args=(-LE "nosanitize")
fi
bash "$repo/deploy/build.sh" "$build" "${cmake_args[@]}"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:abort_on_error=1"
cd "$build"
ctest --output-on-failure -j "${SPARSESCALE_TEST_JOBS:-2}" "${label_args[@]}"

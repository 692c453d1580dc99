#!/usr/bin/env bash
# Build time with and without precompiled headers, in the same run on the same machine: two
# fresh build directories that differ only in -DSPARSESCALE_PCH, each built from scratch (no
# ccache) with the same flags as deploy/build.sh, CUDA off. Prints the wall time of each and
# the ratio; the figures go to docs/BENCHMARKS.md ("Build time").
# Usage: bash bench/build/build_time.sh [target ...]   (default: every target)
#        SPARSESCALE_JOBS=N (default: nproc), BENCH_BUILD_DIR=DIR (default: /tmp/ss-build-bench)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
jobs="${SPARSESCALE_JOBS:-$(nproc)}"
root="${BENCH_BUILD_DIR:-/tmp/ss-build-bench}"
targets=("$@")
target_args=()
if [ ${#targets[@]} -gt 0 ]; then target_args=(--target "${targets[@]}"); fi

declare -A seconds
for pch in OFF ON; do
  dir="$root/pch-$pch"
  rm -rf "$dir"
  cmake -S "$repo" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DSPARSESCALE_CUDA=OFF \
    -DSPARSESCALE_PCH="$pch" >/dev/null
  echo "build_time: building with SPARSESCALE_PCH=$pch in $dir (-j $jobs; ninja shows progress)"
  start=$(date +%s.%N)
  cmake --build "$dir" -j "$jobs" "${target_args[@]}"
  end=$(date +%s.%N)
  seconds[$pch]=$(python3 -c "print(f'{$end - $start:.0f}')")
  echo "build_time: SPARSESCALE_PCH=$pch took ${seconds[$pch]} s"
done
python3 - "${seconds[OFF]}" "${seconds[ON]}" <<'PY'
import sys
off, on = float(sys.argv[1]), float(sys.argv[2])
print(f"build_time: without precompiled headers {off:.0f} s, with {on:.0f} s: "
      f"{off / on:.2f}x faster ({100 * (off - on) / off:.0f}% less)")
PY

#!/usr/bin/env bash
# Per-file effect of the precompiled headers, cheaper than two whole builds
# (bench/build/build_time.sh): in a build directory configured with precompiled headers on
# (deploy/build.sh without ccache), compiles each given object twice in alternation - its
# exact ninja command, and the same command without the precompiled header - and prints both
# wall times and their ratio. The object files themselves are left as they were.
# Usage: bash bench/build/pch_files.sh BUILD_DIR [object ...]   (default: eight heavy files)
set -euo pipefail
build="${1:?usage: pch_files.sh BUILD_DIR [object ...]}"
shift
objects=("$@")
if [ ${#objects[@]} -eq 0 ]; then
  objects=(
    tests/coordinator/CMakeFiles/coordinator_api_test.dir/lifecycle_test.cc.o
    tests/coordinator/CMakeFiles/coordinator_api_test.dir/dataset_test.cc.o
    client/CMakeFiles/sparsescale.dir/cmd_law.cc.o
    client/CMakeFiles/sparsescale.dir/cmd_job.cc.o
    coordinator/api/CMakeFiles/sparsescale_coordinator_api.dir/services.cc.o
    coordinator/core/CMakeFiles/sparsescale_coordinator_core.dir/core_lifecycle.cc.o
    worker/agent/CMakeFiles/agent_test.dir/agent_test.cc.o
    coordinator/store/CMakeFiles/sparsescale_store.dir/store_points.cc.o
  )
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$build"
total_with=0
total_without=0
printf '%-72s %9s %9s %6s\n' object "with (s)" "without" ratio
for object in "${objects[@]}"; do
  command="$(ninja -t commands "$object" | tail -n 1)"
  if ! grep -q -- '-include [^ ]*cmake_pch.hxx' <<<"$command"; then
    echo "pch_files: $object is not compiled with a precompiled header here" >&2
    exit 2
  fi
  with="${command//-o $object/-o $tmp/with.o}"
  without="$(sed -E 's/ -Winvalid-pch//; s/ -include [^ ]*cmake_pch.hxx//' <<<"${command//-o $object/-o $tmp/without.o}")"
  start=$(date +%s.%N); bash -c "$with"; mid=$(date +%s.%N); bash -c "$without"; end=$(date +%s.%N)
  read -r a b r < <(python3 -c "a=$mid-$start; b=$end-$mid; print(f'{a:.1f} {b:.1f} {b/a:.2f}')")
  printf '%-72s %9s %9s %5sx\n' "$object" "$a" "$b" "$r"
  total_with=$(python3 -c "print($total_with+$a)")
  total_without=$(python3 -c "print($total_without+$b)")
done
python3 -c "w=$total_with; o=$total_without; print(f'pch_files: {len(\"${objects[*]}\".split())} files, with {w:.1f} s, without {o:.1f} s: {o/w:.2f}x')"

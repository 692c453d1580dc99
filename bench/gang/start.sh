#!/usr/bin/env bash
# Gang start: the time from the lease of a 4-rank CPU job to all its ranks training, for a
# multi-node gang of 4 one-slot workers each in its own network namespace (veth pairs on a
# bridge the test makes), against the same job on one 4-slot worker (the baseline, measured in
# the same run). Runs tests/gang/gang_netns_test's two start tests --repeat times alternately
# and prints each figure and the medians. Needs root (ip netns) and a built tree.
# Usage: bash bench/gang/start.sh [--build DIR] [--repeat N]
# The figures go to docs/BENCHMARKS.md ("multi-node gangs (gang start)") with the machine.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$repo/build"
repeat=5
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    *) echo "start.sh: unknown argument '$1' (use --build DIR, --repeat N)" >&2; exit 2 ;;
  esac
done
bin="$build/tests/gang/gang_netns_test"
if [[ ! -x "$bin" ]]; then
  echo "start.sh: $bin is not built (cmake --build $build --target gang_netns_test)" >&2
  exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "start.sh: needs root to make network namespaces" >&2
  exit 2
fi
export SPARSESCALE_SOURCE_DIR="$repo" SPARSESCALE_BINARY_DIR="$build"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for i in $(seq 1 "$repeat"); do
  for t in FourRankJobOnOneHostStartsAndFinishes FourRankGangAcrossFourHostsStartsAndFinishes; do
    "$bin" --gtest_filter="GangNetnsTest.$t" | grep '^gang start' | tee -a "$out" \
      || { echo "start.sh: GangNetnsTest.$t failed (run $i)" >&2; exit 1; }
    echo "  (run $i/$repeat)"
  done
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
one=$(grep '1 host' "$out" | sed -E 's/.*training ([0-9]+) ms.*/\1/' | median)
four=$(grep '4 hosts' "$out" | sed -E 's/.*training ([0-9]+) ms.*/\1/' | median)
echo "median lease to all ranks training: 4 hosts ${four} ms, 1 host ${one} ms (baseline);" \
  "ratio $(awk -v a="$four" -v b="$one" 'BEGIN {printf "%.2f", a / b}')x"

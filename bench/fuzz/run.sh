#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang, build-fuzz/) and runs each one from its committed
# seed corpus, printing one summary line per target: executions, execs/s and the final coverage
# figures libFuzzer reports (cov: edges, ft: features, corp: corpus entries).
# Usage: bash bench/fuzz/run.sh [--runs N] [--max-time S] [--jobs J] [TARGET...]
#   --runs N       executions per target (default 1000000)
#   --max-time S   time cap per target in seconds (default 600)
#   --ci           a short bounded run: 20000 executions, 20 s cap per target
#   --no-build     use the fuzz_<target> binaries already in build-fuzz/
# Crashes are written to build-fuzz/findings/<target>/ and make the script exit 1; the working
# corpus grows in build-fuzz/corpus/<target>/ (the committed seeds in fuzz/corpus/ are not
# touched). Machine figures go in docs/BENCHMARKS.md ("Fuzzing").
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$repo/build-fuzz"
runs=1000000
max_time=600
jobs=2
targets=()
build_first=1
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --max-time) max_time="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --ci) runs=20000; max_time=20; shift ;;
    --no-build) build_first=0; shift ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [ ${#targets[@]} -eq 0 ]; then
  targets=(rpc_validate job_spec study_config law_runs safetensors shard job_events)
fi

if [ "$build_first" = 1 ]; then
  launcher=()
  if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
  build_start=$(date +%s)
  nice -n 19 cmake -S "$repo" -B "$build" -G Ninja -DSPARSESCALE_FUZZ=ON -DSPARSESCALE_CUDA=OFF \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "${launcher[@]}" >/dev/null
  nice -n 19 cmake --build "$build" -j "$jobs" --target fuzz_all
  echo "fuzz: build took $(( $(date +%s) - build_start )) s"
fi

dict_for() {
  case "$1" in
    job_spec|study_config|job_events) echo "$repo/fuzz/dict/json_proto.dict" ;;
    law_runs) echo "$repo/fuzz/dict/law_runs.dict" ;;
    safetensors) echo "$repo/fuzz/dict/safetensors.dict" ;;
  esac
}

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:symbolize=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
failed=0
printf '%-14s %10s %8s %9s %8s %8s %6s\n' target runs secs execs/s cov ft corp
for t in "${targets[@]}"; do
  work="$build/corpus/$t"
  findings="$build/findings/$t"
  mkdir -p "$work" "$findings"
  args=(-runs="$runs" -max_total_time="$max_time" -timeout=10 -rss_limit_mb=2048
        -max_len=65536 -print_final_stats=1 -artifact_prefix="$findings/")
  dict="$(dict_for "$t")"
  if [ -n "$dict" ]; then args+=(-dict="$dict"); fi
  log="$build/findings/$t.log"
  start=$(date +%s.%N)
  status=0
  nice -n 19 "$build/fuzz/fuzz_$t" "${args[@]}" "$work" "$repo/fuzz/corpus/$t" >"$log" 2>&1 \
    || status=$?
  secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  done_runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(echo "$last" | grep -o 'cov: [0-9]*' | grep -o '[0-9]*' || true)
  ft=$(echo "$last" | grep -o 'ft: [0-9]*' | grep -o '[0-9]*' || true)
  corp=$(echo "$last" | grep -o 'corp: [0-9]*' | grep -o '[0-9]*' || true)
  eps=$(awk -v n="${done_runs:-0}" -v s="$secs" 'BEGIN { printf "%d", (s > 0 ? n / s : 0) }')
  printf '%-14s %10s %8.1f %9s %8s %8s %6s\n' "$t" "${done_runs:-?}" "$secs" "$eps" \
    "${cov:-?}" "${ft:-?}" "${corp:-?}"
  if [ "$status" -ne 0 ]; then
    echo "fuzz: $t FAILED (exit $status); log: $log; inputs: $findings/" >&2
    grep -E 'ERROR|SUMMARY|runtime error|fuzz check failed' "$log" | head -5 >&2 || true
    failed=1
  fi
done
exit "$failed"

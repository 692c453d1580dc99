#!/usr/bin/env bash
# The dashboard benchmark, end to end: a real coordinator expands a 10 x 10 x 10 sweep (1,000
# jobs) into a fresh SQLite file, dashboard_fill gives every job one attempt of POINTS loss points
# (10,000 by default), then page_load_bench.mjs times the sweep and job pages in headless Chromium.
#   bash bench/dashboard/run.sh [BUILD_DIR=build] [POINTS=10000] [RUNS=9]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$(cd "${1:-build}" && pwd)"
points="${2:-10000}"
runs="${3:-9}"
work="$(mktemp -d /tmp/sparsescale-dash-fill.XXXXXX)"
trap 'kill $coordinator 2>/dev/null || true; rm -rf "$work"' EXIT
( cd "$repo/tests/dashboard" && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error; } )

"$build/coordinator/sparsescale-coordinator" --db "$work/bench.db" --listen 127.0.0.1:0 \
  >"$work/out" 2>"$work/coordinator.log" &
coordinator=$!
for _ in $(seq 100); do grep -q "listening on" "$work/out" && break; sleep 0.1; done
address="$(sed -n 's/.*listening on \([^ ]*\).*/\1/p' "$work/out")"
python3 - "$work/sweep.json" <<'PY'
import json, sys
spec = {"name": "dashboard bench", "model": {"layers": 1, "width": 16, "heads": 2, "context": 32},
        "data": {"trainShards": ["/nonexistent/train_*.bin"], "evalShards": ["/nonexistent/val.bin"],
                 "batchSize": 4, "tokens": "1280000", "evalIntervalSteps": 100, "evalBatches": 2},
        "logIntervalSteps": 1, "seed": "1", "device": "cpu", "threads": 1}
axes = {"nonzeros": [str(3072 * k) for k in range(1, 11)],
        "sparsities": [round(0.09 * k, 2) for k in range(10)],
        "tokens": [str(128000 * k) for k in range(1, 11)]}
json.dump({"name": "dashboard-bench-1000", "base": spec, "axes": axes}, open(sys.argv[1], "w"))
PY
"$build/client/sparsescale" sweep create "$work/sweep.json" --coordinator "$address"
kill "$coordinator"; wait "$coordinator" || true
start=$(date +%s.%N)
"$build/bench/dashboard/dashboard_fill" --db "$work/bench.db" --points "$points"
echo "fill: $(echo "$(date +%s.%N) - $start" | bc) s, $(du -h "$work/bench.db" | cut -f1)"
node "$repo/bench/dashboard/page_load_bench.mjs" --db "$work/bench.db" --runs "$runs" --binary-dir "$build"

#!/usr/bin/env bash
# Measures what one job costs in the coordinator's SQLite file, for the sizing table of
# docs/DEPLOY.md: runs each given JobSpec to the end on a local coordinator + 1 CPU worker,
# then reads the database: loss points and their bytes, checkpoints kept and their bytes, log
# bytes; prints bytes per point, per checkpoint and per job (what stays stored: points,
# checkpoints kept, log), and that per 1,000 such jobs. The file itself also holds free pages
# left by deleted checkpoints (reused by later jobs): its size and free pages are printed last.
# Usage: bash bench/deploy/sizing.sh BUILD_DIR SPEC.json...   (shards as the specs name them)
set -euo pipefail
build="$1"
shift
cli="$build/client/sparsescale"
dir="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

"$cli" up --port 0 --workers 1 --device cpu --work-dir "$dir/up" >"$dir/up.out" 2>&1 &
pid=$!
address=""
for _ in $(seq 1 300); do
  address="$(sed -n 's/^sparsescale up: coordinator listening on //p' "$dir/up.out")"
  [ -n "$address" ] && break
  sleep 0.1
done
[ -n "$address" ] || { cat "$dir/up.out"; exit 1; }
db="$dir/up/coordinator.db"
printf '%-28s %8s %10s %6s %12s %10s %12s %14s\n' spec points B/point ckpts B/ckpt log_B \
  B/job "per 1000 jobs"
for spec in "$@"; do
  job="$("$cli" job submit "$spec" --coordinator "$address" --json |
    sed -n 's/.*"id": *"\([0-9a-f]*\)".*/\1/p' | head -n 1)"
  "$cli" job watch "$job" --coordinator "$address" >/dev/null
  seq="$(sqlite3 "$db" "SELECT seq FROM jobs WHERE id = '$job';")"
  read -r points point_bytes <<<"$(sqlite3 -separator ' ' "$db" \
    "SELECT SUM(points), SUM(LENGTH(payload)) FROM loss_batches WHERE job_seq = $seq;")"
  read -r ckpts ckpt_bytes <<<"$(sqlite3 -separator ' ' "$db" \
    "SELECT COUNT(*), COALESCE(SUM(size_bytes), 0) FROM checkpoints WHERE job_seq = $seq;")"
  log_bytes="$(sqlite3 "$db" \
    "SELECT COALESCE(SUM(LENGTH(data)), 0) FROM job_logs WHERE job_seq = $seq;")"
  per_job=$((point_bytes + ckpt_bytes + log_bytes))
  awk -v s="$(basename "$spec")" -v p="$points" -v pb="$point_bytes" -v c="$ckpts" \
    -v cb="$ckpt_bytes" -v l="$log_bytes" -v j="$per_job" 'BEGIN {
      printf "%-28s %8d %10.1f %6d %12.0f %10d %12d %11.2f GB\n", s, p, pb / p, c,
        (c > 0 ? cb / c : 0), l, j, j * 1000 / 1e9 }'
done
sqlite3 "$db" "PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
echo "database file: $(stat -c %s "$db") bytes, of which free pages:" \
  "$(($(sqlite3 "$db" "PRAGMA freelist_count;") * $(sqlite3 "$db" "PRAGMA page_size;")))"

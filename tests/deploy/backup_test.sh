#!/usr/bin/env bash
# ctest deploy_backup: the backup command of docs/DEPLOY.md, `sqlite3 DB ".backup FILE"`, on
# the database of a running coordinator that has just stored a job: the copy passes SQLite's
# integrity check and holds that job.
# Usage: backup_test.sh COORDINATOR_BIN CLI_BIN SOURCE_DIR
set -euo pipefail
coordinator_bin="$1"
cli_bin="$2"
src="$3"
dir="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "deploy_backup: $*" >&2; exit 1; }
command -v sqlite3 >/dev/null || fail "sqlite3 is not installed (bash deploy/setup.sh)"

"$coordinator_bin" --db "$dir/coordinator.db" --listen 127.0.0.1:0 --port-file "$dir/port" \
  >"$dir/coordinator.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
  [ -s "$dir/port" ] && break
  kill -0 "$pid" 2>/dev/null || fail "the coordinator exited: $(cat "$dir/coordinator.log")"
  sleep 0.1
done
[ -s "$dir/port" ] || fail "the coordinator did not start"
address="127.0.0.1:$(cat "$dir/port")"
job="$("$cli_bin" job submit "$src/configs/tiny.json" --coordinator "$address" --json |
  sed -n 's/.*"id": *"\([0-9a-f]*\)".*/\1/p' | head -n 1)"
[ -n "$job" ] || fail "job submit printed no id"

sqlite3 "$dir/coordinator.db" ".backup $dir/backup.db"   # while the coordinator runs
[ "$(sqlite3 "$dir/backup.db" "PRAGMA integrity_check;")" = ok ] || fail "integrity check"
[ "$(sqlite3 "$dir/backup.db" "SELECT COUNT(*) FROM jobs WHERE id = '$job';")" = 1 ] ||
  fail "job $job is not in the backup"
echo "deploy_backup: ok (job $job in the online backup)"

#!/usr/bin/env bash
# ctest install_tree: `cmake --install` into a temporary prefix gives bin/ and
# share/sparsescale/{sql,proto,configs}; the installed binaries print the project version, and
# the installed `sparsescale up` finds its sibling daemons in PREFIX/bin (no build tree, no
# PATH entry), serves, and its worker registers.
# Usage: install_test.sh BUILD_DIR VERSION
set -euo pipefail
build="$1"
version="$2"
prefix="$(mktemp -d)"
up_pid=""
cleanup() {
  if [ -n "$up_pid" ]; then kill -TERM "$up_pid" 2>/dev/null || true; wait "$up_pid" || true; fi
  rm -rf "$prefix"
}
trap cleanup EXIT
fail() { echo "install_tree: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$prefix" >/dev/null
for bin in sparsescale sparsescale-coordinator sparsescale-worker; do
  [ -x "$prefix/bin/$bin" ] || fail "missing $prefix/bin/$bin"
done
for want in sql/0001_init.sql proto/sparsescale/v1/coordinator.proto configs/tiny.json; do
  [ -f "$prefix/share/sparsescale/$want" ] || fail "missing share/sparsescale/$want"
done

# Run from the prefix only: no build tree on any search path.
run() { env -u SPARSESCALE_BINARY_DIR -u SPARSESCALE_BIN_DIR PATH=/usr/bin:/bin "$@"; }
[ "$(run "$prefix/bin/sparsescale" --version)" = "sparsescale $version" ] ||
  fail "sparsescale --version: $(run "$prefix/bin/sparsescale" --version)"
for daemon in sparsescale-coordinator sparsescale-worker; do
  out="$(run "$prefix/bin/$daemon" --version)"
  case "$out" in
    "$daemon $version (worker protocol "*")") ;;
    *) fail "$daemon --version printed \"$out\"" ;;
  esac
done

work="$prefix/up"
mkdir -p "$work"
# env execs sparsescale: $! is its pid, and SIGTERM (like Ctrl-C) drains and stops it.
env -u SPARSESCALE_BINARY_DIR -u SPARSESCALE_BIN_DIR PATH=/usr/bin:/bin \
  "$prefix/bin/sparsescale" up --listen 127.0.0.1:0 --workers 1 --device cpu \
  --work-dir "$work/runs" >"$work/up.out" 2>&1 &
up_pid=$!
address=""
for _ in $(seq 1 300); do
  address="$(sed -n 's/^sparsescale up: coordinator listening on //p' "$work/up.out")"
  [ -n "$address" ] && break
  kill -0 "$up_pid" 2>/dev/null || fail "up exited: $(cat "$work/up.out")"
  sleep 0.1
done
[ -n "$address" ] || fail "up did not serve: $(cat "$work/up.out")"
for _ in $(seq 1 300); do
  workers="$(run "$prefix/bin/sparsescale" status --coordinator "$address" --json |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin).get("workers", [])))')"
  [ "$workers" = 1 ] && break
  sleep 0.1
done
[ "$workers" = 1 ] || fail "the installed worker did not register ($workers workers)"
echo "install_tree: ok ($address, 1 worker from $prefix/bin)"

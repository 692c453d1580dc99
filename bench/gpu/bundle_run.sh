#!/usr/bin/env bash
# Runs the GPU test binaries that bench/gpu/bundle.sh packed into this folder (copied there as
# run.sh). Finds cudart, cublasLt and NCCL in /usr/local/cuda and in the Python nvidia-* wheels,
# checks with ldd that every library resolves (and says which one does not), then runs each test
# binary and prints GoogleTest's summary lines. Exit status: 0 when every binary passed (skips
# count as passes), 1 when one failed, 2 when one could not start.
#
# Usage: bash .gpu-bundle/run.sh [TIMEOUT_S per binary, default 180] [gtest flags...]
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
limit="${1:-180}"
shift || true

dirs=("$here/lib")
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/targets/x86_64-linux/lib; do
  [ -d "$d" ] && dirs+=("$d")
done
if command -v python3 >/dev/null 2>&1; then
  while IFS= read -r d; do
    [ -n "$d" ] && dirs+=("$d")
  done < <(python3 - <<'PY' 2>/dev/null
import glob, os
try:
    import nvidia
    for p in nvidia.__path__:
        for d in sorted(glob.glob(os.path.join(p, "*", "lib"))):
            print(d)
except Exception:
    pass
PY
)
fi
LD_LIBRARY_PATH="$(IFS=:; echo "${dirs[*]}")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LD_LIBRARY_PATH
export TMPDIR="${TMPDIR:-/tmp}"

status=0
for bin in "$here"/bin/*; do
  name="$(basename "$bin")"
  [ -x "$bin" ] || chmod +x "$bin" 2>/dev/null || true  # in case a copy lost the mode bits
  missing="$(ldd "$bin" 2>&1 | grep -E "not found|not a dynamic" || true)"
  if [ -n "$missing" ]; then
    echo "bundle: $name cannot start: $missing (searched ${dirs[*]})"
    status=2
    continue
  fi
  log="$(mktemp "$TMPDIR/bundle_${name}_XXXXXX.log")"
  rc=0
  timeout "$limit" "$bin" "$@" >"$log" 2>&1 || rc=$?
  grep -E -A6 "Failure$" "$log" | head -60 || true
  grep -E "^\[  (PASSED|FAILED|SKIPPED) +\]" "$log" | sed "s/^/bundle: $name /" ||
    tail -5 "$log"
  if [ "$rc" = 124 ]; then
    echo "bundle: $name timed out after ${limit}s"
  fi
  if [ "$rc" != 0 ]; then
    echo "bundle: $name exit status $rc (log $log)"
    [ "$status" = 0 ] && status=1
  fi
done
exit "$status"

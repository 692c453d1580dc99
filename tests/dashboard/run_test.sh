#!/usr/bin/env bash
# ctest wrapper of the dashboard's browser test: installs the npm driver (puppeteer-core, pinned by
# package-lock.json) into tests/dashboard/node_modules when it is missing or older than the lock
# file, then runs dashboard_test.mjs with node's test runner. Needs node, npm and chromium
# (deploy/setup.sh) and the built coordinator, worker and CLI (SPARSESCALE_BINARY_DIR).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "dashboard test: $tool is missing (deploy/setup.sh)" >&2; exit 1; }
done
stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
exec node --test --test-reporter=spec dashboard_test.mjs

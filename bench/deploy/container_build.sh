#!/usr/bin/env bash
# The full multi-stage build of the sparsescale image (deploy/container/Containerfile): the
# build stage installs the build packages (deploy/setup.sh --build-only) and compiles the three
# binaries inside the container; the runtime stage takes them. Times the base image (skipped
# when cached), the whole build, and checks the result: the three binaries start (--help) as
# the image's non-root user, and the image records its HEALTHCHECK.
# Usage: bash bench/deploy/container_build.sh [TAG] (default localhost/sparsescale:latest)
#   JOBS=N   compile jobs inside the build stage (default: nproc)
# A full compile: tens of minutes on 2 cores. Root; podman, runc and debootstrap installed.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tag="${1:-localhost/sparsescale:latest}"
export CONTAINERS_CONF="$repo/deploy/container/containers.conf"

t0=$SECONDS
bash "$repo/deploy/container/base-image.sh"
t1=$SECONDS
podman build --format docker --build-arg JOBS="${JOBS:-$(nproc)}" \
  -f "$repo/deploy/container/Containerfile" -t "$tag" "$repo"
t2=$SECONDS
for b in sparsescale sparsescale-coordinator sparsescale-worker; do
  podman run --rm --network none "$tag" "$b" --help >/dev/null ||
    { echo "container_build: $b --help failed in $tag" >&2; exit 1; }
done
[ "$(podman run --rm --network none "$tag" id -u)" = 10001 ] ||
  { echo "container_build: the image does not run as uid 10001" >&2; exit 1; }
podman image inspect --format '{{.HealthCheck}}' "$tag" | grep -q health ||
  { echo "container_build: $tag has no HEALTHCHECK" >&2; exit 1; }
echo "container_build: base image $((t1 - t0)) s, multi-stage build $((t2 - t1)) s," \
  "image $(podman image inspect --format '{{.Size}}' "$tag") bytes ($tag, $(nproc) CPUs," \
  "$(date -u +%F))"

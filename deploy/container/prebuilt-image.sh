#!/usr/bin/env bash
# Builds the sparsescale image from the binaries of a build directory (Containerfile.prebuilt),
# on the base image of base-image.sh (built first when missing).
# Usage: prebuilt-image.sh BUILD_DIR [--tag TAG] [--base BASE] [--cuda-base IMAGE]
#   TAG default localhost/sparsescale:latest, BASE default localhost/sparsescale-runtime:bookworm
#   --cuda-base IMAGE   the CUDA worker image instead (Containerfile.cuda, CUDA libraries from
#                       IMAGE; BUILD_DIR is then a CUDA build); TAG default
#                       localhost/sparsescale-cuda:latest
# The binaries are copied with their debug sections stripped (the image holds no sources).
# Shared libraries they load that no Debian package provides (on a host with the CUDA toolkit:
# cudart, cuBLAS, cuBLASLt, NCCL) are copied into the image too, under /usr/local/lib/sparsescale;
# the Debian ones come from the base image. With --cuda-base the CUDA image provides them.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="${1:?usage: prebuilt-image.sh BUILD_DIR [--tag TAG] [--base BASE]}"
shift
tag=""
base=localhost/sparsescale-runtime:bookworm
cuda_base=""
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag="${2:?--tag needs a value}"; shift 2 ;;
    --base) base="${2:?--base needs a value}"; shift 2 ;;
    --cuda-base) cuda_base="${2:?--cuda-base needs a value}"; shift 2 ;;
    *) echo "prebuilt-image.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
file="$here/Containerfile.prebuilt"
args=(--build-arg BASE="$base")
if [ -n "$cuda_base" ]; then
  file="$here/Containerfile.cuda"
  args+=(--build-arg CUDA_BASE="$cuda_base")
  tag="${tag:-localhost/sparsescale-cuda:latest}"
fi
tag="${tag:-localhost/sparsescale:latest}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"
bash "$here/base-image.sh" --tag "$base"

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
mkdir "$ctx/bin"
for name in sparsescale sparsescale-coordinator sparsescale-worker; do
  bin="$(find "$build" -maxdepth 3 -type f -name "$name" -perm -u+x | head -n 1)"
  [ -n "$bin" ] || { echo "prebuilt-image.sh: no $name under $build (build it first)" >&2
                     exit 1; }
  strip --strip-debug -o "$ctx/bin/$name" "$bin"
done
mkdir "$ctx/lib"
if [ -z "$cuda_base" ]; then
  # ldd lists the whole closure; a library dpkg knows (under its /lib or /usr/lib name) is in
  # the base image when runtime-packages.txt is right, anything else travels with the binaries.
  while read -r lib; do
    real="$(readlink -f "$lib")"
    if ! dpkg -S "$lib" >/dev/null 2>&1 && ! dpkg -S "$real" >/dev/null 2>&1 \
       && ! dpkg -S "${real#/usr}" >/dev/null 2>&1; then
      cp -L "$lib" "$ctx/lib/"
      echo "prebuilt-image.sh: bundling $lib ($(du -h "$real" | cut -f1))"
    fi
  done < <(ldd "$ctx"/bin/* | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u)
  if ldd "$ctx"/bin/* | grep -q "not found"; then
    echo "prebuilt-image.sh: a binary under $build needs a library this host lacks:" >&2
    ldd "$ctx"/bin/* | grep "not found" >&2
    exit 1
  fi
fi
cp "$here/entrypoint.sh" "$ctx/entrypoint.sh"
# --format docker: the OCI image format has no HEALTHCHECK, and podman would drop it.
podman build --format docker "${args[@]}" -f "$file" -t "$tag" "$ctx"

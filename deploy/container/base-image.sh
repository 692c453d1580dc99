#!/usr/bin/env bash
# Builds the Debian 12 base image of the sparsescale containers without a container registry:
# debootstrap (bookworm, minbase, plus the runtime libraries of runtime-packages.txt) from the
# Debian mirror this host's apt uses, then `podman import`. Both stages of the Containerfiles
# start from it (the build stage adds the compilers and -dev packages with apt-get).
# Usage: base-image.sh [--tag TAG] [--force]     (root: debootstrap and podman as root)
#   --tag TAG   the image name (default localhost/sparsescale-runtime:bookworm)
#   --force     rebuild even when TAG exists (by default an existing TAG is kept: the cache)
# SPARSESCALE_DEBIAN_MIRROR overrides the mirror (default: the first .../debian URI in
# /etc/apt/sources.list{,.d/*}, else http://deb.debian.org/debian).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tag=localhost/sparsescale-runtime:bookworm
force=0
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag="${2:?--tag needs a value}"; shift 2 ;;
    --force) force=1; shift ;;
    *) echo "base-image.sh: unknown argument '$1' (see the usage at the top of the script)" >&2
       exit 2 ;;
  esac
done
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"

if [ "$force" = 0 ] && podman image exists "$tag"; then
  echo "base-image: $tag exists (cached; --force rebuilds it)"
  exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "base-image.sh: debootstrap needs root" >&2; exit 1; }
command -v debootstrap >/dev/null || {
  echo "base-image.sh: debootstrap is not installed (bash deploy/setup.sh)" >&2; exit 1; }

mirror="${SPARSESCALE_DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
  # One-line (deb URI SUITE ...) and deb822 (URIs: URI) sources; the first .../debian wins.
  mirror="$( (cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
                /etc/apt/sources.list.d/*.sources 2>/dev/null || true) |
            sed -n -e 's|^deb \(\[[^]]*\] \)\{0,1\}\([a-z]*://[^ ]*/debian\)/\{0,1\} .*|\2|p' \
                   -e 's|^URIs: *\([a-z]*://[^ ]*/debian\)/\{0,1\}$|\1|p' | head -n 1)"
  mirror="${mirror:-http://deb.debian.org/debian}"
fi
include="$(grep -v -e '^#' -e '^$' "$here/runtime-packages.txt" | paste -sd, -)"

root="$(mktemp -d /var/tmp/sparsescale-rootfs.XXXXXX)"
# debootstrap's second stage mounts proc, sys (and, in a container, /dev nodes) in the tree and
# unmounts them when it exits; the tree is removed only when nothing is mounted in it any more.
cleanup() {
  umount "$root/proc" "$root/sys" 2>/dev/null || true
  if grep -q " $root/" /proc/mounts; then
    echo "base-image.sh: $root still has mounts; left in place" >&2
  else
    rm -rf "$root"
  fi
}
trap cleanup EXIT
start=$SECONDS
echo "base-image: debootstrap bookworm (minbase + $include) from $mirror"
# Two stages, so that dpkg runs without fsync (force-unsafe-io) while it installs: nothing
# needs to survive a crash of this build, and the fsyncs were most of its time.
if ! { debootstrap --foreign --variant=minbase --include="$include" bookworm "$root" "$mirror" &&
       mkdir -p "$root/etc/dpkg/dpkg.cfg.d" &&
       echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/sparsescale-build" &&
       chroot "$root" /debootstrap/debootstrap --second-stage; } >"$root.log" 2>&1; then
  tail -n 30 "$root.log" >&2
  rm -f "$root.log"
  echo "base-image.sh: debootstrap failed" >&2
  exit 1
fi
rm -f "$root.log" "$root/etc/dpkg/dpkg.cfg.d/sparsescale-build"
# The package lists and the downloaded .debs: not needed at run time (apt-get update refetches).
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb \
  "$root"/var/cache/apt/*.bin "$root"/var/log/*.log
echo "deb $mirror bookworm main" >"$root/etc/apt/sources.list"
echo "base-image: importing into podman as $tag"
tar --numeric-owner -C "$root" -c . |
  podman import --change 'CMD ["/bin/bash"]' \
    --message "debootstrap bookworm minbase + sparsescale runtime libraries" - "$tag" >/dev/null
echo "base-image: $tag built in $((SECONDS - start)) s"

#!/usr/bin/env bash
# Installs every Debian package sparsescale builds, tests and runs with (skipping what is
# already installed), then prepares the public-domain corpus under data/corpus/.
# Usage: bash deploy/setup.sh              (root, or sudo available)
#        bash deploy/setup.sh --build-only  only what compiling the three binaries needs, no
#                                           corpus (the build stage of deploy/container/)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

build_packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libsqlite3-dev sqlite3 libboost-dev libboost-system-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev nlohmann-json3-dev libeigen3-dev libceres-dev
  libdnnl-dev
)
packages=(
  "${build_packages[@]}"
  prometheus  # the /metrics test scrapes the coordinator with a real Prometheus
  python3 python3-scipy python3-numpy python3-pandas python3-grpcio python3-protobuf openssl
  iproute2
  sword-text-web libsword-utils
  clang libclang-rt-14-dev
  shellcheck python3-yaml
  nodejs chromium
  # ctest container_cluster builds the images (debootstrap, podman import) and runs them with
  # runc; netavark + aardvark-dns give the test's network its DNS (workers dial "coordinator").
  podman runc debootstrap netavark aardvark-dns iptables podman-compose
)
build_only=0
if [ "${1:-}" = "--build-only" ]; then build_only=1; packages=("${build_packages[@]}"); fi
# npm drives the dashboard's browser test (puppeteer-core); a NodeSource nodejs already ships
# it (and conflicts with Debian's npm package), so npm is only added when the command is absent.
if [ "$build_only" = 0 ] && ! command -v npm >/dev/null 2>&1; then packages+=(npm); fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends \
    "${missing[@]}"
else
  echo "setup: all ${#packages[@]} Debian packages already installed"
fi

if [ "$build_only" = 1 ]; then exit 0; fi
bash "$repo/deploy/prepare_corpus.sh"

# kubectl >= 1.21 (its built-in kustomize renders deploy/k8s for ctest deploy_k8s_render) is
# not in Debian 12 (kubernetes-client there is 1.20, whose kustomize is too old): install it
# from the Kubernetes project's apt repository where that test should run.
if ! command -v kubectl >/dev/null; then
  echo "setup: kubectl is not installed; ctest deploy_k8s_render will fail until it is"
fi

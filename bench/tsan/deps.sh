#!/usr/bin/env bash
# Builds Abseil, protobuf and gRPC with -fsanitize=thread from Debian's own source packages (the
# versions the project builds against: abseil 20220623.1, protobuf 3.21.12, grpc 1.51.1) into a
# prefix, static libraries only. Debian ships them without TSan, so TSan cannot see the
# synchronisation inside gRPC (its completion queues, Abseil mutexes, protobuf arenas) and
# reports every hand-off through them; with this prefix, `bash bench/tsan/run.sh` (which uses it
# when present) checks the coordinator's gRPC tests end to end.
# Usage: bash bench/tsan/deps.sh [PREFIX]   (default: build-tsan-deps/prefix; about 1 h on 2 cores)
# Needs deb-src lines for the machine's Debian mirror: added (sparsescale-deb-src.sources) when
# apt has none. Nothing here runs in CI.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$repo/build-tsan-deps"
prefix="${1:-$work/prefix}"
jobs="${SPARSESCALE_JOBS:-$(nproc)}"
mkdir -p "$work/src" "$prefix"

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
if ! grep -rqs '^Types: deb-src\|^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "tsan deps: adding deb-src lines for the configured Debian mirror"
  sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources |
    "${sudo_cmd[@]}" tee /etc/apt/sources.list.d/sparsescale-deb-src.sources >/dev/null
  "${sudo_cmd[@]}" apt-get update -q
fi

# The source package of each installed -dev package, at the installed version.
declare -A version
version[abseil]="$(dpkg-query -W -f='${Version}' libabsl-dev)"
version[protobuf]="$(dpkg-query -W -f='${Version}' libprotobuf-dev)"
version[grpc]="$(dpkg-query -W -f='${Version}' libgrpc++-dev)"
version[grpc]="${version[grpc]%+b*}"  # binNMU suffix: the source version has none
cd "$work/src"
src=()
for pkg in abseil protobuf grpc; do
  upstream="${version[$pkg]#*:}"
  upstream="${upstream%-*}"
  if [ ! -d "$pkg-$upstream" ]; then
    echo "tsan deps: apt-get source $pkg=${version[$pkg]}"
    apt-get source -q "$pkg=${version[$pkg]}" >/dev/null
  fi
  src+=("$work/src/$pkg-$upstream")
done
absl_src="${src[0]}" protobuf_src="${src[1]}" grpc_src="${src[2]}"

flags="-fsanitize=thread -fno-omit-frame-pointer -O1 -g1"
common=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS_RELWITHDEBINFO="$flags"
        -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$flags" -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread
        -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread -DCMAKE_POSITION_INDEPENDENT_CODE=ON
        -DBUILD_SHARED_LIBS=OFF -DCMAKE_CXX_STANDARD=17 -DCMAKE_INSTALL_PREFIX="$prefix"
        -DCMAKE_INSTALL_LIBDIR=lib -DCMAKE_PREFIX_PATH="$prefix")

step() {  # name, source dir, cmake args...
  local name="$1" dir="$2"
  shift 2
  if [ -f "$work/$name.done" ]; then
    echo "tsan deps: $name already installed in $prefix"
    return
  fi
  local start
  start=$(date +%s)
  echo "tsan deps: building $name"
  cmake -S "$dir" -B "$work/build-$name" "${common[@]}" "$@" >"$work/$name.configure.log"
  cmake --build "$work/build-$name" -j "$jobs"
  cmake --install "$work/build-$name" >"$work/$name.install.log"
  echo "tsan deps: $name took $(( $(date +%s) - start )) s"
  touch "$work/$name.done"
}

step abseil "$absl_src" -DABSL_PROPAGATE_CXX_STD=ON -DABSL_BUILD_TESTING=OFF -DBUILD_TESTING=OFF
step protobuf "$protobuf_src" -Dprotobuf_BUILD_TESTS=OFF -Dprotobuf_BUILD_SHARED_LIBS=OFF \
  -Dprotobuf_BUILD_PROTOC_BINARIES=ON -Dprotobuf_WITH_ZLIB=ON
step grpc "$grpc_src" -DgRPC_INSTALL=ON -DgRPC_BUILD_TESTS=OFF -DgRPC_ABSL_PROVIDER=package \
  -DgRPC_CARES_PROVIDER=package -DgRPC_PROTOBUF_PROVIDER=package -DgRPC_RE2_PROVIDER=package \
  -DgRPC_SSL_PROVIDER=package -DgRPC_ZLIB_PROVIDER=package -DgRPC_BENCHMARK_PROVIDER=none \
  -DgRPC_BUILD_CSHARP_EXT=OFF -DgRPC_BUILD_GRPC_CPP_PLUGIN=ON \
  -DgRPC_BUILD_GRPC_CSHARP_PLUGIN=OFF -DgRPC_BUILD_GRPC_NODE_PLUGIN=OFF \
  -DgRPC_BUILD_GRPC_OBJECTIVE_C_PLUGIN=OFF -DgRPC_BUILD_GRPC_PHP_PLUGIN=OFF \
  -DgRPC_BUILD_GRPC_PYTHON_PLUGIN=OFF -DgRPC_BUILD_GRPC_RUBY_PLUGIN=OFF
echo "tsan deps: done; bench/tsan/run.sh builds against $prefix"

#!/usr/bin/env bash
# Link launcher for bench/gpu/bundle.sh (CMAKE_CXX_LINKER_LAUNCHER): runs the link command it is
# given with every shared library of the system folder that also ships as a static archive
# replaced by that archive (Abseil, protobuf, gRPC, GoogleTest, zlib, ...), all archives in one
# --start-group/--end-group (static Abseil has cycles CMake's order does not break), and
# --as-needed so that shared libraries nothing uses leave no NEEDED entry. glibc, libgomp and
# the CUDA libraries (cudart, cublasLt, NCCL: not in the system folder) stay shared.
set -euo pipefail
sysdir=/usr/lib/x86_64-linux-gnu
keep_shared=" c m dl pthread rt util resolv gomp stdc++ gcc_s "
out=()
grouped=0
for arg in "$@"; do
  lib=""
  if [[ "$arg" =~ ^$sysdir/lib([^/]+)\.so(\.[0-9.]+)?$ ]]; then
    lib="${BASH_REMATCH[1]}"
  elif [[ "$arg" =~ ^-l([A-Za-z0-9_+.-]+)$ ]]; then
    lib="${BASH_REMATCH[1]}"
  fi
  if [ -n "$lib" ] && [[ "$keep_shared" != *" $lib "* ]] &&
    [ -f "$sysdir/lib$lib.a" ]; then
    arg="$sysdir/lib$lib.a"
  fi
  if [ "$grouped" = 0 ] && [[ "$arg" == *.a ]]; then
    out+=("-Wl,--start-group")
    grouped=1
  fi
  out+=("$arg")
done
if [ "$grouped" = 1 ]; then
  out+=("-Wl,--end-group")
fi
exec "${out[@]}"

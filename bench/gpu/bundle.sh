#!/usr/bin/env bash
# Builds, on a development machine with the Debian -dev packages and CUDA 13, the GPU tests that
# need the whole project (protobuf, Abseil, GoogleTest: the trainer-level tests of tests/gpu/,
# e.g. gpu_training_test, 50 trainer steps on CUDA against the CPU), and packs them into
# .gpu-bundle/ for a GPU machine that lacks those packages. bench/gpu/gpu.sh runs the bundle
# after its own tests when the folder is there.
#
# Everything is linked statically (libstdc++, libgcc, Abseil, protobuf, GoogleTest, zlib, ...
# through bench/gpu/bundle_link.sh) except glibc, libgomp (carried in the bundle) and the CUDA
# libraries (cudart, cublasLt, NCCL), which the bundle's run.sh finds on the GPU machine in
# /usr/local/cuda and in the Python nvidia-* wheels. oneDNN is left out (only a shared library
# in Debian): the CPU side of the parity test uses the plain-loop GEMM.
#
# Usage: bash bench/gpu/bundle.sh [BUILD_DIR]        (default build-gpu-bundle; ~15-25 min on 2
#        cores, CUDA kernels included; reruns rebuild only what changed)
# Then, on the GPU machine: bash .gpu-bundle/run.sh   (gpu.sh does it; name .gpu-bundle in the
# run tool's carry). Environment: SPARSESCALE_BUNDLE_TARGETS (test targets; default every
# sparsescale_test of tests/gpu/CMakeLists.txt), SPARSESCALE_BUNDLE_JOBS (default 2).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-$repo/build-gpu-bundle}"
bundle="$repo/.gpu-bundle"
nvcc="${CUDACXX:-/usr/local/cuda/bin/nvcc}"
[ -x "$nvcc" ] || { echo "bundle.sh: no nvcc at $nvcc (set CUDACXX)" >&2; exit 1; }

targets="${SPARSESCALE_BUNDLE_TARGETS:-$(grep -oE 'sparsescale_test\([A-Za-z0-9_]+' \
  "$repo/tests/gpu/CMakeLists.txt" | sed 's/.*(//' | tr '\n' ' ')}"
[ -n "${targets// /}" ] || { echo "bundle.sh: no test targets in tests/gpu/CMakeLists.txt" >&2; exit 1; }
generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi

echo "bundle.sh: configure $build (targets: $targets)"
mkdir -p "$build"
cmake -S "$repo" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DSPARSESCALE_CUDA=ON -DCMAKE_CUDA_COMPILER="$nvcc" -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DSPARSESCALE_DNNL_LIBRARY=IGNORE \
  -DCMAKE_CXX_LINKER_LAUNCHER="$repo/bench/gpu/bundle_link.sh" \
  -DCMAKE_EXE_LINKER_FLAGS="-static-libstdc++ -static-libgcc -Wl,--as-needed" \
  >"$build/bundle.configure.log" 2>&1 || { cat "$build/bundle.configure.log"; exit 1; }
grep -E "sparsescale:" "$build/bundle.configure.log" || true

echo "bundle.sh: build (nice -n 19, -j ${SPARSESCALE_BUNDLE_JOBS:-2})"
# shellcheck disable=SC2086
nice -n 19 cmake --build "$build" -j "${SPARSESCALE_BUNDLE_JOBS:-2}" --target $targets \
  >"$build/bundle.build.log" 2>&1 || { tail -60 "$build/bundle.build.log"; exit 1; }
if grep -E "warning:" "$build/bundle.build.log" | grep -v "^/usr" | head -20 | grep -q .; then
  echo "bundle.sh: the build printed warnings (see $build/bundle.build.log)"
fi

rm -rf "$bundle"
mkdir -p "$bundle/bin" "$bundle/lib"
for t in $targets; do
  bin="$(find "$build" -type f -name "$t" -perm -u+x | head -1)"
  [ -n "$bin" ] || { echo "bundle.sh: built no binary named $t" >&2; exit 1; }
  strip -o "$bundle/bin/$t" "$bin"
done
# libgomp (OpenMP of the CPU backend) is not static-safe with -fopenmp; carry the shared one.
gomp="$(ldd "$bundle"/bin/* | awk '/libgomp/ {print $3; exit}')"
if [ -n "$gomp" ]; then cp -L "$gomp" "$bundle/lib/"; fi
cp "$repo/bench/gpu/bundle_run.sh" "$bundle/run.sh"
# What the binaries were built from, so gpu.sh can tell a stale bundle (no .git travels to the
# GPU machine: a hash of the sources, computed the same way there).
bash "$repo/bench/gpu/source_hash.sh" "$repo" >"$bundle/SOURCE_HASH"
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
{
  echo "built $(date -u +%Y-%m-%dT%H:%MZ) on $(uname -n) from $(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" diff --quiet HEAD -- . 2>/dev/null || echo '+dirty')"
  echo "targets: $targets"
  for b in "$bundle"/bin/*; do
    echo "--- $(basename "$b"): needs $(needed "$b" | tr '\n' ' ')"
    echo "newest glibc symbol version: $(objdump -T "$b" | grep -oE 'GLIBC_[0-9.]+' | sort -uV | tail -1)"
    echo "ldd here (libstdc++ and libgcc_s come from NCCL and cuBLASLt, not the binary):"
    ldd "$b" | sed 's/ (0x[0-9a-f]*)//'
  done
} >"$bundle/MANIFEST"

# The binaries themselves may need only glibc, libgomp and the CUDA libraries.
allowed='^(ld-linux|libc\.|libm\.|libdl\.|libpthread\.|librt\.|libgomp\.|libcudart\.|libcublasLt\.|libcublas\.|libnccl\.)'
extra="$(for b in "$bundle"/bin/*; do needed "$b"; done | grep -vE "$allowed" | sort -u || true)"
if [ -n "$extra" ]; then
  echo "bundle.sh: unexpected shared libraries needed: $(tr "\n" " " <<<"$extra")" >&2
  exit 1
fi
echo "bundle.sh: $bundle, $(du -sh "$bundle" | cut -f1); the binaries need: $(for b in "$bundle"/bin/*; do needed "$b"; done | sort -u | tr '\n' ' ')"
echo "bundle.sh: before the GPU call name .gpu-bundle in the run tool's carry"

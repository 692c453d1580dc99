#!/usr/bin/env bash
# ThreadSanitizer run of the concurrent code: builds the coordinator, worker agent and comm tests
# (common/ with the rendezvous, coordinator scheduler/store/core/api, the coordinator's gRPC
# integration tests, worker/agent) with -fsanitize=thread into build-tsan/ (CUDA off) and runs
# them with ctest. Any race report fails its test (TSan exits 66). When build-tsan-deps/prefix
# holds Abseil, protobuf and gRPC built with TSan (bench/tsan/deps.sh), the build links them
# instead of Debian's uninstrumented ones, so TSan sees gRPC's own synchronisation. Entries in
# bench/tsan/suppressions.txt may only name code not built here; project code is never
# suppressed.
# Usage: bash bench/tsan/run.sh [extra ctest args, e.g. -R Rendezvous]
#        SPARSESCALE_TSAN_DEPS=none bash bench/tsan/run.sh   (Debian's libraries even when the
#        prefix exists; its own build directory, build-tsan-debian/)
# The last clean run is recorded in docs/BENCHMARKS.md ("ThreadSanitizer").
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="$repo/build-tsan"
deps="${SPARSESCALE_TSAN_DEPS:-$repo/build-tsan-deps/prefix}"
dep_args=()
if [ "$deps" != none ] && [ -f "$repo/build-tsan-deps/grpc.done" ]; then
  echo "tsan: Abseil, protobuf and gRPC from $deps (built with TSan)"
  dep_args=(-DCMAKE_PREFIX_PATH="$deps" -DProtobuf_PROTOC_EXECUTABLE="$deps/bin/protoc"
            -DProtobuf_INCLUDE_DIR="$deps/include" -DProtobuf_LIBRARY="$deps/lib/libprotobuf.a")
else
  echo "tsan: Debian's uninstrumented Abseil, protobuf and gRPC (bench/tsan/deps.sh builds them)"
  build="$repo/build-tsan-debian"
fi
jobs="${SPARSESCALE_JOBS:-2}"
tests=(common_test coordinator_scheduler_test coordinator_store_test coordinator_core_unit_test
       coordinator_api_unit_test coordinator_api_test agent_test)
# From kernels_cpu_test only the data-parallel comm (TCP ring, bucketed all-reduce): the compute
# kernels' OpenMP threads run in Debian's uninstrumented libgomp.
comm_tests='^(TcpCommTest|BucketedAllReducerTest)\.'

launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
start=$(date +%s)
nice -n 19 cmake -S "$repo" -B "$build" -G Ninja -DSPARSESCALE_TSAN=ON -DSPARSESCALE_CUDA=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" "${dep_args[@]}" >/dev/null
nice -n 19 cmake --build "$build" -j "$jobs" --target "${tests[@]}" kernels_cpu_test
built=$(date +%s)
echo "tsan: build took $(( built - start )) s"

# halt_on_error=0 lets a test print every race it meets; the exit code (66) still fails it.
# ignore_noninstrumented_modules=1: memory accesses that libc interceptors (memcpy, free, ...)
# make on behalf of a library built without TSan (libstdc++, SQLite, OpenSSL; and Debian's gRPC,
# Abseil and protobuf when the TSan prefix is absent) are not checked, since TSan cannot see
# those libraries' synchronisation; races between instrumented accesses - all of the project's
# code, and gRPC's with the prefix - are still reported.
export TSAN_OPTIONS="suppressions=$repo/bench/tsan/suppressions.txt:second_deadlock_stack=1:history_size=4:ignore_noninstrumented_modules=1"
labels="^($(IFS='|'; echo "${tests[*]}"))\$"
status=0
nice -n 19 ctest --test-dir "$build" -L "$labels" --output-on-failure -j "$jobs" \
  --timeout 600 "$@" || status=$?
nice -n 19 ctest --test-dir "$build" -L '^kernels_cpu_test$' -R "$comm_tests" --output-on-failure \
  -j "$jobs" --timeout 600 "$@" || status=$?
echo "tsan: tests took $(( $(date +%s) - built )) s (exit $status)"
exit "$status"

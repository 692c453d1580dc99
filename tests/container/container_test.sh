#!/usr/bin/env bash
# ctest container_cluster: the sparsescale image (deploy/container/, the prebuilt fast path:
# this build's binaries on the debootstrap base image) runs a coordinator and two CPU workers
# on a podman network this test owns; a two-job sweep goes through them, its token shards
# uploaded to the coordinator as a dataset (the workers see no file of this host), the worker container
# of a job that runs past a checkpoint is killed (podman kill, SIGKILL), and the sweep still
# ends with both jobs SUCCEEDED (the killed one on its second attempt) and one clean curve per
# job (steps strictly increasing, 1..total, none twice), checked with the CLI against the
# coordinator's port published on loopback. Also: the image's HEALTHCHECK and non-root user,
# and deploy/compose.yaml as podman-compose reads it.
# Exit 77 (ctest skip) only when podman cannot run a container here (podman info fails, or a
# container of the base image cannot start); any other problem fails.
# Usage: container_test.sh SOURCE_DIR BUILD_DIR CLI_BIN [PYTHON]
set -euo pipefail
src="$1"
build="$2"
cli="$3"
python="${4:-/usr/bin/python3}"
export CONTAINERS_CONF="$src/deploy/container/containers.conf"
start=$SECONDS
say() { echo "container_cluster: [$((SECONDS - start)) s, $(date -u +%T.%N | cut -c1-12)] $*"; }
fail() { echo "container_cluster: FAIL: $*" >&2; exit 1; }
command -v podman >/dev/null || fail "podman is not installed (bash deploy/setup.sh)"

# cli ARGS...: the CLI, tried again on a failure for a few seconds (on a loaded machine a call
# through the port forwarder can time out before gRPC's handshake).
cli() {
  local i
  for i in 1 2 3 4 5; do
    "$cli" "$@" && return 0
    sleep "$i"
  done
  return 1
}

id="ctest-$$"
base=localhost/sparsescale-runtime:bookworm
image="localhost/sparsescale:$id"
net="sparsescale-$id"
vol="sparsescale-db-$id"
dir="$(mktemp -d /var/tmp/sparsescale-container-test.XXXXXX)"
cleanup() {
  local rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
    for c in "$id-coordinator" "$id-worker1" "$id-worker2"; do
      podman container exists "$c" || continue
      echo "--- podman logs $c (last 20 lines)" >&2
      podman logs --tail 20 "$c" >&2 2>&1 || true
      podman inspect --format "{{.State.Status}} {{.State.ExitCode}} {{.State.FinishedAt}}" \
        "$c" >&2 || true
    done
  fi
  # -v: also the anonymous volumes made for the image's VOLUME in the worker containers.
  podman rm -f -v -t 0 "$id-coordinator" "$id-worker1" "$id-worker2" >/dev/null 2>&1 || true
  podman network rm -f "$net" >/dev/null 2>&1 || true
  podman volume rm -f "$vol" >/dev/null 2>&1 || true
  podman rmi "$image" >/dev/null 2>&1 || true
  rm -rf "$dir"
  exit "$rc"
}
trap cleanup EXIT

# deploy/compose.yaml as podman-compose (Debian 12: 1.0.3, no `config` command) reads it: its
# dry run with /bin/true for podman prints the `podman run` lines and creates nothing.
command -v podman-compose >/dev/null || fail "podman-compose is not installed (bash deploy/setup.sh)"
runs="$(timeout 30 podman-compose --podman-path /bin/true --dry-run \
          -f "$src/deploy/compose.yaml" up -d 2>&1 | grep ' run --name=' || true)"
if [ "$(grep -c -e ' localhost/sparsescale:latest sparsescale-coordinator ' <<<"$runs")" != 1 ] ||
   [ "$(grep -c -e ' localhost/sparsescale:latest sparsescale-worker ' <<<"$runs")" != 2 ] ||
   ! grep -q -e '-v [a-z_]*coordinator-db:/var/lib/sparsescale ' <<<"$runs"; then
  fail "podman-compose does not read deploy/compose.yaml as 1 coordinator (with its volume) + 2 workers: $runs"
fi

# The base image (cached by tag: built once per machine), then the probe that decides SKIP.
if ! probe="$(podman info 2>&1 >/dev/null)"; then
  echo "container_cluster: SKIP: podman does not work here: $probe" >&2
  exit 77
fi
bash "$src/deploy/container/base-image.sh" --tag "$base" || fail "base-image.sh failed"
if ! probe="$(podman run --rm --network none "$base" true 2>&1)"; then
  echo "container_cluster: SKIP: podman cannot run a container here: $probe" >&2
  exit 77
fi
say "base image ready"
bash "$src/deploy/container/prebuilt-image.sh" "$build" --tag "$image" --base "$base" \
  >"$dir/image.log" 2>&1 || { tail -n 20 "$dir/image.log" >&2; fail "image build failed"; }
say "image $image built"

# The data: token shards made by the CLI's prepare step on this host, uploaded to the
# coordinator as a dataset below. The worker containers never see this host's files: they
# download the dataset from the coordinator (no shared filesystem, no bind mount).
[ -s "$src/data/corpus/web.txt" ] ||
  fail "corpus missing: $src/data/corpus/web.txt (bash deploy/setup.sh)"
head -c 200000 "$src/data/corpus/web.txt" >"$dir/corpus.txt"
"$cli" prepare --input "$dir/corpus.txt" --out "$dir/shards" --eval-fraction 0.1 >/dev/null

podman network create "$net" >/dev/null
podman volume create "$vol" >/dev/null
# (podman.log: podman's complaint that it cannot start the health check timer without systemd;
# the test runs the health check itself below.)
# Short lease and heartbeat (as in the e2e tests): the killed worker's job is leased again
# within seconds.
podman run -d --name "$id-coordinator" --network "$net" --network-alias coordinator \
  --health-interval disable -p 127.0.0.1::7070 -v "$vol:/var/lib/sparsescale" "$image" \
  coordinator --auth=none --insecure --lease-ttl-ms 3000 --heartbeat-period-ms 250 \
  >/dev/null 2>>"$dir/podman.log" || { cat "$dir/podman.log" >&2; fail "podman run coordinator"; }
for w in 1 2; do
  podman run -d --name "$id-worker$w" --network "$net" --health-interval disable \
    "$image" worker --name "worker$w" --slots 1 --threads 1 \
    >/dev/null 2>>"$dir/podman.log" || { cat "$dir/podman.log" >&2; fail "podman run worker$w"; }
done
port="$(podman port "$id-coordinator" 7070/tcp | sed -n 's/.*:\([0-9]*\)$/\1/p' | head -n 1)"
[ -n "$port" ] || fail "the coordinator's port 7070 is not published"
export SPARSESCALE_COORDINATOR="127.0.0.1:$port"
for _ in $(seq 1 100); do
  "$cli" status >/dev/null 2>&1 && break
  sleep 0.2
done
"$cli" status >/dev/null || fail "the coordinator does not answer on 127.0.0.1:$port"
# The image's HEALTHCHECK, run once by hand (podman's timer needs systemd, absent here).
podman healthcheck run "$id-coordinator" >/dev/null ||
  fail "the coordinator's HEALTHCHECK fails: $(podman logs --tail 5 "$id-coordinator" 2>&1)"
[ "$(podman exec "$id-coordinator" id -u)" = 10001 ] || fail "the image does not run as uid 10001"
say "coordinator and 2 workers up (coordinator on 127.0.0.1:$port)"
"$cli" dataset upload corpus "$dir"/shards/*.bin >"$dir/upload.log" 2>&1 ||
  { cat "$dir/upload.log" >&2; fail "dataset upload failed"; }
say "dataset uploaded: $(tail -n 1 "$dir/upload.log")"

# Two jobs of 1,000 steps (2 layers, width 64 and about 90: several seconds each, long enough
# to be killed mid-job), a checkpoint every 100 steps, a loss point every step.
steps=1000
tokens=$((steps * 8 * 64))
cat >"$dir/sweep.json" <<JSON
{"name": "container test",
 "base": {"name": "container test",
          "model": {"layers": 2, "width": 64, "heads": 2, "context": 64},
          "data": {"dataset": "corpus", "train_shards": ["train_*.bin"],
                   "eval_shards": ["val_000000.bin"],
                   "batch_size": 8, "tokens": $tokens,
                   "eval_interval_steps": 500, "eval_batches": 2},
          "checkpoint": {"interval_steps": 100},
          "log_interval_steps": 1, "seed": 1, "device": "cpu", "threads": 1},
 "axes": {"nonzeros": [98304], "sparsities": [0, 0.5], "tokens": [$tokens]}}
JSON
sweep="$(cli sweep create "$dir/sweep.json" --request-id "$id" --json |
  "$python" -c 'import json,sys; print(json.load(sys.stdin)["sweep"]["id"])')"
[ -n "$sweep" ] || fail "sweep create printed no id"

# jobs_json: the sweep's jobs as JSON lines {id, state, step, checkpoint_step, attempt}.
jobs_json() {
  cli job list --sweep "$sweep" --json | "$python" -c '
import json, sys
doc = json.load(sys.stdin)
for j in (doc.get("jobs", []) if isinstance(doc, dict) else doc):
    print(json.dumps({k: j.get(k) for k in
          ("id", "state", "step", "checkpoint_step", "attempt", "worker_id", "error")}))'
}

# The worker id each container registered as (its log: "registered as w-...").
declare -A container_of
for w in 1 2; do
  for _ in $(seq 1 50); do
    wid="$(podman logs "$id-worker$w" 2>&1 | sed -n 's/.*registered as \(w-[0-9a-f]*\).*/\1/p')"
    [ -n "$wid" ] && break
    sleep 0.2
  done
  [ -n "$wid" ] || fail "worker$w did not register"
  container_of[$wid]="$id-worker$w"
done

# Kill the worker of a job that runs past a checkpoint with most of its steps still to go.
victim=""
deadline=$((SECONDS + 120))
while [ "$SECONDS" -lt "$deadline" ]; do
  victim="$(jobs_json | "$python" -c '
import json, sys
for line in sys.stdin:
    j = json.loads(line)
    ckpt, step = int(j.get("checkpoint_step") or 0), int(j.get("step") or 0)
    if "RUNNING" in str(j["state"]) and ckpt >= 100 and ckpt < step <= '"$((steps * 4 / 10))"':
        print(j["id"], j["worker_id"])
        break
    if "RUNNING" not in str(j["state"]) and "QUEUED" not in str(j["state"]):
        print("ended", j["id"])
        break')"
  case "$victim" in
    ended*) jobs_json >&2; fail "job ${victim#ended } ended before it was seen past a checkpoint" ;;
    ?*) break ;;
  esac
  sleep 0.1
done
[ -n "$victim" ] || { jobs_json >&2; fail "no job was seen running past a checkpoint"; }
read -r killed_job killed_worker <<<"$victim"
[ -n "${container_of[$killed_worker]:-}" ] || fail "job $killed_job runs on unknown worker $killed_worker"
podman kill -s KILL "${container_of[$killed_worker]}" >/dev/null
say "killed ${container_of[$killed_worker]} (SIGKILL) while it ran job $killed_job"

deadline=$((SECONDS + 180))
while [ "$SECONDS" -lt "$deadline" ]; do
  states="$(jobs_json | "$python" -c '
import json, sys
print(" ".join(sorted(str(json.loads(l)["state"]) for l in sys.stdin if l.strip())))')"
  case "$states" in *QUEUED* | *RUNNING* | "") sleep 0.2 ;; *) break ;; esac
done
say "sweep ended: $states"
jobs_json >"$dir/jobs.jsonl"
"$python" - "$dir/jobs.jsonl" "$killed_job" <<'PY' ||
import json, sys
jobs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(jobs) == 2, jobs
assert all("SUCCEEDED" in str(j["state"]) for j in jobs), jobs
# The killed worker's job ran again (attempt 2); the other one once.
for j in jobs:
    assert int(j.get("attempt") or 0) == (2 if j["id"] == sys.argv[2] else 1), j
PY
  { cat "$dir/jobs.jsonl" >&2; fail "not both jobs SUCCEEDED, the killed one on attempt 2"; }
while read -r job; do
  cli curve "$job" --json >"$dir/curve-$job.json"
  "$python" - "$dir/curve-$job.json" "$steps" <<'PY' || fail "job $job: the curve is not clean"
import json, sys
doc = json.load(open(sys.argv[1]))
points = doc.get("points", []) if isinstance(doc, dict) else doc
steps = [int(p["step"]) for p in points]
total = int(sys.argv[2])
assert all(a < b for a, b in zip(steps, steps[1:])), "steps not strictly increasing"
assert steps == list(range(1, total + 1)), f"{len(steps)} points, first {steps[:3]}, last {steps[-3:]}"
PY
done < <("$python" -c 'import json,sys; [print(json.loads(l)["id"]) for l in open(sys.argv[1])]' "$dir/jobs.jsonl")
say "ok: 2 jobs SUCCEEDED, one clean curve of $steps points each, one job retried"

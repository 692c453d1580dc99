#!/usr/bin/env bash
# ctest deploy_scripts: shellcheck on every deploy script, then the Slurm script's dry run with
# a fake allocation (GPU nodes, then CPU-only nodes): one worker task per node, the GPUs
# passed on, every worker flag a real flag of sparsescale-worker (its --help), the drain
# command and the pre-termination signal directive. Then the compose file's commands
# (check_deploy.py --compose).
# Usage: scripts_test.sh SOURCE_DIR WORKER_BIN COORDINATOR_BIN [PYTHON]
set -euo pipefail
src="$1"
worker_bin="$2"
coordinator_bin="$3"
python="${4:-python3}"
fail() { echo "deploy_scripts: $*" >&2; exit 1; }
command -v shellcheck >/dev/null || fail "shellcheck is not installed (bash deploy/setup.sh)"

scripts=("$src"/deploy/*.sh "$src"/deploy/container/*.sh "$src"/deploy/slurm/*)
shellcheck "${scripts[@]}" || fail "shellcheck found problems"
echo "deploy_scripts: shellcheck clean on ${#scripts[@]} scripts"

sbatch="$src/deploy/slurm/sparsescale-workers.sbatch"
grep -q '^#SBATCH --signal=B:TERM@[0-9]' "$sbatch" || fail "no #SBATCH --signal=B:TERM@N"
worker_flags="$("$worker_bin" --help | grep -o -- '--[a-z][a-z0-9-]*' | sort -u)"

# Runs the dry run with the given environment; checks and prints the worker's arguments.
dry_run() {
  local out step
  out="$(env -i PATH="$PATH" DRY_RUN=1 SLURM_JOB_ID=42 SLURM_JOB_NUM_NODES=3 \
    SPARSESCALE_COORDINATOR=coord.example.org:7070 "$@" bash "$sbatch")"
  step="$(sed -n 's/^step: //p' <<<"$out")"
  [ -n "$step" ] || fail "no step line in: $out"
  grep -qx 'drain: scancel --signal=TERM 42' <<<"$out" || fail "drain line wrong: $out"
  case "$step" in
    "srun --nodes=3 --ntasks=3 --ntasks-per-node=1 "*" sparsescale-worker --coordinator coord.example.org:7070 "*) ;;
    *) fail "step: one worker per node dialling the coordinator expected, got: $step" ;;
  esac
  while read -r flag; do
    grep -qx -- "$flag" <<<"$worker_flags" || fail "$flag is not a sparsescale-worker flag"
  done < <(grep -o -- '--[a-z][a-z0-9-]*' <<<"${step#* sparsescale-worker }")
  echo "$step"
}

gpu="$(dry_run SLURM_GPUS_ON_NODE=4 CUDA_VISIBLE_DEVICES=0,1,2,3)"
[[ "$gpu" == *" --device cuda --gpus all"* ]] || fail "GPU nodes: $gpu"
gpu="$(dry_run SLURM_JOB_GPUS=0,1)"
[[ "$gpu" == *" --device cuda --gpus all"* ]] || fail "GPU nodes (SLURM_JOB_GPUS): $gpu"
cpu="$(dry_run SPARSESCALE_SLOTS=8)"
[[ "$cpu" == *" --device cpu --slots 8"* ]] || fail "CPU nodes: $cpu"
[[ "$cpu" != *"--gpus"* ]] || fail "CPU nodes got --gpus: $cpu"
extra="$(dry_run SPARSESCALE_WORKER_ARGS="--threads 4")"
[[ "$extra" == *" --threads 4" ]] || fail "extra args: $extra"
echo "deploy_scripts: slurm dry runs ok"

"$python" "$src/tests/deploy/check_deploy.py" --compose "$src/deploy/compose.yaml" \
  --coordinator-bin "$coordinator_bin" --worker-bin "$worker_bin"

#!/usr/bin/env bash
# Benchmark: fit of the 160 released runs (112 ViT + 48 T5) with K starts (default 200), C++
# (sparsescale_law: Ceres BFGS, analytic gradient, 1 and 2 threads) against scipy's BFGS
# (numerical gradient as the paper's notebook did, and analytic), measured in the same run.
#
# Usage: bash bench/law/run.sh [BUILD_DIR] [--starts K]
#   BUILD_DIR defaults to build-law; it must hold bench/law/law_fit_bench (target law_fit_bench).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${repo}/build-law"
starts=200
while [ $# -gt 0 ]; do
  case "$1" in
    --starts) starts="$2"; shift 2 ;;
    *) build="$(cd "$1" && pwd)"; shift ;;
  esac
done
data="${repo}/data/paper"  # the released runs, vendored (data/paper/README.md)
if [ ! -f "${data}/t5-c4.csv" ] || [ ! -f "${data}/vit-jft.json" ]; then
  echo "run.sh: released data not found in ${data} (t5-c4.csv, vit-jft.json are part of" \
    "the repository)" >&2
  exit 1
fi
bench="${build}/bench/law/law_fit_bench"
if [ ! -x "${bench}" ]; then
  echo "run.sh: ${bench} missing; build it: cmake --build ${build} --target law_fit_bench" >&2
  exit 1
fi
python=/usr/bin/python3  # Debian's python3 has python3-scipy

out="$(mktemp -d)"
trap 'rm -rf "${out}"' EXIT
"${bench}" "${data}" --starts "${starts}" --threads 1 --repeat 5 > "${out}/cpp1.jsonl"
"${bench}" "${data}" --starts "${starts}" --threads 2 --repeat 5 > "${out}/cpp2.jsonl"
"${python}" "${repo}/bench/law/scipy_fit.py" "${data}" --starts "${starts}" \
  --gradient numeric > "${out}/scipy_numeric.jsonl"
"${python}" "${repo}/bench/law/scipy_fit.py" "${data}" --starts "${starts}" \
  --gradient analytic > "${out}/scipy_analytic.jsonl"

"${python}" - "${out}" "${starts}" <<'PY'
import json, sys
out, starts = sys.argv[1], sys.argv[2]
def load(name):
    rows = {}
    for line in open(f"{out}/{name}.jsonl"):
        row = json.loads(line)
        rows[row["dataset"]] = row
    for key in ["seconds", "cpu_seconds"]:
        rows.setdefault("total", {})[key] = rows["vit"][key] + rows["t5"][key]
    return rows
runs = {k: load(k) for k in ["cpp1", "cpp2", "scipy_numeric", "scipy_analytic"]}
label = {"cpp1": "C++ Ceres BFGS, 1 thread", "cpp2": "C++ Ceres BFGS, 2 threads",
         "scipy_numeric": "scipy BFGS, numerical grad", "scipy_analytic": "scipy BFGS, analytic grad"}
print(f"law fit, {starts} starts per dataset (seconds; C++: median of 5)")
print(f"{'fitter':28} {'ViT wall':>8} {'T5 wall':>8} {'wall':>8} {'CPU':>8}  {'ViT objective':>13} "
      f"{'T5 objective':>13} {'within 1% ViT/T5':>16}")
for key, rows in runs.items():
    print(f"{label[key]:28} {rows['vit']['seconds']:8.3f} {rows['t5']['seconds']:8.3f} "
          f"{rows['total']['seconds']:8.3f} {rows['total']['cpu_seconds']:8.3f}  "
          f"{rows['vit']['objective']:13.6e} {rows['t5']['objective']:13.6e} "
          f"{rows['vit']['within_1pct']:>8}/{rows['t5']['within_1pct']}")
for cpp in ["cpp1", "cpp2"]:
    for base in ["scipy_numeric", "scipy_analytic"]:
        wall = runs[base]["total"]["seconds"] / runs[cpp]["total"]["seconds"]
        cpu = runs[base]["total"]["cpu_seconds"] / runs[cpp]["total"]["cpu_seconds"]
        print(f"speed-up {label[cpp]} vs {label[base]}: {wall:.1f}x wall, {cpu:.1f}x CPU")
PY

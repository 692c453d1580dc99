#!/usr/bin/env bash
# The main job: set-up (packages, corpus), build, then a whole sparse-scaling study on this
# machine - corpus shards, a local coordinator and workers, the sweep with progress and ETA,
# CSV exports, the fitted law with its leave-largest-out check (fit the smaller sizes, predict
# every cell of the largest), the optimal sparsity with bootstrap intervals and SVG figures.
# The last line printed is the held-out check's mean and worst relative error.
# Usage: bash deploy/study.sh [--quick] [more `sparsescale study` flags, e.g. --workers 4]
#   --quick   the small study (configs/study-quick.json, about 3 minutes on 2 CPU cores)
# Outputs (database, logs, points.csv, summary.csv, loss_vs_nonzeros.svg, sparsity_contours.svg)
# go to runs/study/ (runs/study-quick/ with --quick).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${SPARSESCALE_BUILD_DIR:-$repo/build}"
bash "$repo/deploy/setup.sh"
bash "$repo/deploy/build.sh" "$build"
cd "$repo"
# --fresh: a new database each time, so the wall time measures the whole study. Without it,
# `sparsescale study` resumes: finished cells are kept and only the rest is trained.
exec "$build/client/sparsescale" study --fresh "$@"

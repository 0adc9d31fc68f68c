#!/usr/bin/env bash
# Benchmark grid of vpg.py: bash benchmark/vpg.sh [EXTRA vpg.py ARGS]
# Settings (ENV_IDS, SEEDS, TOTAL_TIMESTEPS, WORKERS, OUT_DIR, DRY_RUN, SLURM, ...): benchmark/README.md
set -euo pipefail
exec bash "$(dirname "$0")/grid.sh" vpg -- "$@"

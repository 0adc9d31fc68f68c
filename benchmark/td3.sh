#!/usr/bin/env bash
# Benchmark grid of td3.py: bash benchmark/td3.sh [EXTRA td3.py ARGS]
# Settings (ENV_IDS, SEEDS, TOTAL_TIMESTEPS, WORKERS, OUT_DIR, DRY_RUN, SLURM, ...): benchmark/README.md
set -euo pipefail
exec bash "$(dirname "$0")/grid.sh" td3 -- "$@"

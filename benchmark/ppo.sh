#!/usr/bin/env bash
# Benchmark grid of ppo.py: bash benchmark/ppo.sh [EXTRA ppo.py ARGS]
# Settings (ENV_IDS, SEEDS, TOTAL_TIMESTEPS, WORKERS, OUT_DIR, DRY_RUN, SLURM, ...): benchmark/README.md
set -euo pipefail
exec bash "$(dirname "$0")/grid.sh" ppo -- "$@"

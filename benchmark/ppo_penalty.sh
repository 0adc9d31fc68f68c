#!/usr/bin/env bash
# Benchmark grid of ppo_penalty.py: bash benchmark/ppo_penalty.sh [EXTRA ppo_penalty.py ARGS]
# Settings (ENV_IDS, SEEDS, TOTAL_TIMESTEPS, WORKERS, OUT_DIR, DRY_RUN, SLURM, ...): benchmark/README.md
set -euo pipefail
exec bash "$(dirname "$0")/grid.sh" ppo_penalty -- "$@"

#!/usr/bin/env bash
# 1M-step HalfCheetah-v4 learning runs of the four on-policy scripts with their default settings.
# Usage: bash benchmark/onpolicy_halfcheetah.sh            (from the repository root)
#   ALGOS="ppo trpo" SEEDS="1 2 3" ENV_ID=Hopper-v4 WORKERS=4 bash benchmark/onpolicy_halfcheetah.sh
# Each run uses one thread; WORKERS runs go at once (default: the number of cores). TensorBoard runs
# land in benchmark/runs/, each run's stdout/stderr in benchmark/logs/.
set -euo pipefail
cd "$(dirname "$0")"
ALGOS=${ALGOS:-"vpg ppo ppo_penalty trpo"}
SEEDS=${SEEDS:-"1 2"}
ENV_ID=${ENV_ID:-HalfCheetah-v4}
WORKERS=${WORKERS:-$(nproc)}
mkdir -p logs
for algo in $ALGOS; do for seed in $SEEDS; do echo "$algo $seed"; done; done |
  xargs -P "$WORKERS" -L 1 bash -c 'OMP_NUM_THREADS=1 python ../$0.py --env-id '"$ENV_ID"' --seed $1 > logs/'"$ENV_ID"'__$0__$1.log 2>&1 && echo "done: $0 seed $1"'

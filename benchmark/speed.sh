#!/usr/bin/env bash
# Steps per second of the seven scripts (and SB3's equivalents where installed), side by side in one run;
# writes benchmark/results/speed.md. Run it on an otherwise idle machine.
# Usage: bash benchmark/speed.sh [--repeats 3] [--threads 1] [--env-id HalfCheetah-v4] [--algos ppo sac ...]
set -euo pipefail
cd "$(dirname "$0")/.."
exec python benchmark/speed.py "$@"

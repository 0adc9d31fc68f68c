#!/usr/bin/env bash
# Device check: what CI cannot run, since it has no GPU. Each of the seven scripts trains briefly on the default
# device (the GPU where torch sees one) with --save-model: two on-policy iterations of 1024 steps, or 200
# off-policy updates after 1000 random steps. Then it reloads its checkpoint with --load-model --eval-only, and
# both evaluations are printed. An off-policy script then runs again with --checkpoint-frequency, is killed (SIGKILL)
# once it has saved its state, and goes on with --resume (the state's buffer and optimizers moved to the device).
# Any failure stops the check with the script's own last lines.
#
#   bash tests/device_check.sh                      # all seven, HalfCheetah-v4, in ./device_check/
#   ALGOS="ppo sac" ENV_ID=Hopper-v4 OUT_DIR=/tmp/check bash tests/device_check.sh
#
# Where no GPU is present it still runs, on the CPU, and says so: that checks only what the tests check.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python}
ALGOS=${ALGOS:-"vpg trpo ppo ppo_penalty ddpg td3 sac"}
ENV_ID=${ENV_ID:-HalfCheetah-v4}
OUT_DIR=${OUT_DIR:-device_check}
for algo in $ALGOS; do
  [[ " vpg trpo ppo ppo_penalty ddpg td3 sac " == *" $algo "* ]] || { echo "device_check.sh: error: unknown script '$algo' in ALGOS" >&2; exit 2; }
done
mkdir -p "$OUT_DIR" && OUT_DIR=$(cd "$OUT_DIR" && pwd)
"$PYTHON" -c "import torch; print('device:', torch.cuda.get_device_name(0) if torch.cuda.is_available()
      else 'CPU only (no GPU visible to torch): this checks nothing that the tests do not')"
for algo in $ALGOS; do
  case $algo in
    vpg | trpo | ppo | ppo_penalty) budget=(--total-timesteps 2048 --num-steps 1024) ;;
    *) budget=(--total-timesteps 1200 --learning-starts 1000) ;;
  esac
  dir=$OUT_DIR/$algo
  rm -rf "$dir" && mkdir -p "$dir"
  (cd "$dir" && "$PYTHON" "$ROOT/$algo.py" --env-id "$ENV_ID" --cuda "${budget[@]}" --eval-episodes 1 --save-model \
    > train.log 2>&1) || { tail -3 "$dir/train.log" >&2; echo "device_check.sh: $algo: training failed" >&2; exit 1; }
  checkpoint=$(ls "$dir"/runs/*/"$algo".pt)
  (cd "$dir" && "$PYTHON" "$ROOT/$algo.py" --env-id "$ENV_ID" --cuda --load-model "$checkpoint" --eval-only \
    --eval-episodes 1 > eval.log 2>&1) || { tail -3 "$dir/eval.log" >&2; echo "device_check.sh: $algo: reload failed" >&2; exit 1; }
  echo "$algo: $(grep -h 'global_step=' "$dir/train.log" | tail -1); trained $(grep -h 'eval:' "$dir/train.log");" \
    "reloaded $(grep -h 'eval:' "$dir/eval.log")"
  [[ $algo == ddpg || $algo == td3 || $algo == sac ]] || continue
  flags=(--env-id "$ENV_ID" --cuda --total-timesteps 2000 --learning-starts 1000 --checkpoint-frequency 1100
         --eval-episodes 1)
  (cd "$dir" && exec "$PYTHON" "$ROOT/$algo.py" "${flags[@]}" > killed.log 2>&1) &
  pid=$!
  until compgen -G "$dir/runs/*/${algo}_state.pt" > /dev/null || ! kill -0 "$pid" 2> /dev/null; do sleep 0.1; done
  kill -9 "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
  state=$(ls "$dir"/runs/*/"$algo"_state.pt 2> /dev/null) ||
    { tail -3 "$dir/killed.log" >&2; echo "device_check.sh: $algo: no state file to resume from" >&2; exit 1; }
  (cd "$dir" && "$PYTHON" "$ROOT/$algo.py" "${flags[@]}" --resume "$state" > resumed.log 2>&1) ||
    { tail -3 "$dir/resumed.log" >&2; echo "device_check.sh: $algo: resuming failed" >&2; exit 1; }
  echo "$algo: killed after saving its state, $(grep -h '^resuming' "$dir/resumed.log" | cut -d' ' -f1,3-6) to 2000;" \
    "$(grep -h 'eval:' "$dir/resumed.log")"
done
echo "device check passed: ${ALGOS// /, } on $ENV_ID"

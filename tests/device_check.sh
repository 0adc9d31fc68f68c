#!/usr/bin/env bash
# Device check: what CI cannot run, since it has no GPU. Each of the seven scripts trains briefly on the default
# device (the GPU where torch sees one) with --save-model: two on-policy iterations of 1024 steps, or 200
# off-policy updates after 1000 random steps. Then it reloads its checkpoint with --load-model --eval-only; both
# evaluations are printed, and they must agree (the same policy on the same evaluation seed). An off-policy script then runs again with --checkpoint-frequency, is killed (SIGKILL)
# once it has saved its state, and goes on with --resume (the state's buffer and optimizers moved to the device).
# The scripts are checked side by side, JOBS at a time (default: one per core), since each Python process spends
# seconds starting CUDA and its environment; the results are printed in ALGOS order. A failure fails the check,
# with the script's own last lines, once the running checks are done.
#
#   bash tests/device_check.sh                      # all seven, HalfCheetah-v4, in ./device_check/
#   ALGOS="ppo sac" ENV_ID=Hopper-v4 OUT_DIR=/tmp/check JOBS=1 bash tests/device_check.sh
#
# Where no GPU is present it still runs, on the CPU, and says so: that checks only what the tests check.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python}
ALGOS=${ALGOS:-"vpg trpo ppo ppo_penalty ddpg td3 sac"}
ENV_ID=${ENV_ID:-HalfCheetah-v4}
OUT_DIR=${OUT_DIR:-device_check}
JOBS=${JOBS:-$(nproc)}
for algo in $ALGOS; do
  [[ " vpg trpo ppo ppo_penalty ddpg td3 sac " == *" $algo "* ]] || { echo "device_check.sh: error: unknown script '$algo' in ALGOS" >&2; exit 2; }
done
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || { echo "device_check.sh: error: JOBS must be a positive integer, got '$JOBS'" >&2; exit 2; }
mkdir -p "$OUT_DIR" && OUT_DIR=$(cd "$OUT_DIR" && pwd)
"$PYTHON" -c "import torch; print('device:', torch.cuda.get_device_name(0) if torch.cuda.is_available()
      else 'CPU only (no GPU visible to torch): this checks nothing that the tests do not')"

# check ALGO: its summary lines on stdout, a failure's reason on stderr and a non-zero exit
check() {
  local algo=$1 dir=$OUT_DIR/$1 budget checkpoint flags pid state
  case $algo in
    vpg | trpo | ppo | ppo_penalty) budget=(--total-timesteps 2048 --num-steps 1024) ;;
    *) budget=(--total-timesteps 1200 --learning-starts 1000) ;;
  esac
  rm -rf "$dir" && mkdir -p "$dir"
  (cd "$dir" && "$PYTHON" "$ROOT/$algo.py" --env-id "$ENV_ID" --cuda "${budget[@]}" --eval-episodes 1 --save-model \
    > train.log 2>&1) || { tail -3 "$dir/train.log" >&2; echo "device_check.sh: $algo: training failed" >&2; return 1; }
  checkpoint=$(ls "$dir"/runs/*/"$algo".pt)
  (cd "$dir" && "$PYTHON" "$ROOT/$algo.py" --env-id "$ENV_ID" --cuda --load-model "$checkpoint" --eval-only \
    --eval-episodes 1 > eval.log 2>&1) || { tail -3 "$dir/eval.log" >&2; echo "device_check.sh: $algo: reload failed" >&2; return 1; }
  echo "$algo: $(grep -h 'global_step=' "$dir/train.log" | tail -1); trained $(grep -h 'eval:' "$dir/train.log");" \
    "reloaded $(grep -h 'eval:' "$dir/eval.log")"
  [[ $(grep -h 'eval:' "$dir/train.log") == $(grep -h 'eval:' "$dir/eval.log") ]] ||
    { echo "device_check.sh: $algo: the reloaded checkpoint does not evaluate as the trained policy did" >&2; return 1; }
  [[ $algo == ddpg || $algo == td3 || $algo == sac ]] || return 0
  flags=(--env-id "$ENV_ID" --cuda --total-timesteps 2000 --learning-starts 1000 --checkpoint-frequency 1100
         --eval-episodes 1)
  (cd "$dir" && exec "$PYTHON" "$ROOT/$algo.py" "${flags[@]}" > killed.log 2>&1) &
  pid=$!
  until compgen -G "$dir/runs/*/${algo}_state.pt" > /dev/null || ! kill -0 "$pid" 2> /dev/null; do sleep 0.1; done
  kill -9 "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
  state=$(ls "$dir"/runs/*/"$algo"_state.pt 2> /dev/null) ||
    { tail -3 "$dir/killed.log" >&2; echo "device_check.sh: $algo: no state file to resume from" >&2; return 1; }
  (cd "$dir" && "$PYTHON" "$ROOT/$algo.py" "${flags[@]}" --resume "$state" > resumed.log 2>&1) ||
    { tail -3 "$dir/resumed.log" >&2; echo "device_check.sh: $algo: resuming failed" >&2; return 1; }
  echo "$algo: killed after saving its state, $(grep -h '^resuming' "$dir/resumed.log" | cut -d' ' -f1,3-6) to 2000;" \
    "$(grep -h 'eval:' "$dir/resumed.log")"
}

rm -f "$OUT_DIR"/*.rc
for algo in $ALGOS; do
  while (( $(jobs -rp | wc -l) >= JOBS )); do wait -n || true; done
  { set +e; (set -e; check "$algo") > "$OUT_DIR/$algo.summary" 2> "$OUT_DIR/$algo.error"; echo $? > "$OUT_DIR/$algo.rc"; } &
done
wait
failed=()
for algo in $ALGOS; do
  cat "$OUT_DIR/$algo.summary"
  [[ $(cat "$OUT_DIR/$algo.rc" 2> /dev/null) == 0 ]] || failed+=("$algo")
done
for algo in "${failed[@]}"; do cat "$OUT_DIR/$algo.error" >&2; done
(( ${#failed[@]} == 0 )) || { echo "device_check.sh: failed: ${failed[*]}" >&2; exit 1; }
echo "device check passed: ${ALGOS// /, } on $ENV_ID"

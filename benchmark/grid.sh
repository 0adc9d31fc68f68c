#!/usr/bin/env bash
# Learning runs of every (algorithm, environment, seed) cell of a grid: locally on worker processes, or
# as a Slurm job array. The per-algorithm runners (benchmark/ppo.sh, ...) call this file.
#
# Usage: bash benchmark/grid.sh ALGO [ALGO ...] [-- EXTRA SCRIPT ARGS]
#   bash benchmark/grid.sh ppo trpo                          all default cells of both scripts
#   ENV_IDS=Hopper-v4 SEEDS="1 2" TOTAL_TIMESTEPS=300000 bash benchmark/grid.sh sac -- --batch-size 512
#   DRY_RUN=1 bash benchmark/ppo.sh                          print the commands, run nothing
#   SLURM=emit bash benchmark/ppo.sh > ppo.sbatch            write the job-array script
#   SLURM=submit SLURM_PARTITION=cpu bash benchmark/ppo.sh   write it to OUT_DIR/logs/slurm/ and sbatch it
# Variables (defaults):
#   ENV_IDS ("HalfCheetah-v4 Hopper-v4 Walker2d-v4 Ant-v4"), SEEDS ("1 2 3"),
#   TOTAL_TIMESTEPS (unset: the script's own default, 1M), WORKERS (local: the number of cores),
#   OUT_DIR (benchmark/: runs go to OUT_DIR/runs/, logs to OUT_DIR/logs/{env_id}__{algo}__{seed}.log),
#   PYTHON (python), DRY_RUN (0), SLURM (unset | emit | submit), JOB_NAME (bench-{algos}),
#   SLURM_PARTITION (unset: the cluster's default), SLURM_TIME (12:00:00), SLURM_MEM (4G),
#   RERUN (0; 1: run finished cells again, into a new run folder),
#   EVAL_FREQUENCY (10000) and EVAL_EPISODES (10): every run evaluates its deterministic policy on EVAL_EPISODES
#   episodes every EVAL_FREQUENCY steps (--eval-frequency, --eval-episodes; EVAL_FREQUENCY=0: only after training).
# Each run uses one thread (OMP_NUM_THREADS=1) and runs from OUT_DIR, since the scripts write runs/ there.
# A cell whose run left a state file (off-policy scripts, --checkpoint-frequency N) is resumed from it with
# --resume, its log appended to, and a cell whose log ends with the line "grid.sh: finished" (written when its run
# exits 0) is skipped unless RERUN=1: run the same grid again after a kill or a time limit.
set -euo pipefail

die() { echo "grid.sh: $*" >&2; exit 2; }
FINISHED="grid.sh: finished"  # the last line of a cell's log once its run has exited 0
quote() { local s=""; (($#)) && printf -v s ' %q' "$@"; echo "$s"; }  # shell-quoted, each after a space
ROOT=$(cd "$(dirname "$0")/.." && pwd)
KNOWN="vpg trpo ppo ppo_penalty ddpg td3 sac"

algos=()
while (($#)) && [[ $1 != -- ]]; do
  [[ " $KNOWN " == *" $1 "* ]] || die "unknown algorithm '$1' (one of: $KNOWN)"
  algos+=("$1")
  shift
done
(($#)) && shift  # the "--"; what follows goes to every script
((${#algos[@]})) || die "no algorithm given (usage: grid.sh ALGO [ALGO ...] [-- EXTRA SCRIPT ARGS])"
read -ra env_ids <<< "${ENV_IDS:-HalfCheetah-v4 Hopper-v4 Walker2d-v4 Ant-v4}"
read -ra seeds <<< "${SEEDS:-1 2 3}"
((${#env_ids[@]})) || die "ENV_IDS is empty"
((${#seeds[@]})) || die "SEEDS is empty"
extra=(--eval-frequency "${EVAL_FREQUENCY:-10000}" --eval-episodes "${EVAL_EPISODES:-10}")
[[ -n ${TOTAL_TIMESTEPS:-} ]] && extra+=(--total-timesteps "$TOTAL_TIMESTEPS")
extra+=("$@")
extra_q=$(quote "${extra[@]}")
OUT_DIR=${OUT_DIR:-$ROOT/benchmark}
[[ $OUT_DIR == /* ]] || OUT_DIR=$PWD/$OUT_DIR
PYTHON=${PYTHON:-python}
if [[ $PYTHON == */* && $PYTHON != /* ]]; then PYTHON=$PWD/$PYTHON; fi  # the runs start in OUT_DIR
WORKERS=${WORKERS:-$(nproc)}
[[ $WORKERS =~ ^[1-9][0-9]*$ ]] || die "WORKERS must be a positive integer, not '$WORKERS'"
n=$((${#algos[@]} * ${#env_ids[@]} * ${#seeds[@]}))
JOB_NAME=${JOB_NAME:-bench-$(IFS=-; echo "${algos[*]}")}

# The job-array script: task i runs cell i of the grid, in the order of the local runner's commands.
slurm_script() {
  local a e s py
  a=$(quote "${algos[@]}") e=$(quote "${env_ids[@]}") s=$(quote "${seeds[@]}") py=$(quote "$PYTHON")
  cat <<EOF
#!/usr/bin/env bash
#SBATCH --job-name=$JOB_NAME
#SBATCH --array=0-$((n - 1))
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=1
#SBATCH --time=${SLURM_TIME:-12:00:00}
#SBATCH --mem=${SLURM_MEM:-4G}
#SBATCH --output=$OUT_DIR/logs/slurm/%x_%A_%a.out
#SBATCH --error=$OUT_DIR/logs/slurm/%x_%A_%a.err
EOF
  [[ -n ${SLURM_PARTITION:-} ]] && echo "#SBATCH --partition=$SLURM_PARTITION"
  cat <<EOF
# $n learning runs, one (algo, env_id, seed) cell per array task; written by benchmark/grid.sh.
# Submit: sbatch THIS_FILE. Each run's output: $OUT_DIR/logs/{env_id}__{algo}__{seed}.log
set -euo pipefail
ALGOS=(${a# })
ENV_IDS=(${e# })
SEEDS=(${s# })
# task id -> cell: seeds vary fastest, then environments, then algorithms
i=\$SLURM_ARRAY_TASK_ID
algo=\${ALGOS[i / (\${#ENV_IDS[@]} * \${#SEEDS[@]})]}
env_id=\${ENV_IDS[i / \${#SEEDS[@]} % \${#ENV_IDS[@]}]}
seed=\${SEEDS[i % \${#SEEDS[@]}]}
cd$(quote "$OUT_DIR")
mkdir -p logs
log=logs/\${env_id//\\//_}__\${algo}__\${seed}.log
echo "task \$i: \$algo \$env_id seed \$seed, log \$PWD/\$log"
if [[ \${RERUN:-0} == 0 && \$(tail -n 1 "\$log" 2> /dev/null) == "$FINISHED" ]]; then
  echo "finished before (its log ends with \"$FINISHED\"); RERUN=1 runs it again"
  exit 0
fi
# a run that left a state file (--checkpoint-frequency) goes on from it; a new run starts a new log
state=\$(ls -t runs/"\$env_id"__"\$algo"__"\$seed"__*/"\$algo"_state.pt 2> /dev/null | head -n 1) || true
resume=()
if [[ -n \$state ]]; then resume=(--resume "\$state"); else : > "\$log"; fi
export OMP_NUM_THREADS=1
${py# }$(quote "$ROOT")/\$algo.py --env-id "\$env_id" --seed "\$seed"$extra_q "\${resume[@]}" >> "\$log" 2>&1
echo "$FINISHED" >> "\$log"
EOF
}

case ${SLURM:-} in
  "") ;;
  emit)
    mkdir -p "$OUT_DIR/logs/slurm"  # Slurm does not create the folder of --output and loses the output
    slurm_script
    exit 0 ;;
  submit)
    command -v sbatch > /dev/null || die "SLURM=submit: sbatch not found (SLURM=emit writes the script only)"
    mkdir -p "$OUT_DIR/logs/slurm"
    file=$OUT_DIR/logs/slurm/$JOB_NAME.sbatch
    slurm_script > "$file"
    echo "$n array tasks in $file"
    exec sbatch "$file" ;;
  *) die "SLURM must be emit or submit, not '$SLURM'" ;;
esac

# Local: one command per cell, run from OUT_DIR by WORKERS processes at once.
commands=() labels=() logs=() skipped=()
for algo in "${algos[@]}"; do
  for env_id in "${env_ids[@]}"; do
    for seed in "${seeds[@]}"; do
      log=logs/${env_id//\//_}__${algo}__${seed}.log
      if [[ ${RERUN:-0} == 0 && $(tail -n 1 "$OUT_DIR/$log" 2> /dev/null) == "$FINISHED" ]]; then
        skipped+=("$algo $env_id seed $seed ($OUT_DIR/$log)")
        continue
      fi
      # a run that left a state file (--checkpoint-frequency) goes on from it, and its log with it
      state=$(cd "$OUT_DIR" 2> /dev/null && ls -t runs/"$env_id"__"$algo"__"$seed"__*/"$algo"_state.pt 2> /dev/null |
              head -n 1) || true
      resume=() redirect=">"
      [[ -n $state ]] && resume=(--resume "$state") redirect=">>"
      command="OMP_NUM_THREADS=1$(quote "$PYTHON" "$ROOT/$algo.py" --env-id "$env_id" --seed "$seed")$extra_q"
      commands+=("$command$(quote "${resume[@]}") $redirect$(quote "$log") 2>&1")
      labels+=("$algo $env_id seed $seed${state:+ from $state} ($OUT_DIR/$log)")
      logs+=("$log")
    done
  done
done
for cell in "${skipped[@]}"; do echo "skipped, finished before (RERUN=1 runs it again): $cell" >&2; done
if [[ ${DRY_RUN:-0} != 0 ]]; then
  echo "cd$(quote "$OUT_DIR")"
  printf '%s\n' "${commands[@]}"
  exit 0
fi
mkdir -p "$OUT_DIR/logs"
cd "$OUT_DIR"
echo "${#commands[@]} runs on $WORKERS workers; TensorBoard runs in $OUT_DIR/runs/, logs in $OUT_DIR/logs/"
# each worker gets (command, label, log); a run that exits 0 ends its log with the FINISHED line
for k in "${!commands[@]}"; do printf '%s\0%s\0%s\0' "${commands[k]}" "${labels[k]}" "${logs[k]}"; done |
  FINISHED=$FINISHED xargs -0 -r -n 3 -P "$WORKERS" bash -c \
    'if eval "$0"; then echo "$FINISHED" >> "$2"; echo "done: $1"; else echo "FAILED: $1" >&2; exit 1; fi' ||
  { echo "grid.sh: some runs failed, see their logs" >&2; exit 1; }

"""What periodic evaluation costs: the fraction of a 1M-step run's time that `--eval-frequency 10000 --eval-episodes 10`
adds, per script, on this machine.

    python benchmark/eval_cost.py --out benchmark/results/eval_cost.md [--env-id HalfCheetah-v4] [--scripts ppo sac]

For each script, at one thread: the training speed from a short run's own log (on-policy: the steps per second of its
second batch; off-policy: of the 1000 update steps after 1000 random ones), and the time of one evaluation (10
deterministic episodes in the script's own `evaluate`, on the environments its `make_envs` makes). A 1M-step run
evaluates 100 times, so the added fraction is 100 * t_eval / (1M / training speed). Evaluation steps the environment
and runs the policy forward only, so it is cheap beside the off-policy updates and dear beside on-policy training.
"""

import argparse
import importlib
import os
import subprocess
import sys
import tempfile
import time

import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ONPOLICY = ["vpg", "trpo", "ppo", "ppo_penalty"]
SCRIPTS = ONPOLICY + ["ddpg", "td3", "sac"]


def training_speed(script, env_id):
    """Environment steps per second of training after a warm-up, read from the run's own log (charts/SPS, the mean
    since the start, at two steps)."""
    if script in ONPOLICY:
        args, first, last = ["--total-timesteps", "4096", "--num-steps", "2048"], 2048, 4096
    else:
        args, first, last = ["--total-timesteps", "2000", "--learning-starts", "1000"], 1000, 2000
    with tempfile.TemporaryDirectory() as cwd:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ROOT}
        subprocess.run([sys.executable, os.path.join(ROOT, f"{script}.py"), "--env-id", env_id, "--eval-episodes", "0",
                        "--torch-threads", "1", *args], cwd=cwd, env=env, check=True, capture_output=True)
        (run_dir,) = [os.path.join(cwd, "runs", d) for d in os.listdir(os.path.join(cwd, "runs"))]
        events = EventAccumulator(run_dir, size_guidance={"scalars": 0})
        events.Reload()
        sps = {e.step: e.value for e in events.Scalars("charts/SPS")}
    # the logged SPS is steps / seconds since the start: the seconds at each step, then the rate between them
    if script not in ONPOLICY:  # logged every 100 steps: the last one at or before each step
        sps = {step: sps[max(s for s in sps if s <= step)] for step in (first + 100, last)}
        first += 100
    return (last - first) / (last / sps[last] - first / sps[first])


def evaluation_time(script, env_id, episodes=10):
    """Seconds of one evaluation of `episodes` episodes by the script's own evaluate (an untrained policy: the cost of
    a step does not depend on the weights, and a HalfCheetah episode always lasts 1000 steps)."""
    module = importlib.import_module(script)
    module_args = module.Args(env_id=env_id)
    made = module.make_envs(module_args, 1, "unused")
    envs = made[0] if isinstance(made, tuple) else made
    if script in ONPOLICY:
        policy = module.Agent(envs, module_args.init_log_std)
        made[1].update_running_mean = False  # frozen statistics, as in the scripts
    else:
        policy = module.Actor(envs)
    module.evaluate(policy, envs, 1, torch.device("cpu"), 0)  # warm-up
    start = time.perf_counter()
    returns, lengths = module.evaluate(policy, envs, episodes, torch.device("cpu"), 1)
    seconds = time.perf_counter() - start
    envs.close()
    return seconds, sum(lengths)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-id", default="HalfCheetah-v4")
    parser.add_argument("--scripts", nargs="+", default=SCRIPTS)
    parser.add_argument("--out", default=None, help="also write the table to this markdown file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    sys.path.insert(0, ROOT)
    lines = [f"Periodic evaluation's cost on {args.env_id}, one thread (`python benchmark/eval_cost.py`):", "",
             "| script | training SPS | one evaluation (10 episodes) | added to a 1M-step run by --eval-frequency 10000 |",
             "|-|-|-|-|"]
    for script in args.scripts:
        sps = training_speed(script, args.env_id)
        seconds, steps = evaluation_time(script, args.env_id)
        train_seconds = 1_000_000 / sps
        lines.append(f"| {script} | {sps:.0f} | {seconds:.1f} s ({steps} steps) | {100 * seconds / train_seconds:.0%} "
                     f"({100 * seconds / 60:.0f} min on {train_seconds / 60:.0f} min) |")
        print(lines[-1], flush=True)
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

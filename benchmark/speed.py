"""Steps per second of the seven scripts, side by side in one run, written to results/speed.md.

For each repeat, every script runs once in turn (the repeats interleave, so a slow minute of a noisy
machine spreads over all of them), alone, with --torch-threads THREADS. SPS is the training phase's:
environment steps between the second and the last `charts/SPS` event of the run divided by the wall
time between them, so start-up, a burn-in (the first two on-policy iterations, the first 400 off-policy
updates) and the off-policy scripts' random-action phase are left out. In the same run: the update-only
bound of the off-policy scripts (update_bound.py) and, where stable-baselines3 / sb3-contrib are
installed, their equivalents timed the same way.

    python benchmark/speed.py --repeats 3 --threads 1          (or: bash benchmark/speed.sh)
    python benchmark/speed.py --cuda --out speed_gpu.md          (scripts and bound on the GPU)
"""

import argparse
import glob
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

import gymnasium as gym
import numpy as np
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ON_POLICY, OFF_POLICY = ["vpg", "trpo", "ppo", "ppo_penalty"], ["ddpg", "td3", "sac"]
# the closest stable-baselines3 (sb3-contrib for TRPO) settings: same networks, batch and update counts
SB3 = {
    "ppo": ("stable_baselines3", "PPO", dict(n_steps=2048, batch_size=64, n_epochs=10)),
    "trpo": ("sb3_contrib", "TRPO", dict(n_steps=2048)),
    "ddpg": ("stable_baselines3", "DDPG", dict(batch_size=256, policy_kwargs=dict(net_arch=[256, 256]))),
    "td3": ("stable_baselines3", "TD3", dict(batch_size=256, policy_kwargs=dict(net_arch=[256, 256]))),
    "sac": ("stable_baselines3", "SAC", dict(batch_size=256, policy_kwargs=dict(net_arch=[256, 256]))),
}


def script_sps(algo, args):
    """One run of `algo.py`; its training-phase SPS from the event file's wall times."""
    budget = ["--total-timesteps", str(args.onpolicy_steps)] if algo in ON_POLICY else \
        ["--total-timesteps", str(args.learning_starts + args.offpolicy_steps), "--learning-starts", str(args.learning_starts)]
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([sys.executable, os.path.join(ROOT, f"{algo}.py"), "--env-id", args.env_id, "--eval-episodes", "0",
                        "--torch-threads", str(args.threads), "--cuda" if args.cuda else "--no-cuda", *budget, *args.script_args.split()],
                       cwd=folder, check=True, capture_output=True)
        (run,) = glob.glob(os.path.join(folder, "runs", "*"))
        acc = EventAccumulator(run)
        acc.Reload()
        events = acc.Scalars("charts/SPS")[1:]  # the first event closes the burn-in
    if len(events) < 2:
        sys.exit(f"speed.py: error: {algo}: too few charts/SPS events to time; raise the step budgets")
    return (events[-1].step - events[0].step) / (events[-1].wall_time - events[0].wall_time)


def sb3_worker(algo, env_id, threads, learning_starts, onpolicy_steps, offpolicy_steps, cuda):
    """Runs in a child process: SB3's `algo` on env_id, SPS between the end of its warm-up and the end."""
    import importlib

    from stable_baselines3.common.callbacks import BaseCallback

    torch.set_num_threads(threads)
    module, name, kwargs = SB3[algo]
    off_policy = algo in OFF_POLICY
    warmup = learning_starts + 200 if off_policy else 2 * 2048
    steps = offpolicy_steps if off_policy else onpolicy_steps
    marks = {}

    class Clock(BaseCallback):
        def _on_step(self):
            if self.num_timesteps in (warmup, total):
                marks[self.num_timesteps] = time.perf_counter()
            return True

    total = warmup + steps
    if off_policy:
        kwargs = dict(kwargs, learning_starts=learning_starts)
    model = getattr(importlib.import_module(module), name)("MlpPolicy", env_id, device="cuda" if cuda else "cpu", seed=1, **kwargs)
    model.learn(total_timesteps=total, callback=Clock())
    print((total - warmup) / (marks[total] - marks[warmup]))


def child_float(command):
    return float(subprocess.run(command, check=True, capture_output=True, text=True).stdout.split()[-1])


def machine(cuda):
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), platform.processor())
    gpu = f", GPU {torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})" if cuda else ""
    return f"{model}, {os.cpu_count()} cores visible{gpu}, {platform.system()} {platform.release()}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", nargs="+", default=ON_POLICY + OFF_POLICY)
    parser.add_argument("--env-id", default="HalfCheetah-v4")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--onpolicy-steps", type=int, default=40960, help="on-policy budget (20 iterations of 2048)")
    parser.add_argument("--learning-starts", type=int, default=5000)
    parser.add_argument("--offpolicy-steps", type=int, default=3000, help="off-policy steps timed after learning starts")
    parser.add_argument("--no-sb3", action="store_true", help="skip stable-baselines3 even where installed")
    parser.add_argument("--script-args", default="", help="more arguments for our scripts, e.g. '--compile'")
    parser.add_argument("--cuda", action="store_true", help="run the scripts, the bound and SB3 on the GPU")
    parser.add_argument("--commit", help="the commit timed, where this copy has no git history (default: git rev-parse)")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmark", "results", "speed.md"))
    parser.add_argument("--sb3-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cuda and not torch.cuda.is_available():
        parser.error("--cuda: torch sees no GPU here")
    if args.sb3_worker:
        return sb3_worker(args.sb3_worker, args.env_id, args.threads, args.learning_starts, args.onpolicy_steps, args.offpolicy_steps,
                          args.cuda)

    try:
        import sb3_contrib  # noqa: F401
        import stable_baselines3  # noqa: F401
        sb3_version = None if args.no_sb3 else stable_baselines3.__version__
    except ImportError:
        sb3_version = None
    probe = gym.make(args.env_id)
    obs_dim, act_dim = int(np.prod(probe.observation_space.shape)), int(np.prod(probe.action_space.shape))
    samples = {}  # (kind, algo) -> [SPS, ...]
    for repeat in range(args.repeats):
        for algo in args.algos:
            measurements = [("ours", lambda: script_sps(algo, args))]
            if algo in OFF_POLICY:
                measurements.append(("bound", lambda: child_float(
                    [sys.executable, os.path.join(ROOT, "benchmark", "update_bound.py"), algo, "--obs-dim", str(obs_dim),
                     "--act-dim", str(act_dim), "--threads", str(args.threads), "--steps", str(args.offpolicy_steps),
                     *(["--cuda"] if args.cuda else [])])))
            if sb3_version and algo in SB3:
                measurements.append(("sb3", lambda: child_float(
                    [sys.executable, __file__, "--sb3-worker", algo, "--env-id", args.env_id, "--threads", str(args.threads),
                     "--learning-starts", str(args.learning_starts), "--onpolicy-steps", str(args.onpolicy_steps),
                     "--offpolicy-steps", str(args.offpolicy_steps), *(["--cuda"] if args.cuda else [])])))
            for kind, measure in measurements:
                samples.setdefault((kind, algo), []).append(measure())
                print(f"repeat {repeat + 1}: {algo} {kind} {samples[(kind, algo)][-1]:.0f} SPS", flush=True)

    median = lambda kind, algo: statistics.median(samples[(kind, algo)]) if (kind, algo) in samples else None
    fmt = lambda x: "" if x is None else f"{x:.0f}"
    commit = args.commit or subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    lines = [
        f"# Steps per second, {args.env_id}, training phase", "",
        f"- Command: `python benchmark/speed.py {shlex.join(sys.argv[1:])}` "
        f"(on-policy {args.onpolicy_steps} steps; off-policy {args.offpolicy_steps} steps after {args.learning_starts} random ones)",
        f"- Machine: {machine(args.cuda)}; torch {torch.__version__} ({args.threads} thread(s)), gymnasium {gym.__version__}, "
        f"python {platform.python_version()}, stable-baselines3 {sb3_version or 'not installed'}; commit {commit}; "
        f"{time.strftime('%Y-%m-%d')}",
        f"- Medians of {args.repeats} runs, one run at a time, the repeats interleaved. Bound: the off-policy update alone "
        "(CleanRL's structure on random batches, `update_bound.py`); fraction = SPS / bound.", "",
        "| script | SPS (median) | all runs | update-only bound | fraction of bound | SB3 equivalent | ours / SB3 |",
        "|-|-|-|-|-|-|-|",
    ]
    for algo in args.algos:
        ours, bound, sb3 = median("ours", algo), median("bound", algo), median("sb3", algo)
        lines.append(f"| `{algo}.py` | {fmt(ours)} | {' '.join(fmt(x) for x in samples[('ours', algo)])} | {fmt(bound)} | "
                     f"{f'{ours / bound:.0%}' if bound else ''} | {fmt(sb3)} | {f'{ours / sb3:.2f}' if sb3 else ''} |")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

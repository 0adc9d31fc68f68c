"""benchmark/update_bound.py and benchmark/speed.py: the update-only bound does the updates of CleanRL's structure
for each off-policy algorithm, and speed.py times a script's training phase from its own event file."""

import argparse
import os
import re
import subprocess
import sys

import pytest
import torch
from torch.utils.tensorboard import SummaryWriter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmark"))
import speed  # noqa: E402
import update_bound  # noqa: E402


def optimizer_steps(optimizer):
    return max((int(state["step"]) for state in optimizer.state.values()), default=0)


@pytest.mark.parametrize("algo", ["ddpg", "td3", "sac"])
def test_update_bound_step_updates_as_cleanrl_does(algo):
    """Every step: one critic update; every 2nd step, the policy: once (DDPG, TD3: delayed, with their targets) or
    twice, each with a temperature step (SAC, whose critic targets follow every step)."""
    torch.manual_seed(0)
    step = update_bound.make_step(algo, obs_dim=3, act_dim=2, batch=8)
    parts = step.parts
    assert len(parts["critics"]) == (1 if algo == "ddpg" else 2)
    targets = [p.detach().clone() for target in parts["targets"] for p in target.parameters()]
    counts, targets_moved = [], []
    for _ in range(4):
        step()
        counts.append(tuple(optimizer_steps(parts[name]) for name in ("q_opt", "pi_opt", "a_opt")))
        now = [p.detach().clone() for target in parts["targets"] for p in target.parameters()]
        targets_moved.append(not all(torch.equal(a, b) for a, b in zip(now, targets)))
        targets = now
    if algo == "sac":
        assert counts == [(1, 0, 0), (2, 2, 2), (3, 2, 2), (4, 4, 4)] and targets_moved == [True] * 4
    else:
        assert counts == [(1, 0, 0), (2, 1, 0), (3, 1, 0), (4, 2, 0)] and targets_moved == [False, True] * 2


def test_script_sps_is_the_training_phase_of_the_event_file(monkeypatch):
    """Steps between the second and the last charts/SPS event over the wall time between them: start-up and the
    first iteration (the burn-in) are left out."""
    commands = []

    def fake_run(command, cwd, **_):  # a run that logged charts/SPS at these steps and wall times
        commands.append(command)
        writer = SummaryWriter(os.path.join(cwd, "runs", "Pendulum-v1__ppo__1__0"))
        for step, wall_time in [(2048, 100.0), (4096, 110.0), (6144, 111.0), (8192, 114.0)]:
            writer.add_scalar("charts/SPS", 1.0, step, walltime=wall_time)
        writer.close()

    monkeypatch.setattr(speed.subprocess, "run", fake_run)
    args = argparse.Namespace(env_id="Pendulum-v1", threads=1, cuda=False, onpolicy_steps=8192, learning_starts=5000,
                              offpolicy_steps=3000, script_args="--num-minibatches 4")
    assert speed.script_sps("ppo", args) == pytest.approx((8192 - 4096) / (114.0 - 110.0))
    ((_, script, *flags),) = commands
    assert script.endswith("ppo.py") and " ".join(flags) == ("--env-id Pendulum-v1 --eval-episodes 0 --torch-threads 1 "
                                                             "--no-cuda --total-timesteps 8192 --num-minibatches 4")


def test_speed_table_for_one_script(tmp_path):
    """End to end: the table shows what was measured. Also a guard of the scripts' command line as tyro makes it from
    Args (speed.py passes --torch-threads, --no-cuda, --eval-episodes and --script-args to a script)."""
    out = tmp_path / "speed.md"
    # 3 iterations of 512 steps: the first closes the burn-in, the 2nd and 3rd are timed
    command = [sys.executable, os.path.join(ROOT, "benchmark", "speed.py"), "--algos", "ppo", "--env-id", "Pendulum-v1",
               "--repeats", "1", "--onpolicy-steps", "1536", "--script-args", "--num-steps 512 --num-minibatches 4",
               "--no-sb3", "--commit", "abc1234", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    (measured,) = re.findall(r"^repeat 1: ppo ours (\d+) SPS$", result.stdout, re.MULTILINE)
    table = out.read_text()
    assert "Pendulum-v1" in table and "commit abc1234" in table
    assert f"| `ppo.py` | {measured} | {measured} | " in table  # the median of one run, and the run


@pytest.mark.parametrize("tool", [["update_bound.py", "td3", "--steps", "20"], ["speed.py", "--algos", "td3", "--repeats", "1"]])
def test_cuda_flag_runs_on_a_gpu_or_refuses_in_one_line(tool, tmp_path):
    command = [sys.executable, os.path.join(ROOT, "benchmark", tool[0]), *tool[1:], "--cuda"]
    if tool[0] == "speed.py":
        command += ["--no-sb3", "--learning-starts", "400", "--offpolicy-steps", "1000", "--out", str(tmp_path / "speed.md")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if torch.cuda.is_available():
        assert result.returncode == 0, result.stderr
    else:
        assert result.returncode == 2 and result.stderr.splitlines()[-1].endswith("error: --cuda: torch sees no GPU here")

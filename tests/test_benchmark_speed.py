"""benchmark/update_bound.py and benchmark/speed.py: the update-only bound runs for each off-policy
algorithm, and speed.py times a script from its own event file."""

import os
import subprocess
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmark"))
import update_bound  # noqa: E402


@pytest.mark.parametrize("algo", ["ddpg", "td3", "sac"])
def test_update_bound_step_runs(algo):
    torch.manual_seed(0)
    step = update_bound.make_step(algo, obs_dim=3, act_dim=2, batch=8)
    for _ in range(4):  # two critic-only steps and two with the delayed actor update
        step()


def test_speed_table_for_one_script(tmp_path):
    out = tmp_path / "speed.md"
    result = subprocess.run([sys.executable, os.path.join(ROOT, "benchmark", "speed.py"), "--algos", "ppo", "--env-id", "Pendulum-v1",
                             "--repeats", "1", "--onpolicy-steps", "8192", "--no-sb3", "--out", str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    table = out.read_text()
    assert "Pendulum-v1" in table and "| `ppo.py` |" in table
    sps = float(table.split("| `ppo.py` | ")[1].split(" |")[0])
    assert sps > 0

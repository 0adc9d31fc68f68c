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
                             "--repeats", "1", "--onpolicy-steps", "8192", "--no-sb3", "--commit", "abc1234", "--out", str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    table = out.read_text()
    assert "Pendulum-v1" in table and "| `ppo.py` |" in table and "commit abc1234" in table
    sps = float(table.split("| `ppo.py` | ")[1].split(" |")[0])
    assert sps > 0


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

"""tests/device_check.sh, the check for machines with a GPU, run here on the CPU with one script, and with two side
by side, one failing (each run starts a Python process, seconds apiece on a small machine; the other scripts' save
and reload have their own tests)."""

import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def device_check(tmp_path, algos, env_id="Pendulum-v1", jobs="2"):
    env = {**os.environ, "ALGOS": algos, "ENV_ID": env_id, "OUT_DIR": str(tmp_path / "check"), "JOBS": jobs, "OMP_NUM_THREADS": "1"}
    return subprocess.run(["bash", os.path.join(ROOT, "tests", "device_check.sh")], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)


def test_trains_saves_and_reloads_a_script(tmp_path):
    result = device_check(tmp_path, "ddpg")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("device: ") and lines[-1] == "device check passed: ddpg on Pendulum-v1"
    (line,) = [line for line in lines if line.startswith("ddpg: global_step=")]
    assert "trained eval: mean return" in line and "reloaded eval: mean return" in line, line
    (line,) = [line for line in lines if line.startswith("ddpg: killed")]  # and resumed from its state
    assert line.startswith("ddpg: killed after saving its state, resuming at global step 1100 to 2000; eval: mean"), line
    assert (tmp_path / "check" / "ddpg" / "eval.log").exists()


def test_a_failing_script_fails_the_check_after_the_others_report(tmp_path):
    result = device_check(tmp_path, "ppo ddpg", env_id="CartPole-v1")  # side by side; DDPG refuses a discrete action space
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and lines[1].startswith("ppo: global_step=") and "reloaded eval: mean return" in lines[1], lines
    errors = result.stderr.splitlines()
    assert errors[-3].startswith("ddpg.py: error: ") and errors[-2:] == ["device_check.sh: ddpg: training failed",
                                                                          "device_check.sh: failed: ddpg"], errors


def test_unknown_script_and_bad_jobs_are_refused(tmp_path):
    result = device_check(tmp_path, "ppo ppo2")
    assert result.returncode == 2 and "unknown script 'ppo2'" in result.stderr
    result = device_check(tmp_path, "ppo", jobs="0")
    assert result.returncode == 2 and "JOBS must be a positive integer, got '0'" in result.stderr
    assert not (tmp_path / "check").exists()  # refused before any work

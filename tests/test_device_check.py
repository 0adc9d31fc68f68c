"""tests/device_check.sh, the check for machines with a GPU, run here on the CPU with one script, and with two side
by side, both failing (each run starts a Python process, seconds apiece on a small machine; the other scripts' save
and reload have their own tests)."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# python, but ddpg.py gets a bad --batch-size (it stops in one line) and vpg.py's --eval-only run evaluates from another
# seed (its returns differ from the trained run's)
FAULTY_PYTHON = """#!/usr/bin/env bash
args=("$@")
[[ $1 == *ddpg.py ]] && args+=(--batch-size 0)
[[ $1 == *vpg.py && " $* " == *" --eval-only "* ]] && args+=(--seed 2)
exec "$REAL_PYTHON" "${args[@]}"
"""


def device_check(tmp_path, algos, env_id="Pendulum-v1", jobs="2", python=sys.executable):
    env = {**os.environ, "ALGOS": algos, "ENV_ID": env_id, "OUT_DIR": str(tmp_path / "check"), "JOBS": jobs,
           "OMP_NUM_THREADS": "1", "PYTHON": python, "REAL_PYTHON": sys.executable}
    return subprocess.run(["bash", os.path.join(ROOT, "tests", "device_check.sh")], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)


def test_trains_saves_and_reloads_a_script(tmp_path):
    result = device_check(tmp_path, "ddpg")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("device: ") and lines[-1] == "device check passed: ddpg on Pendulum-v1"
    (line,) = [line for line in lines if line.startswith("ddpg: global_step=")]
    # the same policy on the same evaluation seed, trained and reloaded
    (trained, reloaded) = re.findall(r"(trained|reloaded) eval: mean return (\S+) over 1 ", line)
    assert trained[1] == reloaded[1], line
    (line,) = [line for line in lines if line.startswith("ddpg: killed")]  # and resumed from its state
    assert line.startswith("ddpg: killed after saving its state, resuming at global step 1100 to 2000; eval: mean"), line
    assert (tmp_path / "check" / "ddpg" / "eval.log").exists()


def test_failing_scripts_fail_the_check_after_the_others_report(tmp_path):
    """Side by side: ddpg stops at once, as training starts, and vpg still runs to its end and reports; its reloaded
    checkpoint then evaluates differently from the trained policy, which fails it too."""
    python = tmp_path / "python"
    python.write_text(FAULTY_PYTHON)
    python.chmod(0o755)
    result = device_check(tmp_path, "vpg ddpg", python=str(python))
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and lines[1].startswith("vpg: global_step=") and "reloaded eval: mean return" in lines[1]
    errors = result.stderr.splitlines()
    assert errors[-4:] == ["device_check.sh: vpg: the reloaded checkpoint does not evaluate as the trained policy did",
                           "ddpg.py: error: --batch-size must be positive, got 0",
                           "device_check.sh: ddpg: training failed",
                           "device_check.sh: failed: vpg ddpg"], errors


def test_unknown_script_and_bad_jobs_are_refused(tmp_path):
    result = device_check(tmp_path, "ppo ppo2")
    assert result.returncode == 2 and "unknown script 'ppo2'" in result.stderr
    result = device_check(tmp_path, "ppo", jobs="0")
    assert result.returncode == 2 and "JOBS must be a positive integer, got '0'" in result.stderr
    assert not (tmp_path / "check").exists()  # refused before any work

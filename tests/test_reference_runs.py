"""The off-policy scripts' default path (one environment) logs what it logged before --num-envs existed.

tests/data/offpolicy_reference.json holds what each script logged on a short seeded run (the commands are in
REFERENCE_ARGS), made by the scripts at commit 38f59b3, before they stepped several environments at once:
    python tests/test_reference_runs.py PATH/TO/A/CHECKOUT    (writes the file from that checkout's scripts)
Floating-point results may differ in the last bits on another CPU; the comparison allows 1e-5 relative."""

import json
import os
import subprocess
import sys
import tempfile

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE = os.path.join(ROOT, "tests", "data", "offpolicy_reference.json")
SHORT = ["--env-id", "Pendulum-v1", "--total-timesteps", "800", "--learning-starts", "200", "--batch-size", "32",
         "--eval-episodes", "1"]
# ddpg's default policy delay changed from 2 to 1 since: the reference is of the delay it was made with
REFERENCE_ARGS = {"ddpg": [*SHORT, "--policy-frequency", "2"], "td3": SHORT, "sac": SHORT}
TAGS = ["charts/episodic_return", "eval/episodic_return", "losses/qf1_loss", "losses/qf1_values", "losses/actor_loss"]


def logged(root, script, args):
    """{tag: [(step, value), ...]} of TAGS that one run of root/script.py with args logged."""
    with tempfile.TemporaryDirectory() as cwd:
        env = {**os.environ, "PYTHONPATH": root, "OMP_NUM_THREADS": "1"}
        result = subprocess.run([sys.executable, os.path.join(root, f"{script}.py"), *args], cwd=cwd, env=env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        (run_dir,) = [os.path.join(cwd, "runs", d) for d in os.listdir(os.path.join(cwd, "runs"))]
        events = EventAccumulator(run_dir, size_guidance={"scalars": 0})
        events.Reload()
        return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in TAGS if tag in events.Tags()["scalars"]}


@pytest.mark.parametrize("script", REFERENCE_ARGS)
def test_the_default_single_environment_run_logs_what_it_did_before(script):
    expected = json.load(open(REFERENCE))[script]
    actual = logged(ROOT, script, REFERENCE_ARGS[script])
    assert set(expected) <= set(actual)  # tags added since are not compared
    for tag, points in expected.items():
        # every point logged before is logged again (TD3 now logs every 100 steps, no longer every 200)
        actual_points = dict(actual[tag])
        assert {step for step, _ in points} <= set(actual_points), tag
        assert [actual_points[step] for step, _ in points] == pytest.approx([v for _, v in points], rel=1e-5), tag


if __name__ == "__main__":
    reference = {script: logged(os.path.abspath(sys.argv[1]), script, args) for script, args in REFERENCE_ARGS.items()}
    with open(REFERENCE, "w") as f:
        json.dump(reference, f, indent=1)
        f.write("\n")

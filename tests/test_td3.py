"""td3.py (and ddpg.py, which shares its loop): --num-envs counts every environment step and stores no autoreset step,
and no action leaves the space's own asymmetric float32 bounds, in training or evaluation."""

import importlib
import os
import runpy
import sys
from collections import defaultdict

import numpy as np
import pytest
import torch

from tests import toy_envs_bounds
from tests import toy_envs_continuous as toy
from tests.script_runs import ROOT, run, run_side_by_side

TIGHT = "tests.toy_envs_bounds:TightBounds-v0"


def run_to_the_end(script, *args):
    """Run `script`.py in this process with a stand-in SummaryWriter; returns the script's variables when it closes
    the writer at the end of the run, and {tag: [(step, value), ...]} of what it logged."""
    namespace, logged = {}, defaultdict(list)

    class Writer:
        def __init__(self, *_, **__):
            pass

        def add_scalar(self, tag, value, step):
            logged[tag].append((step, float(value)))

        def add_text(self, *_):
            pass

        def flush(self):
            pass

        def close(self):
            namespace.update(sys._getframe(1).f_globals)  # the caller: the script's top level

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("torch.utils.tensorboard.SummaryWriter", Writer)
        patch.setattr(sys, "argv", [f"{script}.py", *args])
        runpy.run_path(os.path.join(ROOT, f"{script}.py"), run_name="__main__")
    return namespace, dict(logged)


def optimizer_steps(optimizer):
    (step,) = {int(state["step"]) for state in optimizer.state.values()}
    return step


@pytest.mark.parametrize("script", ["ddpg", "td3"])
def test_num_envs_counts_every_environment_step(script, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # 2 Pendulum-v1 environments, 500 vector steps: each runs a 200-step episode (vector steps 1-200), its
    # autoreset step (201), a second episode (202-401), its autoreset step (402), then 98 steps
    ns, logged = run_to_the_end(script, "--env-id", "Pendulum-v1", "--num-envs", "2", "--total-timesteps", "1000",
                                "--learning-starts", "200", "--batch-size", "32", "--buffer-size", "2000",
                                "--eval-episodes", "0")
    assert ns["global_step"] == 1000 and ns["envs"].num_envs == 2
    assert [step for step, _ in logged["charts/episodic_return"]] == [400, 400, 802, 802]
    assert [length for _, length in logged["charts/episodic_length"]] == [200.0] * 4
    assert ns["rb"].count == ns["rb"].pos == 2 * (500 - 2)  # every real transition, no autoreset step
    # one update per vector step once global_step > 200 (vector steps 101-500); the policy delay and the logging
    # count vector steps
    assert optimizer_steps(ns["q_optimizer"]) == 400
    assert optimizer_steps(ns["actor_optimizer"]) == 400 // ns["args"].policy_frequency
    assert [step for step, _ in logged["losses/qf1_loss"]] == [400, 600, 800, 1000]


@pytest.mark.parametrize("script", ["ddpg", "td3"])
def test_num_envs_stores_only_real_transitions(script, tmp_path, monkeypatch):
    """StepCount-v0 (tests/toy_envs_continuous.py): a real transition goes from t to t + 1 with reward t + 1; an
    autoreset step would go from the final t back to 0."""
    monkeypatch.chdir(tmp_path)
    ns, logged = run_to_the_end(script, "--env-id", "tests.toy_envs_continuous:StepCount-v0", "--num-envs", "3",
                                "--total-timesteps", "600", "--learning-starts", "300", "--batch-size", "16",
                                "--buffer-size", "1000", "--eval-episodes", "0")
    rb = ns["rb"]
    s, a, r, s_next, d = (x[:, 0] for x in rb.storage[: rb.count].split(rb.widths, dim=1))
    torch.testing.assert_close(s_next, s + 1)
    torch.testing.assert_close(r, s_next)
    assert (d == 1).any() and ((s_next == toy.TIME_LIMIT) & (d == 0)).any()  # both kinds of episode end
    # each finished episode is followed by one autoreset step of its environment, unless it ended at the last step
    finished = len(logged["charts/episodic_return"])
    assert rb.count == 600 - finished + sum(step == 600 for step, _ in logged["charts/episodic_return"])


@pytest.mark.parametrize("script", ["ddpg", "td3"])
def test_noise_clamps_use_the_space_bounds(script):
    """For Box(-1.5, 0.2) bias + scale is 0.20000005 in float32: the clamps must use the space's own high."""
    module = importlib.import_module(script)
    low, high = torch.as_tensor(toy_envs_bounds.LOW), torch.as_tensor(toy_envs_bounds.HIGH)
    scale, bias = (high - low) / 2, (high + low) / 2
    top = (bias + scale).expand(1000, len(high))
    assert (top > high).any()  # what a saturated actor outputs
    torch.manual_seed(0)
    noisy = module.add_exploration_noise(top, scale, low, high, 0.1)
    assert ((noisy >= low) & (noisy <= high)).all() and (noisy == high).any()
    if script == "td3":
        smoothed = module.target_policy_smoothing(top, scale, low, high, 0.2, 0.5)
        assert ((smoothed >= low) & (smoothed <= high)).all() and (smoothed == high).any()


@pytest.mark.parametrize("script", ["ddpg", "td3"])
def test_nothing_sent_to_the_environment_leaves_asymmetric_bounds(script, tmp_path):
    """TightBounds-v0 (tests/toy_envs_bounds.py) raises on any action outside its own low/high, so each run below
    fails if the script sends one: exploration noise large enough to hit the bounds often, 2 environments,
    evaluations during and after training, then from a checkpoint whose actor saturates tanh at the upper bound
    (bias + scale, one float32 ulp past high) in training and in evaluation."""
    common = ["--env-id", TIGHT, "--learning-starts", "50", "--batch-size", "16", "--buffer-size", "1000",
              "--eval-episodes", "2"]
    result = run(script, *common, "--total-timesteps", "200", "--num-envs", "2", "--exploration-noise", "3",
                 "--eval-frequency", "100", "--save-model", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (path,) = (tmp_path / "runs").glob(f"*/{script}.pt")
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["actor"]["net.4.weight"].zero_()
    checkpoint["actor"]["net.4.bias"].fill_(100.0)
    torch.save(checkpoint, tmp_path / "saturated.pt")
    with torch.no_grad():
        top = checkpoint["actor"]["action_bias"] + checkpoint["actor"]["action_scale"]
    assert (top.numpy() > toy_envs_bounds.HIGH).any()
    folders = [tmp_path / "train", tmp_path / "eval"]
    for folder in folders:
        folder.mkdir()
    results = run_side_by_side([
        (script, [*common, "--total-timesteps", "100", "--exploration-noise", "0.1", "--eval-frequency", "50",
                  "--load-model", str(tmp_path / "saturated.pt")], folders[0]),
        (script, [*common, "--eval-only", "--load-model", str(tmp_path / "saturated.pt")], folders[1]),
    ])
    for result in results:
        assert result.returncode == 0, result.stderr[-3000:]
    # the saturated actor earns the largest reward, sum(high), at each of the 20 steps of an evaluation episode
    assert f"eval: mean return {20 * float(np.sum(toy_envs_bounds.HIGH)):.1f}" in results[1].stdout

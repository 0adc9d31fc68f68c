"""sac.py's own promises: the temperature alpha stays a tensor on the training device (read back to the host only
to log it), the deterministic policy draws no random number, and the soft value of steps 12 and 14."""

import os
import runpy
import sys

import pytest
import torch

import sac
from tests.script_runs import ROOT

PENDULUM = ["--env-id", "Pendulum-v1", "--learning-starts", "100", "--batch-size", "32", "--buffer-size", "1000",
            "--eval-episodes", "0"]


def run_counting_reads(monkeypatch, *args):
    """Run sac.py in this process; return its variables at the end and how often it read a tensor back to the host
    (Tensor.item or float(tensor): on a GPU each waits for the device)."""
    reads, namespace = [], {}
    for method in ("item", "__float__"):
        original = getattr(torch.Tensor, method)
        monkeypatch.setattr(torch.Tensor, method, lambda self, original=original: reads.append(1) or original(self))
    writer_class = sac.SummaryWriter

    class Writer(writer_class):
        def close(self):
            namespace.update(sys._getframe(1).f_globals)  # the caller: the script's top level
            super().close()

    with monkeypatch.context() as patch:
        patch.setattr("torch.utils.tensorboard.SummaryWriter", Writer)
        patch.setattr(sys, "argv", ["sac.py", *args])
        runpy.run_path(os.path.join(ROOT, "sac.py"), run_name="__main__")
    return namespace, len(reads)


@pytest.mark.parametrize("autotune", ["--autotune", "--no-autotune"])
def test_alpha_is_a_tensor_read_back_only_when_logged(autotune, tmp_path, monkeypatch):
    # 50 and 99 updates (25 and 49 bursts of 2 policy and temperature steps), each run logging once, at its last
    # step: the same number of reads, so none per update
    monkeypatch.chdir(tmp_path)
    short, short_reads = run_counting_reads(monkeypatch, *PENDULUM, autotune, "--total-timesteps", "150")
    long, long_reads = run_counting_reads(monkeypatch, *PENDULUM, autotune, "--total-timesteps", "199")
    for namespace in (short, long):
        assert isinstance(namespace["alpha"], torch.Tensor) and namespace["alpha"].device == namespace["device"]
    assert long_reads == short_reads
    if autotune == "--autotune":  # and it is the tuned temperature
        assert torch.equal(long["alpha"], long["log_alpha"].detach().exp()) and long["alpha"].item() != 1.0
    else:
        assert long["alpha"].item() == pytest.approx(0.2)


def test_the_deterministic_policy_draws_no_random_number():
    """Evaluation during training must leave the random stream that training samples from as it was."""
    envs = sac.make_envs(sac.Args(env_id="Pendulum-v1"), 1, "unused")
    torch.manual_seed(0)
    actor = sac.Actor(envs)
    obs = torch.randn(5, 3)
    state = torch.get_rng_state()
    with torch.no_grad():
        deterministic = actor(obs)
    assert torch.equal(torch.get_rng_state(), state)
    torch.testing.assert_close(deterministic, actor.get_action(obs)[2], rtol=0, atol=0)


def test_soft_value_is_min_q_minus_alpha_log_pi_of_one_sample():
    envs = sac.make_envs(sac.Args(env_id="Pendulum-v1"), 1, "unused")
    torch.manual_seed(0)
    actor, qf1, qf2 = sac.Actor(envs), sac.QNetwork(envs), sac.QNetwork(envs)
    obs, alpha = torch.randn(7, 3), torch.tensor(0.3)
    torch.manual_seed(1)
    value, log_prob = actor.soft_value(obs, qf1, qf2, alpha)
    torch.manual_seed(1)
    actions, expected_log_prob, _ = actor.get_action(obs)
    torch.testing.assert_close(log_prob, expected_log_prob, rtol=0, atol=0)
    expected = torch.min(qf1(obs, actions), qf2(obs, actions)) - alpha * expected_log_prob
    torch.testing.assert_close(value, expected, rtol=0, atol=0)
    value.mean().backward()  # the gradient reaches the policy through the sampled action and its log pi
    assert all(p.grad is not None for p in actor.parameters())

"""What only ppo_penalty.py does: beta, the adaptive penalty weight, travels with the checkpoint, and pi_old's
distribution of each minibatch comes from the batched no-grad call over the rollout (no copy of the agent)."""

import copy
import glob
import os

import gymnasium as gym
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.distributions import kl_divergence

import ppo_penalty
from tests.script_runs import run, run_side_by_side

TINY = ["--env-id", "Pendulum-v1", "--num-envs", "2", "--num-steps", "64", "--num-minibatches", "4",
        "--eval-episodes", "0"]


def scalars(run_dir):
    events = EventAccumulator(run_dir, size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [e.value for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def the_run(cwd):
    (run_dir,) = glob.glob(os.path.join(cwd, "runs", "*"))
    return run_dir


def test_checkpoint_holds_beta_and_load_model_goes_on_from_it(tmp_path):
    # a beta far from 1: restarted at --init-beta 1, the first iteration would log 0.5, 1 or 2
    (tmp_path / "train").mkdir()
    result = run("ppo_penalty", *TINY, "--total-timesteps", "256", "--init-beta", "64", "--save-model",
                 cwd=tmp_path / "train")
    assert result.returncode == 0, result.stderr[-3000:]
    trained = scalars(the_run(tmp_path / "train"))
    (model,) = glob.glob(os.path.join(the_run(tmp_path / "train"), "*.pt"))
    checkpoint = torch.load(model, weights_only=True)
    assert checkpoint["beta"] == trained["charts/beta"][-1] >= 16  # beta_{k+1} after the last iteration

    # the same checkpoint without beta, as ppo_penalty.py wrote them before: it loads and starts at --init-beta
    old_model = str(tmp_path / "without_beta.pt")
    torch.save({k: v for k, v in checkpoint.items() if k != "beta"}, old_model)
    cases = [("ppo_penalty", [*TINY, "--total-timesteps", "128", "--load-model", path], tmp_path / name)
             for name, path in (("resumed", model), ("old", old_model))]
    for _, _, cwd in cases:
        cwd.mkdir()
    for result in run_side_by_side(cases):
        assert result.returncode == 0, result.stderr[-3000:]
    resumed, old = (scalars(the_run(cwd)) for _, _, cwd in cases)
    # one iteration: beta_1 = update_beta(beta_0, d), with beta_0 the checkpoint's (the default --init-beta is 1)
    kl_target = ppo_penalty.Args.kl_target
    assert resumed["charts/beta"] == [ppo_penalty.update_beta(checkpoint["beta"], resumed["losses/kl"][0], kl_target)]
    assert old["charts/beta"] == [ppo_penalty.update_beta(1.0, old["losses/kl"][0], kl_target)]


def fake_envs(action_space):
    return type("Envs", (), {"single_observation_space": gym.spaces.Box(-1, 1, (4,)), "single_action_space": action_space})


@pytest.mark.parametrize("action_space", [gym.spaces.Box(-1, 1, (3,)), gym.spaces.Discrete(4)], ids=["Box", "Discrete"])
def test_pi_old_of_a_minibatch_is_the_batched_call_sliced(action_space):
    """pi_old rebuilt from the batched call's parameters is the policy before the update (a copy of the agent, as the
    script used to keep), also after the update moved the live parameters, the log-std included, in place."""
    torch.manual_seed(0)
    agent = ppo_penalty.Agent(fake_envs(action_space), init_log_std=-0.5)
    obs = torch.randn(16, 3, 4)  # a (T, N) rollout
    with torch.no_grad():
        pi_old = agent.dist(obs)
    old_agent = copy.deepcopy(agent)
    with torch.no_grad():  # an update, in place as Adam's
        for p in agent.parameters():
            p.add_(0.3 * torch.randn_like(p))
    rows = torch.tensor([5, 0, 47, 13, 30, 31])  # flat (T * N) indices, as the minibatches and b_inds hold
    flat_obs = obs.flatten(0, 1)[rows]
    old = ppo_penalty.old_policy(pi_old, rows)
    with torch.no_grad():
        reference = old_agent.dist(flat_obs)
    actions = reference.sample()
    torch.testing.assert_close(old.log_prob(actions), reference.log_prob(actions))
    torch.testing.assert_close(old.entropy(), reference.entropy())
    new = agent.dist(flat_obs)
    kl = kl_divergence(old, new)
    torch.testing.assert_close(kl, kl_divergence(reference, new))
    assert kl.min() > 0  # the update moved the policy: pi_old is not the live one
    params = (old.base_dist.loc, old.base_dist.scale) if isinstance(action_space, gym.spaces.Box) else (old.logits,)
    assert not any(t.requires_grad for t in params)  # the KL's gradient reaches the new policy only
    kl.sum().backward()
    assert all(p.grad is not None for name, p in agent.named_parameters() if not name.startswith("critic."))

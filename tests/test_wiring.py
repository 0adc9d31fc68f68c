"""The training loops' wiring: what each loop passes to the functions whose math the other tests check, read in this
process at every call (tests/script_runs.py: calls_of). A helper can be right and still be called with the wrong
beta, noise setting or sign."""

import math
import os

import gymnasium as gym
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from tests.script_runs import ROOT, calls_of, run_logged

STEP_COUNT = "tests.toy_envs_continuous:StepCount-v0"  # asymmetric bounds: low [-1, 0], high [3, 0.5]


def test_ppo_penalty_weighs_each_iteration_by_its_beta_and_adapts_it_to_the_kl_of_the_update(tmp_path, monkeypatch):
    """Iteration k's every minibatch loss takes beta_k (beta_1 = --init-beta); after the update, beta_{k+1} =
    update_beta(beta_k, d, --kl-target) with d the exact mean KL(pi_old || pi_new) over the batch's transitions."""
    monkeypatch.chdir(tmp_path)
    losses, updates = [], []

    def on_call(name, arguments, caller):
        variables = caller.f_globals  # the script's top level
        if name == "ppo_penalty_losses":
            losses.append((variables["iteration"], arguments["beta"]))
            return None
        # the mean KL over the batch's transitions, computed apart from the script from what it stored
        valid = torch.as_tensor(variables["valid"])
        pi_old = variables["pi_old"].base_dist
        with torch.no_grad():
            pi_new = variables["agent"].dist(variables["obs"][valid]).base_dist
        kl = kl_divergence(Normal(pi_old.loc[valid], pi_old.scale[valid]), pi_new).sum(-1).mean().item()
        updates.append([variables["iteration"], arguments, kl])
        return lambda beta: updates[-1].append(beta)

    args = ["--env-id", "Pendulum-v1", "--num-envs", "2", "--num-steps", "64", "--num-minibatches", "4",
            "--update-epochs", "3", "--total-timesteps", "512", "--eval-episodes", "0", "--init-beta", "3",
            "--kl-target", "0.002"]
    with calls_of("ppo_penalty", {"ppo_penalty_losses", "update_beta"}, on_call):
        _, logged = run_logged("ppo_penalty", *args)
    assert [k for k, *_ in updates] == list(range(1, 5))
    beta = 3.0
    for k, arguments, kl, next_beta in updates:
        assert {b for i, b in losses if i == k} == {beta}, f"iteration {k}"  # all 12 minibatches (3 epochs x 4)
        assert arguments["beta"] == beta and arguments["kl_target"] == 0.002, f"iteration {k}"
        assert arguments["kl"] == pytest.approx(kl, rel=1e-5) and kl > 0, f"iteration {k}"
        beta = next_beta
    assert len(losses) == 4 * 3 * 4
    assert len({b for _, b in losses}) > 1  # beta moved, so a loss that took another beta would show
    assert [v for _, v in logged["charts/beta"]] == [u[3] for u in updates]


def test_td3_smooths_the_target_actors_actions_with_its_noise_settings_and_the_spaces_bounds(tmp_path, monkeypatch):
    """Step 12 as the loop calls it: the target actor's actions at s', the action scale and the bounds of the space
    (asymmetric here), --policy-noise and --noise-clip (not their defaults, nor each other)."""
    monkeypatch.chdir(tmp_path)
    space = gym.make(STEP_COUNT).action_space
    low, high = torch.as_tensor(space.low), torch.as_tensor(space.high)
    calls = []

    def on_call(_, arguments, caller):
        variables = caller.f_globals
        with torch.no_grad():
            target = variables["target_actor"](variables["b_next_obs"])
            online = variables["actor"](variables["b_next_obs"])
        calls.append(not torch.equal(target, online))
        assert torch.equal(arguments["next_actions"], target)
        torch.testing.assert_close(arguments["action_scale"], (high - low) / 2, rtol=0, atol=0)
        assert torch.equal(arguments["action_low"], low) and torch.equal(arguments["action_high"], high)
        assert (arguments["policy_noise"], arguments["noise_clip"]) == (0.3, 0.4)

    args = ["--env-id", STEP_COUNT, "--total-timesteps", "160", "--learning-starts", "100", "--batch-size", "16",
            "--buffer-size", "1000", "--eval-episodes", "0", "--policy-noise", "0.3", "--noise-clip", "0.4"]
    with calls_of("td3", {"target_policy_smoothing"}, on_call):
        run_logged("td3", *args)
    assert len(calls) == 60 and any(calls)  # once per update; the target actor trails the actor once it moved


def test_sac_loop_passes_the_tuned_alpha_and_the_policys_own_log_prob_to_the_temperature_loss(tmp_path, monkeypatch):
    """Box actions. Steps 12 and 14 take alpha = exp(log alpha) as it is now (a positive weight of -log pi); the policy
    descends -V(s); the temperature loss takes log alpha itself, the log pi of the policy step just made (not its
    negative) and the target entropy -|A|."""
    monkeypatch.chdir(tmp_path)
    policy_steps, temperature_steps = [], []

    def on_call(name, arguments, caller):
        variables = caller.f_globals  # the loop is at the script's top level
        alpha = variables["log_alpha"].detach().exp()
        if name == "soft_value":
            assert torch.equal(arguments["alpha"], alpha) and alpha.item() > 0
            if arguments["obs"] is variables["b_obs"]:  # the policy's step, not the target's (b_next_obs)
                return policy_steps.append
            assert arguments["obs"] is variables["b_next_obs"]
            return None
        soft_value, log_prob = policy_steps[-1]
        assert torch.equal(variables["actor_loss"], -soft_value.mean())
        assert arguments["log_alpha"] is variables["log_alpha"] and arguments["target_entropy"] == -2.0
        assert torch.equal(arguments["log_prob"], log_prob)
        temperature_steps.append(alpha.item())

    args = ["--env-id", STEP_COUNT, "--total-timesteps", "160", "--learning-starts", "100", "--batch-size", "16",
            "--buffer-size", "1000", "--eval-episodes", "0"]
    with calls_of("sac", {"soft_value", "temperature_loss"}, on_call):
        run_logged("sac", *args)
    # every 2nd of 60 updates, 2 policy and temperature steps; alpha moves from 1
    assert len(policy_steps) == len(temperature_steps) == 60 and len(set(temperature_steps)) == 60


@pytest.mark.parametrize("minibatch_size", [None, 20])
def test_trpo_fits_the_value_function_in_passes_over_every_transition_of_the_batch(tmp_path, monkeypatch,
                                                                                    minibatch_size):
    """Step 9: --train-v-iters passes over the batch's transitions (the autoreset steps left out), each one full-batch
    step with --vf-minibatch-size None (Spinning Up), else shuffled minibatches that hold every transition once."""
    monkeypatch.chdir(tmp_path)
    source = open(os.path.join(ROOT, "trpo.py")).read().splitlines()
    fit_line = next(i + 1 for i, line in enumerate(source) if "agent.value(b_obs[mb])" in line)
    fits = []

    def on_call(_, arguments, caller):
        if caller.f_lineno == fit_line:
            fits.append((arguments["obs"].clone(), caller.f_globals["b_obs"].clone()))

    args = ["--env-id", "CartPole-v1", "--num-envs", "2", "--num-steps", "64", "--total-timesteps", "128",
            "--train-v-iters", "3", "--eval-episodes", "0"]
    with calls_of("trpo", {"value"}, on_call):
        run_logged("trpo", *args, "--vf-minibatch-size", str(minibatch_size))  # "None": full batch
    b_obs = fits[0][1]
    assert len(b_obs) < 128  # CartPole's episodes ended inside the batch: their autoreset steps are not in it
    assert all(torch.equal(batch, b_obs) for _, batch in fits)
    sizes = [len(obs) for obs, _ in fits]
    per_pass = math.ceil(len(b_obs) / (minibatch_size or len(b_obs)))
    assert sizes == ([minibatch_size] * (per_pass - 1) + [len(b_obs) - minibatch_size * (per_pass - 1)]) * 3 \
        if minibatch_size else sizes == [len(b_obs)] * 3
    rows = lambda obs: sorted(map(tuple, obs.tolist()))
    passes = [torch.cat([obs for obs, _ in fits[i * per_pass : (i + 1) * per_pass]]) for i in range(3)]
    assert all(rows(p) == rows(b_obs) for p in passes)  # each pass holds every transition exactly once
    assert all(torch.equal(p, b_obs) for p in passes) == (minibatch_size is None)  # shuffled only in minibatches

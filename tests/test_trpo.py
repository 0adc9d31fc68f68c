"""TRPO's backtracking line search (trpo.line_search), on a quadratic toy and on the script's own policy."""

import math

import gymnasium as gym
import pytest
import torch
import torch.nn as nn
from torch.distributions import kl_divergence

import trpo


def quadratic_problem(kl_scale):
    """Parameters theta (two tensors), theta_old = their values now, a linear surrogate g . (theta - theta_old) and a
    KL of kl_scale * 1/2 (theta - theta_old)^T H (theta - theta_old): kl_scale 1 is exactly the quadratic model."""
    g = torch.Generator().manual_seed(0)
    params = [nn.Parameter(torch.randn(3, generator=g)), nn.Parameter(torch.randn(2, generator=g))]
    old = nn.utils.parameters_to_vector(params).detach().clone()
    M = torch.randn(5, 5, generator=g)
    H, grad = M @ M.T + torch.eye(5), torch.randn(5, generator=g)
    tried = []

    def surrogate_and_kl():
        step = nn.utils.parameters_to_vector(params) - old
        tried.append(step.clone())
        return grad @ step, kl_scale * 0.5 * step @ H @ step

    return params, old, H, torch.linalg.solve(H, grad), surrogate_and_kl, tried


@pytest.mark.parametrize("kl_scale, backtracks", [(0.5, 0), (4.0, 4)])
def test_accepted_step_keeps_the_kl_within_delta_and_improves_the_surrogate(kl_scale, backtracks):
    params, old, H, x, surrogate_and_kl, tried = quadratic_problem(kl_scale)
    delta, coef = 0.01, 0.8
    accepted, j, step_size, kl, improvement = trpo.line_search(params, x, (x @ H @ x).item(), surrogate_and_kl,
                                                               torch.tensor(0.0), delta, coef, 10)
    # the full step reaches the trust region's edge in the quadratic model: 1/2 s^T H s = delta
    full_step = math.sqrt(2 * delta / (x @ H @ x).item())
    torch.testing.assert_close(tried[0], full_step * x)
    # half the model's KL: the full step is taken; 4x: the first step within delta is shrunk to 0.8^4 = 0.41 of it
    # (0.8^3 = 0.51 is too long)
    assert accepted and j == backtracks == len(tried) - 1
    assert step_size == pytest.approx(full_step * coef**backtracks)
    torch.testing.assert_close(nn.utils.parameters_to_vector(params).detach() - old, step_size * x)
    assert 0 < kl <= delta and improvement > 0
    assert kl == pytest.approx(kl_scale * delta * coef ** (2 * backtracks), rel=1e-4)


def test_rejected_search_restores_the_parameters_bit_for_bit():
    params, old, H, x, _, _ = quadratic_problem(1.0)
    before = [p.detach().clone() for p in params]
    tries = []

    def never_better():  # the KL holds, but the surrogate never improves
        tries.append(nn.utils.parameters_to_vector(params).detach().clone())
        return torch.tensor(-1.0), torch.tensor(0.0)

    result = trpo.line_search(params, x, (x @ H @ x).item(), never_better, torch.tensor(0.0), 0.01, 0.5, 7)
    assert result == (False, 7, 0.0, 0.0, 0.0)
    assert len(tries) == 7 and not torch.equal(tries[-1], old)  # every shrink was tried, each away from theta_old
    assert all(torch.equal(p, b) for p, b in zip(params, before))


def test_line_search_on_the_policy_as_the_script_wires_it():
    """The script's step 6-8 on its own Agent: the accepted policy is within delta of the old one by the exact KL,
    and its surrogate improved by what line_search reports."""
    torch.manual_seed(0)
    envs = type("Envs", (), {"single_observation_space": gym.spaces.Box(-1, 1, (4,)),
                             "single_action_space": gym.spaces.Box(-1, 1, (2,))})
    agent = trpo.Agent(envs, init_log_std=-0.5)
    params = [p for name, p in agent.named_parameters() if not name.startswith("critic.")]
    obs = torch.randn(256, 4)
    with torch.no_grad():
        old_dist = agent.dist(obs)
        actions = old_dist.sample()
        logprobs = old_dist.log_prob(actions)
    advantages = torch.randn(256)
    dist = agent.dist(obs)
    surr_old = trpo.surrogate(dist.log_prob(actions), logprobs, advantages)
    g = nn.utils.parameters_to_vector(torch.autograd.grad(surr_old, params, retain_graph=True))
    kl_grad = nn.utils.parameters_to_vector(
        torch.autograd.grad(kl_divergence(old_dist, dist).mean(), params, create_graph=True))
    Hvp = lambda v: trpo.fisher_vector_product(kl_grad, params, v, 0.1)
    x = trpo.conjugate_gradient(Hvp, g, 10)

    def surrogate_and_kl():
        new_dist = agent.dist(obs)
        return (trpo.surrogate(new_dist.log_prob(actions), logprobs, advantages),
                kl_divergence(old_dist, new_dist).mean())

    delta = 0.01
    accepted, _, _, kl, improvement = trpo.line_search(params, x, (x @ Hvp(x)).item(), surrogate_and_kl, surr_old,
                                                       delta, 0.8, 10)
    assert accepted
    with torch.no_grad():
        new_dist = agent.dist(obs)
        assert kl_divergence(old_dist, new_dist).mean().item() == kl <= delta
        gain = trpo.surrogate(new_dist.log_prob(actions), logprobs, advantages) - surr_old
        assert gain.item() == improvement > 0

"""The on-policy math against independent computations."""

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn as nn
from torch.distributions import Categorical, MultivariateNormal, kl_divergence

import ppo
import ppo_penalty
import trpo
import vpg

ON_POLICY = [vpg, ppo, ppo_penalty, trpo]


def reference_gae(rewards, values, next_value, terminated, truncated, gamma, lam):
    """GAE the long way, one environment and one step at a time: walk forward through the episode,
    summing (gamma lambda)^l delta_{t+l}. After an episode's last step the rollout holds an autoreset
    step (skipped; its advantage is undefined). V(s_{t+1}) is the next slot's value (the true final
    observation at a truncation), 0 after a termination, `next_value` past the end of the rollout."""
    T, N = len(rewards), len(rewards[0])
    adv = np.full((T, N), np.nan)
    for n in range(N):
        for t in range(T):
            if t > 0 and (terminated[t - 1][n] or truncated[t - 1][n]):
                continue  # autoreset step
            total, k = 0.0, t
            while True:
                v_next = next_value[n] if k == T - 1 else values[k + 1][n]
                if terminated[k][n]:
                    v_next = 0.0
                total += (gamma * lam) ** (k - t) * (rewards[k][n] + gamma * v_next - values[k][n])
                if terminated[k][n] or truncated[k][n] or k == T - 1:
                    break
                k += 1
            adv[t, n] = total
    return adv


@pytest.mark.parametrize("module", ON_POLICY)
def test_gae_matches_reference_with_termination_and_truncation(module):
    g = torch.Generator().manual_seed(0)
    T, N, gamma, lam = 9, 3, 0.9, 0.8
    rewards = torch.randn(T, N, generator=g)
    values = torch.randn(T, N, generator=g)
    next_value = torch.randn(N, generator=g)
    terminated = torch.zeros(T, N)
    truncated = torch.zeros(T, N)
    terminated[2, 0] = 1  # env 0 terminates at t=2 (t=3 is its autoreset step)
    truncated[5, 0] = 1  # ... and is truncated at t=5 (t=6 autoreset)
    truncated[3, 1] = 1  # env 1 truncated at t=3
    terminated[T - 1, 1] = 1  # ... and terminates on the last step of the rollout
    dones = torch.maximum(terminated, truncated)
    advantages, returns = module.compute_gae(rewards, values, next_value, terminated, dones, gamma, lam)
    expected = reference_gae(rewards.tolist(), values.tolist(), next_value.tolist(), terminated.tolist(), truncated.tolist(), gamma, lam)
    valid = ~np.isnan(expected)
    assert valid.sum() == T * N - 3
    np.testing.assert_allclose(advantages.numpy()[valid], expected[valid], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(returns, advantages + values)
    # the truncated step bootstraps from the final observation's value; the terminated one does not
    assert advantages[5, 0] == pytest.approx(rewards[5, 0] + gamma * values[6, 0] - values[5, 0])
    assert advantages[2, 0] == pytest.approx(rewards[2, 0] - values[2, 0])


def fake_envs(action_space):
    return type("Envs", (), {"single_observation_space": gym.spaces.Box(-1, 1, (4,)), "single_action_space": action_space})


@pytest.mark.parametrize("module", ON_POLICY)
def test_gaussian_policy_matches_diagonal_multivariate_normal(module):
    torch.manual_seed(0)
    agent = module.Agent(fake_envs(gym.spaces.Box(-1, 1, (3,))), init_log_std=-0.5)
    with torch.no_grad():
        agent.actor_logstd.copy_(torch.tensor([-0.5, 0.1, 0.3]))
    obs = torch.randn(5, 4)
    dist = agent.dist(obs)
    mean, std = agent.actor(obs), agent.actor_logstd.exp()
    reference = MultivariateNormal(mean, covariance_matrix=torch.diag(std**2))
    actions = torch.randn(5, 3)
    torch.testing.assert_close(dist.log_prob(actions), reference.log_prob(actions))
    torch.testing.assert_close(dist.entropy(), reference.entropy())
    torch.testing.assert_close(dist.mode, mean)
    # KL between two diagonal Gaussians: the closed form against the full-covariance one
    other = agent.dist(obs + 0.3)
    other_reference = MultivariateNormal(agent.actor(obs + 0.3), covariance_matrix=torch.diag(std**2))
    torch.testing.assert_close(kl_divergence(dist, other), kl_divergence(reference, other_reference))


@pytest.mark.parametrize("module", ON_POLICY)
def test_categorical_policy_log_probs_entropy_kl(module):
    torch.manual_seed(0)
    agent = module.Agent(fake_envs(gym.spaces.Discrete(4)), init_log_std=0.0)
    with torch.no_grad():
        agent.actor[-1].weight.mul_(100)  # move away from the near-uniform initial policy
    obs = torch.randn(6, 4)
    dist, other = agent.dist(obs), agent.dist(-obs)
    logp, logq = torch.log_softmax(agent.actor(obs), -1), torch.log_softmax(agent.actor(-obs), -1)
    actions = torch.tensor([0, 1, 2, 3, 1, 0])
    torch.testing.assert_close(dist.log_prob(actions), logp.gather(1, actions[:, None]).squeeze(1))
    torch.testing.assert_close(dist.entropy(), -(logp.exp() * logp).sum(-1))
    torch.testing.assert_close(kl_divergence(dist, other), (logp.exp() * (logp - logq)).sum(-1))
    torch.testing.assert_close(dist.mode, logp.argmax(-1))
    assert not hasattr(agent, "actor_logstd")


def test_conjugate_gradient_solves_linear_system():
    g = torch.Generator().manual_seed(0)
    M = torch.randn(12, 12, generator=g, dtype=torch.float64)
    A = M @ M.T + 0.5 * torch.eye(12, dtype=torch.float64)
    b = torch.randn(12, generator=g, dtype=torch.float64)
    x = trpo.conjugate_gradient(lambda v: A @ v, b, iters=50)
    torch.testing.assert_close(x, torch.linalg.solve(A, b))


def test_fisher_vector_product_matches_explicit_kl_hessian():
    torch.manual_seed(0)
    net = nn.Linear(3, 2).double()
    log_std = nn.Parameter(torch.tensor([-0.3, 0.2], dtype=torch.float64))
    params = list(net.parameters()) + [log_std]
    obs = torch.randn(7, 3, dtype=torch.float64)
    flat_old = nn.utils.parameters_to_vector(params).detach().clone()

    def policy(flat):
        w, b, s = flat[:6].view(2, 3), flat[6:8], flat[8:]
        return torch.distributions.Independent(torch.distributions.Normal(obs @ w.T + b, s.exp().expand(7, 2)), 1)

    def mean_kl(flat):
        return kl_divergence(policy(flat_old), policy(flat)).mean()

    H = torch.autograd.functional.hessian(mean_kl, flat_old)
    # the script's path: the KL of the live parameters, its gradient with create_graph, then H v
    with torch.no_grad():
        old = torch.distributions.Independent(torch.distributions.Normal(net(obs), log_std.exp().expand(7, 2)), 1)
    new = torch.distributions.Independent(torch.distributions.Normal(net(obs), log_std.exp().expand(7, 2)), 1)
    kl_grad = nn.utils.parameters_to_vector(torch.autograd.grad(kl_divergence(old, new).mean(), params, create_graph=True))
    v = torch.randn(10, dtype=torch.float64)
    damping = 0.1
    torch.testing.assert_close(trpo.fisher_vector_product(kl_grad, params, v, damping), H @ v + damping * v)


def test_ppo_clip_gradient_vanishes_only_where_the_advantage_pushes_past_the_clip():
    eps = 0.2

    def grad(r, a):
        ratio = torch.tensor([r], requires_grad=True)
        ppo.clipped_surrogate_loss(ratio, torch.tensor([a]), eps).backward()
        return ratio.grad.item()

    assert grad(1.3, +1.0) == 0.0  # A > 0: no reward for raising r beyond 1 + eps
    assert grad(0.7, -1.0) == 0.0  # A < 0: no reward for lowering r beyond 1 - eps
    assert grad(0.7, +1.0) == pytest.approx(-1.0)  # A > 0, r too low: pushed back up (loss = -r A)
    assert grad(1.3, -1.0) == pytest.approx(1.0)  # A < 0, r too high: pushed back down
    assert grad(1.1, +1.0) == pytest.approx(-1.0)  # inside the clip range: the plain surrogate
    assert grad(0.9, -1.0) == pytest.approx(1.0)


def test_penalized_surrogate_and_beta_rule():
    ratio, adv, kl = torch.tensor([1.0, 1.2]), torch.tensor([1.0, -2.0]), torch.tensor([0.01, 0.03])
    assert ppo_penalty.penalized_surrogate_loss(ratio, adv, kl, beta=2.0).item() == pytest.approx(-(1.0 - 2.4) / 2 + 2.0 * 0.02)
    d = 0.01
    assert ppo_penalty.update_beta(1.0, 1.51 * d, d) == 2.0  # KL > 1.5 d_targ doubles
    assert ppo_penalty.update_beta(1.0, 0.1, d) == 2.0
    assert ppo_penalty.update_beta(1.0, d / 1.51, d) == 0.5  # KL < d_targ / 1.5 halves
    assert ppo_penalty.update_beta(1.0, 0.0, d) == 0.5
    assert ppo_penalty.update_beta(1.0, d, d) == 1.0  # in between: unchanged
    assert ppo_penalty.update_beta(1.0, 1.49 * d, d) == 1.0
    # the PPO paper's inequalities are strict: exactly at a threshold beta stays
    assert ppo_penalty.update_beta(1.0, 1.5 * d, d) == 1.0 and ppo_penalty.update_beta(1.0, d / 1.5, d) == 1.0


def test_policy_gradient_and_surrogate_have_the_same_gradient_at_theta_old():
    torch.manual_seed(0)
    logits = torch.randn(5, 3, requires_grad=True)
    actions, adv = torch.tensor([0, 2, 1, 1, 0]), torch.randn(5)
    logprob = Categorical(logits=logits).log_prob(actions)
    (g_pg,) = torch.autograd.grad(-vpg.policy_gradient_loss(logprob, adv), logits, retain_graph=True)
    (g_surr,) = torch.autograd.grad(trpo.surrogate(logprob, logprob.detach(), adv), logits)
    torch.testing.assert_close(g_pg, g_surr)


def test_vector_normalize_reward_skips_the_autoreset_step():
    """The scripts rely on gymnasium's vector NormalizeReward leaving the NEXT_STEP autoreset step out
    of its return statistics (Gymnasium issues 1451, 1668 reported it counted). A guard of the dependency (gymnasium):
    no line of ours is under test; a gymnasium version that counted the autoreset step again would fail it."""
    import tests.toy_envs  # noqa: F401  (registers StopOrGo-v0)

    envs = gym.vector.SyncVectorEnv([lambda: gym.make("StopOrGo-v0")], autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP)
    envs = gym.wrappers.vector.NormalizeReward(envs, gamma=0.5)
    envs.reset(seed=0)
    counts = []
    for action in [0, 0, 1, 1, 1]:  # stop | autoreset | go, go (truncated) | autoreset
        envs.step(np.array([action]))
        counts.append(envs.return_rms.count)
    np.testing.assert_allclose(np.diff(counts), [0, 1, 1, 0])  # one count per real step, none for autoresets


def test_ppo_losses_compiled_match_eager_values_and_gradients():
    """--compile fuses the minibatch loss; it must compute the same losses and gradients as the eager code."""
    torch.manual_seed(0)
    agent = ppo.Agent(fake_envs(gym.spaces.Box(-1, 1, (3,))), init_log_std=-0.5)
    obs, actions = torch.randn(64, 4), torch.randn(64, 3)
    with torch.no_grad():
        logprobs = agent.dist(obs).log_prob(actions) + 0.1 * torch.randn(64)
    advantages, returns = torch.randn(64), torch.randn(64)
    results = []
    for loss_fn in (ppo.ppo_losses, torch.compile(ppo.ppo_losses)):
        agent.zero_grad()
        losses = loss_fn(agent, obs, actions, logprobs, advantages, returns, 0.2, True)
        (losses[0] + 0.5 * losses[1]).backward()
        results.append(([x.detach() for x in losses], [p.grad.clone() for p in agent.parameters()]))
    (eager_losses, eager_grads), (compiled_losses, compiled_grads) = results
    for eager, compiled in zip(eager_losses + eager_grads, compiled_losses + compiled_grads):
        torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-5)
    assert 0 < eager_losses[4] < 1  # some ratios were clipped, some not: both branches are compared

"""sac.py on Discrete action spaces (Christodoulou 2019): the losses against a hand computation, sampling, the
replay buffer's action column, bootstrapping through a time limit, and tiny runs on CartPole-v1."""

import glob
import math
import os
import runpy
import sys
import types

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import sac
from tests.script_runs import ROOT, exit_message, run, run_side_by_side

TINY = ["--learning-starts", "100", "--batch-size", "32", "--buffer-size", "1000"]
CARTPOLE = ["--env-id", "CartPole-v1", *TINY]


def logged_scalars(cwd):
    """{tag: [(step, value), ...]} of the one run under cwd/runs, SPS left out (it is timing)."""
    (run_dir,) = (cwd / "runs").iterdir()
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]
            if tag != "charts/SPS"}


# --- the losses on a tiny batch: 2 states (one-hot observations), 3 actions ---
PI = [[0.5, 0.25, 0.25], [0.2, 0.3, 0.5]]  # pi(.|s0), pi(.|s1)
Q1 = [[1.0, 2.0, 3.0], [0.0, -1.0, 5.0]]
Q2 = [[2.0, 1.0, 4.0], [1.0, -2.0, 4.0]]  # min_i Q_i: [[1, 1, 3], [0, -2, 4]]
ALPHA, GAMMA = 0.5, 0.9
H0 = -(0.5 * math.log(0.5) + 0.25 * math.log(0.25) + 0.25 * math.log(0.25))  # entropies of pi(.|s0), pi(.|s1)
H1 = -(0.2 * math.log(0.2) + 0.3 * math.log(0.3) + 0.5 * math.log(0.5))
V0 = 0.5 * 1 + 0.25 * 1 + 0.25 * 3 + ALPHA * H0  # V(s) = sum_a pi(a|s) [min_i Q_i(s, a) - alpha log pi(a|s)]
V1 = 0.2 * 0 + 0.3 * -2 + 0.5 * 4 + ALPHA * H1


def table_module(cls, table):
    """A DiscreteActor or DiscreteQNetwork of a 2-state, 3-action env whose network outputs table[s] in state s."""
    envs = types.SimpleNamespace(single_observation_space=gym.spaces.Box(0, 1, (2,)),
                                 single_action_space=gym.spaces.Discrete(3))
    module = cls(envs)
    module.net = nn.Linear(2, 3, bias=False)
    with torch.no_grad():
        module.net.weight.copy_(torch.tensor(table).T)
    return module


def test_discrete_losses_match_a_hand_computation():
    actor = table_module(sac.DiscreteActor, [[math.log(p) for p in row] for row in PI])
    qf1, qf2 = table_module(sac.DiscreteQNetwork, Q1), table_module(sac.DiscreteQNetwork, Q2)
    # the batch as the replay buffer returns it: (s0, a2, r 1, s1, not terminal), (s1, a0, r 0.5, s0, terminal)
    obs, next_obs = torch.eye(2), torch.eye(2).flip(0)
    actions, rewards, terminations = torch.tensor([[2.0], [0.0]]), torch.tensor([1.0, 0.5]), torch.tensor([0.0, 1.0])
    alpha = torch.tensor([ALPHA])

    # step 12: y = r + gamma (1 - d) sum_a' pi(a'|s') [min_i Q_targ,i(s', a') - alpha log pi(a'|s')] (the critics
    # stand in for their targets here)
    with torch.no_grad():
        next_value, _ = actor.soft_value(next_obs, qf1, qf2, alpha)
    target_q = sac.bellman_target(rewards, terminations, next_value, GAMMA)
    torch.testing.assert_close(target_q, torch.tensor([1 + GAMMA * V1, 0.5]))

    # step 13: each critic's loss on Q_i(s, a) of the stored action; its gradient reaches those entries alone
    y0 = 1 + GAMMA * V1
    qf1_loss, qf2_loss = F.mse_loss(qf1(obs, actions), target_q), F.mse_loss(qf2(obs, actions), target_q)
    torch.testing.assert_close(qf1_loss, torch.tensor(((3 - y0) ** 2 + (0 - 0.5) ** 2) / 2))
    torch.testing.assert_close(qf2_loss, torch.tensor(((4 - y0) ** 2 + (1 - 0.5) ** 2) / 2))
    qf1_loss.backward()
    expected_grad = torch.zeros(3, 2)
    expected_grad[2, 0], expected_grad[0, 1] = 3 - y0, 0 - 0.5  # d/dQ(s, a) of the mean of two squared errors
    torch.testing.assert_close(qf1.net.weight.grad, expected_grad)

    # step 14: policy loss sum_a pi(a|s) [alpha log pi(a|s) - min_i Q_i(s, a)] = -V(s), averaged over the batch
    qf1.requires_grad_(False), qf2.requires_grad_(False)
    value, log_prob = actor.soft_value(obs, qf1, qf2, alpha)
    actor_loss = -value.mean()
    torch.testing.assert_close(actor_loss, torch.tensor(-(V0 + V1) / 2))
    actor_loss.backward()
    # exact gradient through the probabilities: dV/dlogits = pi * (min Q - alpha log pi - V), no sampled action
    for s, v, row in ((0, V0, PI[0]), (1, V1, PI[1])):
        min_q = torch.minimum(torch.tensor(Q1[s]), torch.tensor(Q2[s]))
        pi = torch.tensor(row)
        torch.testing.assert_close(actor.net.weight.grad[:, s], -pi * (min_q - ALPHA * pi.log() - v) / 2)

    # the temperature: J(alpha) = alpha (H(pi(.|s)) - H_target) with the exact entropy, H_target = 0.89 log 3
    torch.testing.assert_close(-log_prob, torch.tensor([H0, H1]))  # charts/entropy's exact entropy
    target_entropy = sac.target_entropy_heuristic(gym.spaces.Discrete(3), 0.89)
    assert target_entropy == pytest.approx(0.89 * math.log(3))
    log_alpha = torch.tensor([math.log(ALPHA)], requires_grad=True)
    alpha_loss = sac.temperature_loss(log_alpha, log_prob, target_entropy)
    torch.testing.assert_close(alpha_loss, torch.tensor(ALPHA * ((H0 + H1) / 2 - 0.89 * math.log(3))))
    alpha_loss.backward()
    assert log_alpha.grad > 0  # the entropy is above its target: alpha goes down


def test_discrete_actor_samples_pi_and_acts_by_argmax():
    actor = table_module(sac.DiscreteActor, [[math.log(p) for p in row] for row in PI])
    obs = torch.eye(2).repeat_interleave(100_000, 0)
    torch.manual_seed(0)
    with torch.no_grad():
        actions, log_prob, deterministic = actor.get_action(obs)
    frequencies = F.one_hot(actions, 3).float().view(2, 100_000, 3).mean(1)
    torch.testing.assert_close(frequencies, torch.tensor(PI), atol=0.01, rtol=0)
    torch.testing.assert_close(log_prob, torch.tensor(PI).log()[obs.argmax(1), actions])
    state = torch.get_rng_state()
    assert actor(torch.eye(2)).tolist() == [0, 2] == deterministic[[0, -1]].tolist()
    assert torch.equal(torch.get_rng_state(), state)  # the deterministic policy draws no random number
    with torch.no_grad():  # a diverged network still acts within the space, so that the divergence check reports it
        actor.net.weight.fill_(float("nan"))
        actions = actor.get_action(obs[:10])[0]
    assert ((actions >= 0) & (actions < 3)).all()


def test_replay_buffer_stores_the_action_index_as_one_column():
    rb = sac.ReplayBuffer(4, 2, 1, "cpu")
    obs = np.arange(6, dtype=np.float32).reshape(3, 2)
    rb.add(obs, np.array([2, 0, 1]), np.ones(3), obs + 10, np.array([False, True, False]))
    rb.add(obs[:0], np.array([], dtype=np.int64), np.ones(0), obs[:0], np.zeros(0, bool))  # every env autoresetting
    assert rb.count == 3
    # rows (s, a, r, s', d)
    assert rb.storage[:3].tolist() == [[0, 1, 2, 1, 10, 11, 0], [2, 3, 0, 1, 12, 13, 1], [4, 5, 1, 1, 14, 15, 0]]


def test_input_checks():
    assert exit_message("sac", "--env-id", "tests.toy_envs:ShiftedActions-v0") == (
        "sac.py: error: sac.py requires a flat Box action space with finite bounds, low < high, or Discrete actions "
        "from 0; tests.toy_envs:ShiftedActions-v0 has Discrete(2, start=1)")
    assert exit_message("sac", "--env-id", "CartPole-v1", "--target-entropy-scale", "1.5") == (
        "sac.py: error: --target-entropy-scale must be in [0, 1], got 1.5")


# --- whole runs ---


def test_bootstraps_through_time_limit_truncation(tmp_path):
    """StopOrGo-v0 (tests/toy_envs.py): an agent that bootstraps through the 2-step time limit learns to "go"
    (deterministic return 0.4); one that treated truncation as termination learns to "stop" (1.0: checked by storing
    `terminated or truncated` in a scratch copy). Seed 5's untrained policy prefers "stop" (pi(go) = 0.43). A small
    fixed temperature: the entropy bonus, which pays for every step an episode goes on, would blur the difference."""
    args = ["--env-id", "tests.toy_envs:StopOrGo-v0", "--gamma", "0.95", "--seed", "5", "--total-timesteps", "1000",
            *TINY, "--no-autotune", "--alpha", "0.05", "--eval-episodes", "3", "--save-model"]
    result = run("sac", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [value for _, value in logged_scalars(tmp_path)["eval/episodic_return"]] == pytest.approx([0.4] * 3)
    (checkpoint_path,) = (tmp_path / "runs").glob("*/sac.pt")
    actor = sac.DiscreteActor(sac.make_envs(sac.Args(env_id="tests.toy_envs:StopOrGo-v0"), 1, "unused"))
    actor.load_state_dict(torch.load(checkpoint_path, weights_only=True)["actor"])
    assert torch.softmax(actor.net(torch.zeros(1, 1)), -1)[0, 1] > 0.9  # pi(go|s)


def test_cartpole_trains_logs_the_contract_reloads_and_repeats(tmp_path, monkeypatch):
    """Same seed twice: identical numbers; the contract's tags; save -> load -> evaluate gives the same returns; a
    diverging run ends in one line (a NaN policy still acts: no traceback before the divergence check)."""
    folders = [tmp_path / name for name in ("first", "second", "diverged")]
    for folder in folders:
        folder.mkdir()
    args = [*CARTPOLE, "--total-timesteps", "400", "--eval-episodes", "2", "--eval-frequency", "200", "--save-model"]
    diverging = [*CARTPOLE, "--total-timesteps", "300", "--q-lr", "1e30", "--policy-lr", "1e30", "--eval-episodes", "0"]
    results = run_side_by_side([("sac", args, folders[0]), ("sac", args, folders[1]), ("sac", diverging, folders[2])])
    assert results[0].returncode == 0 and results[1].returncode == 0, results[0].stderr[-3000:]
    first, second = logged_scalars(folders[0]), logged_scalars(folders[1])
    assert first == second
    for tag in ["charts/episodic_return", "charts/episodic_length", "losses/qf1_values", "losses/qf2_values",
                "losses/qf1_loss", "losses/qf2_loss", "losses/qf_loss", "losses/actor_loss", "losses/alpha",
                "losses/alpha_loss", "charts/entropy", "eval/mean_return", "eval/mean_length", "eval/episodic_return"]:
        assert tag in first, tag
    assert all(0 < h <= math.log(2) for _, h in first["charts/entropy"])  # exact entropy of a 2-action policy
    assert results[2].returncode == 1 and "Traceback" not in results[2].stderr, results[2].stderr[-3000:]
    assert results[2].stderr.strip().splitlines()[-1] == (
        "sac.py: error: training diverged: non-finite parameters at global step 200")

    (checkpoint_path,) = (folders[0] / "runs").glob("*/sac.pt")
    evaluate = tmp_path / "eval"
    evaluate.mkdir()
    result = run("sac", "--env-id", "CartPole-v1", "--eval-only", "--load-model", str(checkpoint_path),
                 "--eval-episodes", "2", cwd=evaluate)
    assert result.returncode == 0, result.stderr[-3000:]
    assert logged_scalars(evaluate)["eval/episodic_return"] == first["eval/episodic_return"]
    monkeypatch.chdir(evaluate)  # a checkpoint of another discrete environment is refused in one line
    message = exit_message("sac", "--env-id", "Acrobot-v1", "--eval-only", "--load-model", str(checkpoint_path))
    assert message.startswith("sac.py: error: cannot load") and message.endswith("(it was trained on CartPole-v1)")


def test_resume_restores_the_discrete_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = [*CARTPOLE, "--total-timesteps", "300", "--checkpoint-frequency", "200", "--eval-episodes", "0"]
    with monkeypatch.context() as patch:  # keep the state file, which a finished run deletes
        patch.setattr(os, "remove", lambda path: None)
        patch.setattr(sys, "argv", ["sac.py", *args])
        runpy.run_path(os.path.join(ROOT, "sac.py"), run_name="__main__")
    (state_path,) = glob.glob("runs/*/sac_state.pt")
    state = torch.load(state_path, weights_only=True)
    storage = state["rb"]["storage"]  # rows (s: 4, a: 1, r: 1, s': 4, d: 1), the action its index
    assert state["global_step"] == 200 and storage.shape[1] == 11 and set(storage[:, 4].tolist()) == {0.0, 1.0}
    result = run("sac", *args, "--resume", state_path, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "at global step 200" in result.stdout and not glob.glob("runs/*/sac_state.pt")

"""Tests of the off-policy scripts ddpg.py, td3.py and sac.py: their math against independent
computations, the replay buffer against gymnasium's autoreset step, and tiny runs of each script."""

import importlib
import math
import os
import runpy
import shutil
import signal
import sys
import threading

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn as nn
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.distributions import AffineTransform, Normal, TanhTransform, TransformedDistribution

from tests import toy_envs_continuous as toy
from tests.script_runs import ROOT, exit_message, run, run_side_by_side

SCRIPTS = ["ddpg", "td3", "sac"]
TOY_ENV = "tests.toy_envs_continuous:StepCount-v0"
KILLED_ENV = "tests.toy_envs_continuous:KilledPendulum-v0"
# asymmetric bounds, as in the toy environment: scale = [2, 0.25], bias = [1, 0.25]
LOW, HIGH = torch.tensor([-1.0, 0.0]), torch.tensor([3.0, 0.5])
SCALE, BIAS = (HIGH - LOW) / 2, (HIGH + LOW) / 2
TINY = ["--learning-starts", "100", "--batch-size", "32", "--buffer-size", "1000"]


@pytest.fixture(params=SCRIPTS)
def algo(request):
    return importlib.import_module(request.param)


def logged_scalars(cwd):
    """{tag: [(step, value), ...]} of the one run under cwd/runs."""
    (run_dir,) = (cwd / "runs").iterdir()
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def namespace_at_writer(script, *args):
    """Run `script`.py in this process up to the SummaryWriter it makes after restoring any --resume state, and
    return the script's variables there."""

    class Stop(Exception):
        pass

    def writer(*_, **__):
        namespace.update(sys._getframe(1).f_globals)  # the caller: the script's top level
        raise Stop

    namespace = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("torch.utils.tensorboard.SummaryWriter", writer)
        patch.setattr(sys, "argv", [f"{script}.py", *args])
        with pytest.raises(Stop):
            runpy.run_path(os.path.join(ROOT, f"{script}.py"), run_name="__main__")
    return namespace


# --- math ---


def test_tanh_gaussian_log_prob_is_the_change_of_variables():
    sac = importlib.import_module("sac")
    torch.manual_seed(0)
    mean, log_std = torch.randn(256, 2, dtype=torch.float64), torch.randn(256, 2, dtype=torch.float64).clamp(-2, 1)
    u = mean + log_std.exp() * torch.randn_like(mean)
    # reference: torch's own transformed distribution, in float64 so that atanh(tanh(u)) is exact enough
    squashed = TransformedDistribution(
        Normal(mean, log_std.exp()), [TanhTransform(), AffineTransform(BIAS.double(), SCALE.double())]
    )
    expected = squashed.log_prob(BIAS.double() + SCALE.double() * torch.tanh(u)).sum(-1)
    actual = sac.tanh_gaussian_log_prob(mean.float(), log_std.float(), u.float(), SCALE)
    torch.testing.assert_close(actual, expected.float(), atol=1e-4, rtol=1e-4)

    # and an explicit Jacobian of u -> bias + scale * tanh(u) for one sample
    jacobian = torch.autograd.functional.jacobian(lambda x: BIAS.double() + SCALE.double() * torch.tanh(x), u[0])
    expected_0 = Normal(mean[0], log_std[0].exp()).log_prob(u[0]).sum() - torch.linalg.slogdet(jacobian).logabsdet
    torch.testing.assert_close(actual[0], expected_0.float(), atol=1e-4, rtol=1e-4)


def test_tanh_gaussian_log_prob_is_finite_at_the_bounds():
    """At |u| = 20, 1 - tanh(u)^2 rounds to 0; the exact value is log(1 - tanh^2 u) = log 4 - 2|u| + O(e^-40)."""
    sac = importlib.import_module("sac")
    u = torch.tensor([[20.0, -20.0]])
    mean, log_std = torch.zeros(1, 2), torch.zeros(1, 2)
    expected = Normal(mean, 1.0).log_prob(u).sum() - (2 * (math.log(4) - 40.0) + torch.log(SCALE).sum())
    actual = sac.tanh_gaussian_log_prob(mean, log_std, u, SCALE)
    assert torch.isfinite(actual).all()
    torch.testing.assert_close(actual, expected.reshape(1))


def test_sac_actor_samples_within_the_bounds_and_acts_deterministically():
    sac = importlib.import_module("sac")
    envs = sac.make_envs(sac.Args(env_id=TOY_ENV), 1, "unused")
    torch.manual_seed(0)
    actor = sac.Actor(envs)
    with torch.no_grad():
        nn.init.constant_(actor.net[-1].bias, 5.0)  # push mean and std up: samples pile up at the bounds
        actions, log_prob, deterministic = actor.get_action(torch.rand(1000, 1))
    assert ((actions >= LOW) & (actions <= HIGH)).all() and torch.isfinite(log_prob).all()
    assert ((deterministic >= LOW) & (deterministic <= HIGH)).all()
    torch.testing.assert_close(actor.action_scale, SCALE)
    torch.testing.assert_close(actor.action_bias, BIAS)


def test_polyak_update(algo):
    torch.manual_seed(0)
    online, target = nn.Linear(3, 2), nn.Linear(3, 2)
    online_before = [p.detach().clone() for p in online.parameters()]
    expected = [0.9 * t.detach() + 0.1 * o.detach() for t, o in zip(target.parameters(), online.parameters())]
    algo.polyak_update(target, online, 0.1)
    for t, e in zip(target.parameters(), expected):
        torch.testing.assert_close(t.detach(), e)
    for o, before in zip(online.parameters(), online_before):
        assert torch.equal(o.detach(), before)  # the online network is untouched
    algo.polyak_update(target, online, 1.0)
    for t, o in zip(target.parameters(), online.parameters()):
        assert torch.equal(t.detach(), o.detach())


def test_bellman_target_bootstraps_through_truncation(algo):
    # a step that continues, a terminated step, and a time-limit truncation (stored with d = 0)
    rewards, terminations = torch.tensor([1.0, 1.0, 1.0]), torch.tensor([0.0, 1.0, 0.0])
    next_q = torch.tensor([10.0, 10.0, 10.0])
    target = algo.bellman_target(rewards, terminations, next_q, 0.9)
    torch.testing.assert_close(target, torch.tensor([10.0, 1.0, 10.0]))


@pytest.mark.parametrize("name", ["ddpg", "td3"])
def test_exploration_noise_is_scaled_per_dimension_and_clipped(name):
    module = importlib.import_module(name)
    torch.manual_seed(0)
    centre = BIAS.expand(100_000, 2)
    noise = module.add_exploration_noise(centre, SCALE, LOW, HIGH, 0.1) - centre
    torch.testing.assert_close(noise.std(0), 0.1 * SCALE, rtol=0.02, atol=0)
    torch.testing.assert_close(noise.mean(0), torch.zeros(2), rtol=0, atol=0.003)
    at_high = module.add_exploration_noise(HIGH.expand(1000, 2), SCALE, LOW, HIGH, 1.0)
    assert ((at_high >= LOW) & (at_high <= HIGH)).all() and (at_high == HIGH).float().mean() > 0.4


def test_target_policy_smoothing_noise_is_scaled_clipped_and_bounded():
    td3 = importlib.import_module("td3")
    torch.manual_seed(0)
    centre = BIAS.expand(100_000, 2)
    noise = td3.target_policy_smoothing(centre, SCALE, LOW, HIGH, 0.2, 100.0) - centre  # clip far away
    torch.testing.assert_close(noise.std(0), 0.2 * SCALE, rtol=0.02, atol=0)
    clipped = td3.target_policy_smoothing(centre, SCALE, LOW, HIGH, 1.0, 0.5) - centre
    assert (clipped.abs() <= 0.5 * SCALE + 1e-6).all()
    assert ((clipped.abs() - 0.5 * SCALE).abs() < 1e-6).float().mean() > 0.55  # P(|N(0, 1)| > 0.5) = 0.62
    at_high = td3.target_policy_smoothing(HIGH.expand(1000, 2), SCALE, LOW, HIGH, 1.0, 0.5)
    assert ((at_high >= HIGH - 0.5 * SCALE - 1e-6) & (at_high <= HIGH)).all()


def test_entropy_temperature_loss_and_target_entropy():
    sac = importlib.import_module("sac")
    assert sac.target_entropy_heuristic(gym.spaces.Box(-0.4, 0.4, (17,))) == -17.0
    assert sac.target_entropy_heuristic(gym.spaces.Box(LOW.numpy(), HIGH.numpy())) == -2.0
    for log_prob, alpha_moves in ((3.0, "up"), (-3.0, "down")):  # entropy -3 or 3 against the target -2
        log_alpha = torch.tensor([math.log(0.5)], requires_grad=True)
        log_probs = torch.full((8,), log_prob, requires_grad=True)
        loss = sac.temperature_loss(log_alpha, log_probs, -2.0)
        torch.testing.assert_close(loss, torch.tensor(-0.5 * (log_prob - 2.0)))
        loss.backward()
        assert (log_alpha.grad < 0).item() == (alpha_moves == "up")  # gradient descent raises alpha if grad < 0
        assert log_probs.grad is None  # the policy gets no gradient from the temperature's loss


# --- replay buffer ---


def rows(first, n):
    """Transitions first, ..., first + n - 1 as a vector step of n environments: s = i, a = (i, -i), r = i, s' = i + 1,
    d = 1 for even i; s is 1-based here, so that an unwritten (zero) row shows."""
    i = np.arange(first, first + n, dtype=np.float32)
    return i[:, None], np.stack([i, -i], 1), i, i[:, None] + 1, i % 2 == 0


def test_replay_buffer_samples_only_the_rows_it_holds(algo):
    rb = algo.ReplayBuffer(10, 1, 2, torch.device("cpu"))
    rb.add(*rows(1, 3))
    assert (rb.count, rb.pos) == (3, 3)
    obs, actions, rewards, next_obs, terminations = rb.sample(500)
    assert obs.shape == (500, 1) and actions.shape == (500, 2) and rewards.shape == terminations.shape == (500,)
    # 7 of the 10 rows are unwritten zeros: a sample over the whole storage would draw one almost surely
    assert set(obs[:, 0].tolist()) == {1.0, 2.0, 3.0}
    torch.testing.assert_close(actions, torch.stack([obs[:, 0], -obs[:, 0]], 1))
    torch.testing.assert_close(rewards, obs[:, 0])
    torch.testing.assert_close(next_obs[:, 0], obs[:, 0] + 1)
    torch.testing.assert_close(terminations, (obs[:, 0] % 2 == 0).float())


def test_replay_buffer_wraps_a_vector_step_around_its_end(algo):
    """Several environments store one row each per step: a step that reaches past the last row goes on at the first,
    overwriting the oldest."""
    rb = algo.ReplayBuffer(5, 1, 2, torch.device("cpu"))
    rb.add(*rows(1, 3))
    rb.add(*rows(4, 4))  # rows 3, 4, then 0, 1
    assert (rb.count, rb.pos) == (5, 2)
    assert rb.storage[:, 0].tolist() == [6, 7, 3, 4, 5]
    assert rb.storage[:, 1].tolist() == [6, 7, 3, 4, 5] and rb.storage[:, 2].tolist() == [-6, -7, -3, -4, -5]
    rb.add(*rows(8, 2))
    assert (rb.count, rb.pos) == (5, 4) and rb.storage[:, 0].tolist() == [6, 7, 8, 9, 5]
    assert set(rb.sample(500)[0][:, 0].tolist()) == {5.0, 6.0, 7.0, 8.0, 9.0}


def test_replay_buffer_state_round_trip(algo, tmp_path):
    """state_dict() holds the filled rows and the write position; a buffer loaded from it goes on alike."""

    def add(rb, i):
        rb.add(np.array([[i]]), np.array([[i, -i]]), np.array([i]), np.array([[i + 1]]), np.array([i % 2 == 0]))

    rb, restored = (algo.ReplayBuffer(4, 1, 2, torch.device("cpu")) for _ in range(2))
    for i in range(2):
        add(rb, i)
    torch.save(rb.state_dict(), tmp_path / "state.pt")
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    assert state["storage"].untyped_storage().nbytes() == 2 * 6 * 4  # 2 rows of 6 float32s, not all 4 rows
    restored.load_state_dict(state)
    assert (restored.count, restored.pos) == (2, 2)
    assert restored.storage[:2].tolist() == [[0, 0, 0, 0, 1, 1], [1, 1, -1, 1, 2, 0]]  # s, a, r, s', d
    for i in range(2, 7):  # both wrap around: rows 4, 5, 6, 3
        add(rb, i)
        add(restored, i)
    assert (restored.count, restored.pos) == (rb.count, rb.pos) == (4, 3)
    torch.testing.assert_close(restored.storage, rb.storage, rtol=0, atol=0)
    assert rb.storage[:, 0].tolist() == [4, 5, 6, 3]


def test_buffer_skips_autoreset_steps_and_keeps_true_final_observations(algo):
    """Drives the scripts' own step-and-store path on StepCount-v0 (see tests/toy_envs_continuous.py)."""
    envs = algo.make_envs(algo.Args(env_id=TOY_ENV), 2, "unused")
    envs.action_space.seed(0)
    rb = algo.ReplayBuffer(1000, 1, 2, torch.device("cpu"))
    obs, _ = envs.reset(seed=0)
    autoreset = np.zeros(envs.num_envs, dtype=bool)
    num_steps, autoreset_steps = 200, 0
    for _ in range(num_steps):
        autoreset_steps += autoreset.sum()
        obs, autoreset, _ = algo.step_and_store(envs, rb, obs, envs.action_space.sample(), autoreset)

    s, a, r, s_next, d = (x[:, 0] for x in rb.storage[: rb.count].split(rb.widths, dim=1))
    assert autoreset_steps > 0 and rb.count == envs.num_envs * num_steps - autoreset_steps
    # every stored transition is a real step t -> t + 1; an autoreset step would go from t back to 0
    torch.testing.assert_close(s_next, s + 1)
    torch.testing.assert_close(r, s_next)
    torch.testing.assert_close(d, (a > toy.TERMINATE_ABOVE).float())
    truncated = (s_next == toy.TIME_LIMIT) & (d == 0)
    terminated = d == 1
    assert truncated.any() and terminated.any()
    # truncated: stored with the true final observation (t = TIME_LIMIT, not the reset 0) and d = 0, so
    # the Bellman target bootstraps; terminated: no bootstrap
    target = algo.bellman_target(r, d, torch.full_like(r, 100.0), 0.5)
    torch.testing.assert_close(target[truncated], r[truncated] + 50.0)
    torch.testing.assert_close(target[terminated], r[terminated])


# --- whole scripts ---


@pytest.mark.parametrize("script", SCRIPTS)
def test_tiny_runs_log_the_contract_and_checkpoints_reload(script, tmp_path, monkeypatch):
    train, evaluate = tmp_path / "train", tmp_path / "eval"
    train.mkdir(), evaluate.mkdir()
    result = run(script, "--env-id", "HalfCheetah-v4", "--total-timesteps", "300", *TINY,
                 "--eval-episodes", "1", "--save-model", cwd=train)
    assert result.returncode == 0, result.stderr
    assert "eval: mean return" in result.stdout
    scalars = logged_scalars(train)
    # the contract's tags (../shared/CONVENTIONS.md), CleanRL's names, every 100 steps
    twin = [] if script == "ddpg" else ["losses/qf2_loss", "losses/qf2_values"]
    sac_tags = ["losses/alpha", "losses/alpha_loss", "charts/entropy"] if script == "sac" else []
    for tag in ["charts/SPS", "losses/actor_loss", "losses/qf1_values", "losses/qf1_loss", "losses/qf_loss",
                "eval/episodic_return", *twin, *sac_tags]:
        assert tag in scalars, tag
    (checkpoint_path,) = (train / "runs").glob(f"*/{script}.pt")
    checkpoint = torch.load(checkpoint_path, weights_only=True)
    assert checkpoint["args"]["env_id"] == "HalfCheetah-v4" and "torch" in checkpoint["versions"]

    # the same deterministic policy on the same evaluation seed returns exactly the same
    result = run(script, "--env-id", "HalfCheetah-v4", "--eval-only", "--load-model", str(checkpoint_path),
                 "--eval-episodes", "1", cwd=evaluate)
    assert result.returncode == 0, result.stderr
    reloaded = logged_scalars(evaluate)
    assert reloaded["eval/episodic_return"] == scalars["eval/episodic_return"]
    assert not any(tag.startswith("losses/") for tag in reloaded)  # no training happened
    monkeypatch.chdir(evaluate)

    # a checkpoint of another environment is refused in one line, before a run folder (and its TensorBoard
    # writer, whose thread would later flush to a relative path) is made
    threads = set(threading.enumerate())
    message = exit_message(script, "--env-id", "Pendulum-v1", "--eval-only", "--load-model", str(checkpoint_path))
    assert message.startswith(f"{script}.py: error: cannot load") and "size mismatch" in message
    assert set(threading.enumerate()) <= threads and len(list((evaluate / "runs").iterdir())) == 1
    # so is one whose actor acts within other bounds (saved with its weights): it would act outside this env's
    checkpoint["actor"]["action_scale"] *= 2
    torch.save(checkpoint, "wider.pt")
    message = exit_message(script, "--env-id", "HalfCheetah-v4", "--eval-only", "--load-model", "wider.pt")
    assert message == (f"{script}.py: error: cannot load 'wider.pt': ValueError: its actor acts within other action "
                       "bounds than HalfCheetah-v4's")
    if script == "sac":  # a checkpoint of alpha 0 (--no-autotune --alpha 0) evaluates, but --autotune cannot go on
        checkpoint["actor"]["action_scale"] /= 2
        torch.save({**checkpoint, "alpha": 0.0}, "alpha0.pt")
        message = exit_message(script, "--env-id", "HalfCheetah-v4", "--load-model", "alpha0.pt")
        assert message.endswith("cannot load 'alpha0.pt': ValueError: its alpha is 0.0, and --autotune needs alpha > 0")
        result = run(script, "--env-id", "HalfCheetah-v4", "--eval-only", "--load-model", "alpha0.pt",
                     "--eval-episodes", "1", cwd=evaluate)
        assert result.returncode == 0, result.stderr
        assert len(list((evaluate / "runs").iterdir())) == 2


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_killed_run_resumes_from_its_last_state(script, tmp_path, monkeypatch):
    """KilledPendulum-v0 is Pendulum-v1 whose process is killed at its 900th step (global step 904); the state
    saved at step 500 resumes the run in its own folder, with new episodes from step 501. The straight and the killed
    run start as two processes with the same seed: that they log the same numbers up to step 500 is also the test that
    the same seed gives the same run (the contract's reproducibility)."""
    args = ["--total-timesteps", "1000", *TINY, "--eval-episodes", "0", "--checkpoint-frequency", "500"]
    straight, killed, again = tmp_path / "straight", tmp_path / "killed", tmp_path / "again"
    straight.mkdir(), killed.mkdir()
    results = run_side_by_side([(script, ["--env-id", "Pendulum-v1", *args[:-2]], straight),  # no states saved
                                (script, ["--env-id", KILLED_ENV, *args], killed)])
    assert results[0].returncode == 0 and results[1].returncode == -signal.SIGKILL, results[0].stderr
    (state_path,) = (killed / "runs").glob(f"*/{script}_state.pt")
    state = torch.load(state_path, weights_only=True)
    # 500 steps less the autoreset steps 201 and 402, which are no transitions
    assert state["global_step"] == 500 and state["rb"]["pos"] == len(state["rb"]["storage"]) == 498
    assert max(step for values in logged_scalars(killed).values() for step, _ in values) > 500
    shutil.copytree(killed, again)

    # bad resumptions stop in one line before any work
    monkeypatch.chdir(killed)
    torch.save({"actor": {}}, "model.pt")
    for bad, message in [(["--seed", "2"], "give the flags the run started with: --seed 1 (not 2)"),
                         (["--resume", "model.pt"], "cannot load 'model.pt' as a state file: KeyError: 'args'")]:
        actual = exit_message(script, "--env-id", KILLED_ENV, *args, "--resume", str(state_path), *bad)
        assert actual.startswith(f"{script}.py: error: --resume: ") and message in actual
    assert len(list((killed / "runs").iterdir())) == 1
    monkeypatch.chdir(tmp_path)  # not the folder of the run's runs/: it would go on in a new run folder here
    actual = exit_message(script, "--env-id", KILLED_ENV, *args, "--resume", str(state_path))
    assert actual == (f"{script}.py: error: --resume: run it from the folder that holds runs/{state['run_name']}/, "
                      f"the run folder of {str(state_path)!r}")
    assert not (tmp_path / "runs").exists()
    monkeypatch.chdir(killed)

    # --resume restores every network, optimizer and the buffer exactly, and reseeds with seed + step
    resume = ["--env-id", KILLED_ENV, *args, "--resume", str(state_path.relative_to(killed))]
    restored = namespace_at_writer(script, *resume)
    assert restored["start_step"] == 500 and restored["seed"] == 501
    kinds, held = (nn.Module, torch.optim.Optimizer, restored["ReplayBuffer"]), list(restored["stateful"].values())
    assert all(any(value is part for part in held) for value in restored.values() if isinstance(value, kinds))
    for name, part in restored["stateful"].items():
        actual, saved = part.state_dict(), state[name]
        if "param_groups" in saved:  # an optimizer: its per-parameter moments and step counts
            assert actual["param_groups"] == saved["param_groups"], name
            actual, saved = actual["state"], saved["state"]
        torch.testing.assert_close(actual, saved, rtol=0, atol=0, msg=name)
    if script == "sac":  # the temperature (--autotune is on by default)
        torch.testing.assert_close(restored["log_alpha"].detach(), state["log_alpha"], rtol=0, atol=0)
        assert restored["alpha"] == state["log_alpha"].exp().item() != 1.0
    results = run_side_by_side([(script, resume, killed), (script, resume, again)])
    assert all(result.returncode == 0 for result in results), results[0].stderr
    assert f"resuming {state['run_name']} at global step 500 from runs/" in results[0].stdout
    assert not list((killed / "runs").glob("*/*_state.pt"))  # deleted once training ends
    expected, resumed, resumed_again = (
        {tag: v for tag, v in logged_scalars(folder).items() if tag != "charts/SPS"} for folder in (straight, killed, again)
    )
    assert resumed == resumed_again  # the same state resumes to the same numbers
    # up to the saved step, the numbers of the straight run, which saved no states; the killed process's later logs
    # are dropped
    assert resumed.keys() == expected.keys()
    for tag in expected:
        assert [x for x in resumed[tag] if x[0] <= 500] == [x for x in expected[tag] if x[0] <= 500], tag
    assert [step for step, _ in expected["charts/episodic_return"]] == [200, 401, 602, 803]
    assert [step for step, _ in resumed["charts/episodic_return"]] == [200, 401, 700, 901]  # new episodes from 501
    assert [step for step, _ in resumed["losses/actor_loss"]] == list(range(200, 1001, 100))
    # each process's flags and versions as text, the resumed one's at the step it went on from
    (run_dir,) = (killed / "runs").iterdir()
    events = EventAccumulator(str(run_dir))
    events.Reload()
    for tag in ("hyperparameters/text_summary", "versions/text_summary"):
        assert [e.step for e in events.Tensors(tag)] == [0, 500], tag
    assert b"|resume|runs/" in events.Tensors("hyperparameters/text_summary")[1].tensor_proto.string_val[0]


BAD_INPUTS = [
    (["--env-id", "tests.toy_envs:ShiftedActions-v0"], "; tests.toy_envs:ShiftedActions-v0 has Discrete(2, start=1)"),
    (["--env-id", "NoSuchEnv-v0"], "cannot make environment 'NoSuchEnv-v0'"),
    (["--env-id", "tests.no_such_module:Env-v0"], "cannot make environment"),
    (["--total-timesteps", "0"], "--total-timesteps must be positive"),
    (["--batch-size", "0"], "--batch-size must be positive"),
    (["--buffer-size", "-1"], "--buffer-size must be positive"),
    (["--tau", "1.5"], "--tau must be in (0, 1]"),
    (["--total-timesteps", "300", "--learning-starts", "300"], "--learning-starts 300 must be in [0, --total-timesteps 300)"),
    (["--eval-only"], "--eval-only needs --load-model"),
    (["--load-model", "missing.pt"], "--load-model: no such file 'missing.pt'"),
    (["--eval-episodes", "-1"], "--eval-episodes must be non-negative"),
    (["--checkpoint-frequency", "-1"], "--checkpoint-frequency must be non-negative"),
    (["--checkpoint-frequency", "100", "--capture-video"], "--checkpoint-frequency does not go with --capture-video"),
    (["--resume", "missing.pt"], "--resume: no such file 'missing.pt'"),
    (["--env-id", "tests.toy_envs_continuous:MatrixAction-v0"], "requires a flat Box action space with finite bounds"),
    (["--env-id", "tests.toy_envs_continuous:UnboundedAction-v0"], "requires a flat Box action space with finite bounds"),
    (["--env-id", "tests.toy_envs_continuous:ZeroWidthAction-v0"], "requires a flat Box action space with finite bounds"),
    (["--env-id", "tests.toy_envs_continuous:MatrixObservation-v0"], "(1, 1), float32); "),
    (["--env-id", "tests.toy_envs:StopOrGo-v0", "--capture-video"], "unexpected keyword argument 'render_mode'"),
    (["--gamma", "1.5"], "--gamma must be in [0, 1], got 1.5"),
]
# each script's learning rates must be positive
OWN_BAD_INPUTS = [("ddpg", "--learning-rate"), ("td3", "--learning-rate"), ("sac", "--policy-lr"), ("sac", "--q-lr")]


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("args, message", BAD_INPUTS, ids=[" ".join(args) for args, _ in BAD_INPUTS])
def test_bad_input_stops_before_any_work(script, args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    actual = exit_message(script, *args)
    assert actual.startswith(f"{script}.py: error: ") and message in actual
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("script, flag", OWN_BAD_INPUTS)
def test_bad_learning_rate_stops_before_any_work(script, flag, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert exit_message(script, flag, "-1") == f"{script}.py: error: {flag} must be positive, got -1.0"
    assert not (tmp_path / "runs").exists()


# a run whose loss blows up stops at the first logging step (200: every 100 steps once learning starts)
DIVERGING = {
    "ddpg": ["--learning-rate", "1e30"],
    "td3": ["--learning-rate", "1e30"],
    "sac": ["--q-lr", "1e30", "--policy-lr", "1e30"],
}


@pytest.mark.parametrize("script", SCRIPTS)
def test_discrete_env_and_divergence_end_in_one_line(script, tmp_path):
    cases = [
        (["--env-id", "tests.toy_envs:ShiftedActions-v0" if script == "sac" else "CartPole-v1"], "requires a flat Box action space with finite bounds, low < high"),
        (["--env-id", "Pendulum-v1", "--total-timesteps", "300", *TINY, *DIVERGING[script]],
         "training diverged: non-finite parameters at global step 200"),
    ]
    results = run_side_by_side([(script, args, tmp_path) for args, _ in cases])
    for (args, message), result in zip(cases, results):
        stderr = result.stderr.strip()
        assert result.returncode == 1 and "Traceback" not in stderr, (args, stderr)
        assert stderr.splitlines()[-1].startswith(f"{script}.py: error: ") and message in stderr, (args, stderr)
    assert len(results[0].stderr.strip().splitlines()) == 1
    assert "losses/actor_loss" in logged_scalars(tmp_path)  # the diverged run's logs stay readable


@pytest.mark.parametrize("script", SCRIPTS)
def test_divergence_after_the_last_logging_step_stops_before_saving(script, tmp_path, monkeypatch):
    # 90 updates, none of them at a logging step: the parameters are checked once more at the end
    monkeypatch.chdir(tmp_path)
    message = exit_message(script, "--env-id", "Pendulum-v1", "--total-timesteps", "190", *TINY, *DIVERGING[script],
                           "--save-model")
    assert message == f"{script}.py: error: training diverged: non-finite parameters at global step 190"
    assert not list((tmp_path / "runs").glob("*/*.pt"))

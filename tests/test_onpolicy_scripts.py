"""Each on-policy script end to end, as a user runs it: tiny runs in a temporary folder."""

import glob
import os

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests import toy_envs
from tests.script_runs import exit_message, run, run_logged, run_side_by_side, script_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = ["vpg", "ppo", "ppo_penalty", "trpo"]
# the contract's tags (../shared/CONVENTIONS.md): CleanRL's names where CleanRL has the quantity
COMMON_TAGS = {"charts/episodic_return", "charts/episodic_length", "charts/SPS", "charts/learning_rate",
               "losses/value_loss", "losses/policy_loss", "losses/entropy", "losses/old_approx_kl", "losses/approx_kl",
               "losses/explained_variance", "eval/episodic_return"}
OWN_TAGS = {"vpg": set(), "ppo": {"losses/clipfrac", "losses/grad_norm"},
            "ppo_penalty": {"losses/kl", "charts/beta", "losses/grad_norm"},
            "trpo": {"losses/kl", "charts/step_size", "charts/backtracks", "charts/line_search_success",
                     "losses/surrogate_improvement"}}
TINY = ["--num-envs", "2", "--num-steps", "64", "--eval-episodes", "2"]
# PPO's default 32 minibatches would split a tiny 128-step batch into 4-step ones: 4 of 32 steps are quicker
TINY_UPDATE = {"ppo": ["--num-minibatches", "4"], "ppo_penalty": ["--num-minibatches", "4"]}


def run_ok(script, args, cwd):
    (result_and_run_dir,) = run_ok_side_by_side(script, [(args, cwd)])
    return result_and_run_dir


def run_ok_side_by_side(script, cases):
    """Each (args, folder) of `cases` run from its folder, two at a time; for each, its result and run folder."""
    for _, cwd in cases:
        os.makedirs(cwd, exist_ok=True)
    runs = []
    for result, (_, cwd) in zip(run_side_by_side([(script, args, cwd) for args, cwd in cases]), cases):
        assert result.returncode == 0, result.stderr[-3000:]
        (run_dir,) = glob.glob(os.path.join(cwd, "runs", "*"))
        runs.append((result, run_dir))
    return runs


def scalars(run_dir):
    acc = EventAccumulator(run_dir, size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [e.value for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_scripts_see_the_repository_and_a_pythonpath_already_set(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(["/carried/site", "/other"]))  # e.g. packages carried there
    assert script_env()["PYTHONPATH"].split(os.pathsep) == [ROOT, "/carried/site", "/other"]
    monkeypatch.delenv("PYTHONPATH")
    assert script_env()["PYTHONPATH"] == ROOT and script_env()["OMP_NUM_THREADS"] == "1"


@pytest.mark.parametrize("script", SCRIPTS)
def test_tiny_runs_log_the_contract_tags(script, tmp_path):
    cases = {"HalfCheetah-v4": ["--num-envs", "1", "--num-steps", "1024"], "CartPole-v1": []}  # Box and Discrete actions
    args = ["--total-timesteps", "2048", *TINY, *TINY_UPDATE.get(script, [])]
    runs = run_ok_side_by_side(script, [([*args, "--env-id", env_id, *extra], tmp_path / env_id) for env_id, extra in cases.items()])
    for env_id, (result, run_dir) in zip(cases, runs):
        assert os.path.basename(run_dir).startswith(f"{env_id}__{script}__1__")
        logged = scalars(run_dir)
        missing = (COMMON_TAGS | OWN_TAGS[script]) - set(logged)
        assert not missing, f"{env_id}: missing tags {missing}"
        assert len(logged["eval/episodic_return"]) == 2
        assert "global_step=2048" in result.stdout and "eval: mean return" in result.stdout
        if script == "trpo":  # an accepted step improved the surrogate; a rejected one logs 0
            accepted = logged["charts/line_search_success"]
            assert all((gain > 0) == (ok == 1) for gain, ok in zip(logged["losses/surrogate_improvement"], accepted))


def statistics(rms):
    """A copy of a RunningMeanStd's (mean, var, count)."""
    return np.array(rms.mean, dtype=np.float64), np.array(rms.var, dtype=np.float64), float(rms.count)


def assert_same_statistics(actual, expected, what):
    for a, e, name in zip(actual, expected, ("mean", "var", "count")):
        assert np.array_equal(a, e), f"{what}: {name} {a} != {e}"


@pytest.mark.parametrize("script", SCRIPTS)
def test_evaluation_leaves_the_normalization_frozen_and_the_checkpoint_carries_it(script, tmp_path, monkeypatch):
    """In this process, the statistics read just before and just after each evaluation (the periodic ones, the final
    one, and an --eval-only run's): the observation and reward statistics of training never move, and the evaluation
    normalizes with training's observation statistics, frozen (it would shift them with every observation otherwise).
    The checkpoint carries both to the --eval-only run, which evaluates the same policy to the very same returns."""
    monkeypatch.chdir(tmp_path)
    args = ["--env-id", "Pendulum-v1", "--total-timesteps", "512", *TINY, *TINY_UPDATE.get(script, [])]
    evaluations, last = [], {}

    def read_around_evaluations(tag, step, variables):
        now = statistics(variables["obs_norm"].obs_rms), statistics(variables["reward_norm"].return_rms)
        if not tag.startswith("eval/"):  # training's last log before an evaluation: its statistics then
            last["training"] = now
        elif tag in ("eval/mean_return", "eval/episodic_return"):  # logged as soon as `evaluate` returns
            used = variables["final_obs_norm" if tag == "eval/episodic_return" else "eval_obs_norm"]
            evaluations.append((tag, step, last.get("training"), now, statistics(used.obs_rms)))

    # evaluations during training at the 2nd and the 4th (last) of four 128-step iterations, and the final one
    _, trained = run_logged(script, *args, "--eval-frequency", "256", "--save-model", on_scalar=read_around_evaluations)
    (model,) = glob.glob(os.path.join(tmp_path, "runs", "*", f"{script}.pt"))
    checkpoint = torch.load(model, weights_only=True)
    assert checkpoint["args"]["env_id"] == "Pendulum-v1" and {"agent", "versions"} <= set(checkpoint)
    saved = tuple(tuple(x.numpy() if x.dim() else x.item() for x in (c["mean"], c["var"], c["count"]))
                  for c in (checkpoint["obs_rms"], checkpoint["return_rms"]))
    assert [(tag, step) for tag, step, *_ in evaluations] == [
        ("eval/mean_return", 256), ("eval/mean_return", 512), ("eval/episodic_return", 0), ("eval/episodic_return", 1)]
    assert_frozen(evaluations, "")
    final = evaluations[-1][3]  # what training ended with, in the checkpoint (in the dtypes numpy holds them)
    assert final[0][2] > 512  # every step's observation counted
    for name, s, a in zip(("observation", "reward"), saved, final):
        np.testing.assert_array_equal(s[0], a[0], err_msg=f"{name} mean")
        np.testing.assert_array_equal(s[1], a[1], err_msg=f"{name} var")
        assert s[2] == a[2], f"{name} count"

    # --eval-only: the statistics of the checkpoint, before and after its evaluation; the checkpoint read onto the CPU
    # whatever device trains (numpy cannot read statistics loaded onto a GPU)
    evaluations.clear()
    last["training"] = saved
    locations, load = [], torch.load
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch, "load", lambda *a, **kw: locations.append(kw.get("map_location")) or load(*a, **kw))
        _, evaluated = run_logged(script, *args, "--load-model", model, "--eval-only",
                                  on_scalar=read_around_evaluations)
    assert locations == ["cpu"] and len(evaluations) == 2
    assert_frozen(evaluations, "--eval-only, ")
    # same deterministic policy, same normalization, same evaluation seed: the very same returns; nothing trained
    assert evaluated == {"eval/episodic_return": trained["eval/episodic_return"]}

    # a checkpoint of another environment is refused in one line, before a run folder is made
    run_dirs = set(glob.glob(os.path.join(tmp_path, "runs", "*")))
    message = exit_message(script, "--env-id", "HalfCheetah-v4", "--load-model", model, "--eval-only")
    # the whole reason on that one line (load_state_dict's own message spans several)
    assert message.startswith(f"{script}.py: error: cannot load {model!r}: RuntimeError"), message
    assert "size mismatch" in message, message
    assert set(glob.glob(os.path.join(tmp_path, "runs", "*"))) == run_dirs


def assert_frozen(evaluations, run):
    for tag, step, before, after, used in evaluations:
        for name, b, a in zip(("observation", "reward"), before, after):
            assert_same_statistics(a, b, f"{run}{tag} {step}: training's {name} statistics")
        assert_same_statistics(used, after[0], f"{run}{tag} {step}: the evaluation's observation statistics")


BAD_INPUTS = [
    (["--env-id", "NoSuchEnv-v0"], "NoSuchEnv-v0"),
    (["--env-id", "no_such_module:Env-v0"], "no_such_module"),
    (["--total-timesteps", "0"], "--total-timesteps"),
    (["--num-envs", "-1"], "--num-envs"),
    (["--num-steps", "0"], "--num-steps"),
    (["--num-steps", "64", "--total-timesteps", "10"], "one batch"),
    (["--eval-episodes", "-1"], "--eval-episodes must be non-negative"),
    (["--eval-only"], "--load-model"),
    (["--load-model", "missing.pt"], "missing.pt"),
    (["--env-id", "Blackjack-v1"], "Tuple"),
    (["--gamma", "1.5"], "--gamma and --gae-lambda must be in [0, 1], got 1.5 and"),
    (["--gae-lambda", "-0.1"], "--gamma and --gae-lambda must be in [0, 1], got 0.99 and -0.1"),
    (["--env-id", "tests.toy_envs:ShiftedActions-v0"], "Discrete(2, start=1); "),  # would act with 0 and 1
    (["--env-id", "tests.toy_envs_continuous:UnboundedAction-v0"], "supports flat Box actions with finite bounds"),
    (["--env-id", "tests.toy_envs_continuous:ZeroWidthAction-v0"], "supports flat Box actions with finite bounds"),
    (["--env-id", "tests.toy_envs_continuous:MatrixAction-v0"], "supports flat Box actions with finite bounds"),
    (["--env-id", "tests.toy_envs_continuous:MatrixObservation-v0"], "(1, 1), float32); "),
    (["--env-id", "tests.toy_envs:StopOrGo-v0", "--capture-video"], "unexpected keyword argument 'render_mode'"),
]
# each script's own settings that must be positive (or, for --cg-damping, non-negative)
OWN_BAD_INPUTS = [("vpg", "--learning-rate"), ("vpg", "--vf-learning-rate"), ("trpo", "--vf-learning-rate"),
                  ("trpo", "--cg-damping"), ("ppo", "--learning-rate"), ("ppo", "--clip-coef"),
                  ("ppo_penalty", "--learning-rate")]


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("args, mentioned", BAD_INPUTS, ids=[" ".join(args) for args, _ in BAD_INPUTS])
def test_bad_input_gives_one_line_message(script, args, mentioned, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    message = exit_message(script, *args)
    assert message.startswith(f"{script}.py: error: ") and mentioned in message
    assert not os.path.exists(tmp_path / "runs")  # no work started


@pytest.mark.parametrize("script, flag", OWN_BAD_INPUTS)
def test_bad_value_of_a_script_setting_gives_one_line_message(script, flag, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    message = exit_message(script, flag, "-1")
    assert message.startswith(f"{script}.py: error: {flag} must be ") and message.endswith("got -1.0")
    assert not os.path.exists(tmp_path / "runs")


@pytest.mark.parametrize("script", SCRIPTS)
def test_bootstraps_through_time_limit_truncation_from_the_true_final_observation(script, tmp_path):
    """Climb-v0 (tests/toy_envs.py): an agent that bootstraps a 2-step episode's truncation from its true final
    observation (the top) learns to climb (deterministic return -1); one that bootstrapped from the reset observation
    (the bottom), or treated the truncation as termination, would stay at the bottom (0)."""
    args = ["--env-id", "tests.toy_envs:Climb-v0", "--gamma", "0.95", "--num-envs", "4", "--num-steps", "64",
            "--total-timesteps", "4096", "--eval-episodes", "3", *TINY_UPDATE.get(script, [])]
    _, run_dir = run_ok(script, args, tmp_path)
    climbed = toy_envs.TOP_REWARD - toy_envs.CLIMB_COST
    assert scalars(run_dir)["eval/episodic_return"] == pytest.approx([climbed] * 3)


@pytest.mark.parametrize("script", ["ppo", "ppo_penalty"])
def test_minibatches_of_fewer_than_two_steps_end_in_one_line(script, tmp_path):
    # a one-step minibatch has no advantage std to normalize by: refused before any work...
    result = run(script, "--num-envs", "1", "--num-steps", "8", "--num-minibatches", "5", cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert f"{script}.py: error: --num-minibatches 5 leaves fewer than 2 of the batch's 8 steps per minibatch" in result.stderr
    assert not os.path.exists(tmp_path / "runs")
    # ...and when the autoreset steps left out of a batch leave too few: episodes of at most 2 steps here,
    # so at least 2 of the 8 steps are autoreset steps and 4 minibatches cannot have 2 transitions each
    result = run(script, "--env-id", "tests.toy_envs:StopOrGo-v0", "--num-envs", "1", "--num-steps", "8",
                 "--num-minibatches", "4", "--total-timesteps", "8", "--eval-episodes", "0", cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "steps of the batch are transitions, fewer than 2 for each of --num-minibatches 4" in result.stderr
    assert f"{script}.py: error: only " in result.stderr


@pytest.mark.parametrize("script", ["vpg", "trpo"])
def test_batches_of_fewer_than_two_transitions_end_in_one_line(script, tmp_path):
    # a batch needs 2 transitions for the advantages' std: refused before any work if it has fewer steps...
    assert exit_message(script, "--num-envs", "1", "--num-steps", "1") == (
        f"{script}.py: error: a batch of num-envs * num-steps = 1 step is too small: it needs at least 2")
    # ...and when autoreset steps leave fewer transitions: every episode of AlwaysStop-v0 ends after its first step
    result = run(script, "--env-id", "tests.toy_envs:AlwaysStop-v0", "--num-envs", "1", "--num-steps", "2",
                 "--total-timesteps", "2", "--eval-episodes", "0", cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1] == (
        f"{script}.py: error: only 1 step of the batch is a transition, fewer than the 2 that a batch needs")


@pytest.mark.parametrize("script", SCRIPTS)
def test_divergence_stops_with_a_clear_message(script, tmp_path):
    lr_flag = "--vf-learning-rate" if script == "trpo" else "--learning-rate"
    result = run(script, "--env-id", "CartPole-v1", lr_flag, "1e38", "--no-anneal-lr", "--num-steps", "256",
                 "--total-timesteps", "4096", "--eval-episodes", "0", cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"{script}.py: error: training diverged" in result.stderr and "global step" in result.stderr
    (run_dir,) = glob.glob(os.path.join(tmp_path, "runs", "*"))
    assert "charts/episodic_return" in scalars(run_dir)  # what was logged stays readable


def test_ppo_compile_flag_trains_and_logs(tmp_path):
    # batches lose their autoreset steps, so minibatch sizes vary between iterations: the compiled loss must cope
    result, run_dir = run_ok("ppo", ["--env-id", "Pendulum-v1", "--total-timesteps", "768", *TINY, "--compile"], tmp_path)
    logged = scalars(run_dir)
    assert len(logged["losses/policy_loss"]) == 6 and torch.isfinite(torch.tensor(logged["losses/policy_loss"])).all()

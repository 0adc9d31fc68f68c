"""What every one of the seven scripts promises alike (../shared/CONVENTIONS.md): one copied file runs with its inline
metadata, the file's shape, evaluation during training, Weights & Biases mirroring, actions within the space's own
bounds, an --eval-only run that allocates only what evaluation needs, and checkpoints that know their environment."""

import os
import re
import runpy
import sys
import tomllib

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests import toy_envs_bounds
from tests.script_runs import ROOT, exit_message, run, run_side_by_side

ONPOLICY, OFFPOLICY = ["vpg", "trpo", "ppo", "ppo_penalty"], ["ddpg", "td3", "sac"]
SCRIPTS = ONPOLICY + OFFPOLICY
# tiny runs: on-policy 8 iterations of 2 x 64 steps, off-policy 800 steps of which 600 learn
TINY = {**dict.fromkeys(ONPOLICY, ["--num-envs", "2", "--num-steps", "64", "--total-timesteps", "1024"]),
        **dict.fromkeys(OFFPOLICY, ["--total-timesteps", "800", "--learning-starts", "200", "--batch-size", "32",
                                    "--buffer-size", "1000"])}
for script in ("ppo", "ppo_penalty"):  # 4 minibatches of a 128-step batch, not 32 of 4 steps
    TINY[script] = [*TINY[script], "--num-minibatches", "4"]
# (--eval-frequency, the steps the evaluations are logged at) for TINY: on-policy at the end of the iteration in
# which global_step crosses a multiple (128-step iterations cross 300, 600, 900 at 384, 640, 1024)
SCHEDULE = {**dict.fromkeys(ONPOLICY, ("300", [384, 640, 1024])), **dict.fromkeys(OFFPOLICY, ("400", [400, 800]))}


def scalars(run_dir):
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def the_run(cwd):
    (run_dir,) = (cwd / "runs").iterdir()
    return run_dir


# --- one copied file runs: PEP 723 inline metadata, pinned as requirements.txt ---


def inline_metadata(path):
    """The `script` block of PEP 723 (its reference regular expression), parsed as TOML."""
    text = open(path).read()
    (match,) = re.finditer(r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$", text)
    assert match.group("type") == "script"
    content = "".join(line[2:] if line.startswith("# ") else line[1:]
                      for line in match.group("content").splitlines(keepends=True))
    return tomllib.loads(content), match.start()


@pytest.mark.parametrize("script", SCRIPTS)
def test_each_script_carries_inline_metadata_pinned_as_requirements_txt(script):
    metadata, start = inline_metadata(os.path.join(ROOT, f"{script}.py"))
    assert start == 0  # the first lines of the file, where `uv run` and a reader look
    pins = [line.split("#")[0].strip() for line in open(os.path.join(ROOT, "requirements.txt"))]
    # what the scripts import; matplotlib draws the benchmark's figures, rliable (with pandas) aggregates them in
    # benchmark/aggregate.py, and pytest runs the tests
    needed = [pin for pin in pins if pin and not pin.startswith(("matplotlib", "rliable", "pandas", "pytest"))]
    assert metadata["dependencies"] == needed
    assert metadata["requires-python"] == ">=3.11"


@pytest.mark.parametrize("script", SCRIPTS)
def test_no_line_is_over_120_characters(script):
    lines = open(os.path.join(ROOT, f"{script}.py")).read().splitlines()
    assert [i + 1 for i, line in enumerate(lines) if len(line) > 120] == []


# --- evaluation during training ---


@pytest.mark.parametrize("script", SCRIPTS)
def test_periodic_evaluation_follows_its_schedule_and_changes_no_training_number(script, tmp_path):
    """Two processes with the same seed, one evaluating during training: they log the same training numbers. This is
    also each script's test that the same seed gives the same run (the contract's reproducibility)."""
    frequency, steps = SCHEDULE[script]
    args = [*TINY[script], "--env-id", "Pendulum-v1", "--eval-episodes", "2"]
    cases = [(script, args, tmp_path / "plain"), (script, [*args, "--eval-frequency", frequency], tmp_path / "eval")]
    for _, _, cwd in cases:
        cwd.mkdir()
    results = run_side_by_side(cases)
    for result in results:
        assert result.returncode == 0, result.stderr[-3000:]
    plain, evaluated = (scalars(the_run(cwd)) for _, _, cwd in cases)
    # evaluation touches no training environment, statistic or random stream: training logs the same numbers
    training = {tag for tag in plain if not tag.startswith("eval/") and tag != "charts/SPS"}
    assert training == {tag for tag in evaluated if not tag.startswith("eval/") and tag != "charts/SPS"}
    for tag in training:
        assert evaluated[tag] == plain[tag], tag
    assert "eval/mean_return" not in plain
    assert [step for step, _ in evaluated["eval/mean_return"]] == steps
    assert [step for step, _ in evaluated["eval/mean_length"]] == steps
    assert all(length == 200 for _, length in evaluated["eval/mean_length"])  # Pendulum's time limit
    # the last periodic evaluation saw the final policy and statistics on the final evaluation's start states
    final = [value for _, value in evaluated["eval/episodic_return"]]
    assert evaluated["eval/mean_return"][-1][1] == pytest.approx(np.mean(final), rel=1e-6)
    assert f"eval={np.mean(final):.1f}" in results[1].stdout  # the progress line shows the last evaluation


def test_off_policy_evaluation_schedule_counts_every_environment_step(tmp_path):
    # 2 environments: global_step goes 2, 4, ..., 802; it crosses 301 at 302 and 602 at 602. Each environment takes
    # 401 steps: two 200-step episodes and the autoreset step between them
    args = [*TINY["td3"], "--total-timesteps", "802", "--env-id", "Pendulum-v1", "--num-envs", "2", "--eval-frequency",
            "301", "--eval-episodes", "1"]
    result = run("td3", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    logged = scalars(the_run(tmp_path))
    assert [step for step, _ in logged["eval/mean_return"]] == [302, 602]
    assert [step for step, _ in logged["charts/episodic_return"]] == [400, 400, 802, 802]


# --- Weights & Biases ---


@pytest.mark.parametrize("script", SCRIPTS)
def test_track_without_wandb_ends_in_one_line_before_any_work(script, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` raises ImportError
    message = exit_message(script, "--track", "--env-id", "Pendulum-v1")
    assert message == f"{script}.py: error: --track needs wandb, which is not installed: pip install wandb"
    assert not os.path.exists(tmp_path / "runs")


@pytest.mark.parametrize("script", ["ppo", "sac"])
def test_track_mirrors_the_run_to_wandb_offline(script, tmp_path):
    pytest.importorskip("wandb", reason="wandb is not a dependency of the scripts; .ci/run installs it for this test")
    args = [*TINY[script], "--env-id", "Pendulum-v1", "--eval-episodes", "1", "--track", "--wandb-project-name", "t"]
    env = {"WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path), "WANDB_SILENT": "true"}
    with pytest.MonkeyPatch.context() as patch:
        for k, v in env.items():
            patch.setenv(k, v)
        result = run(script, *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (offline_run,) = (tmp_path / "wandb").glob("offline-run-*")
    (data,) = offline_run.glob("run-*.wandb")  # wandb's offline record: the args and the mirrored scalars
    data = data.read_bytes()
    assert b"Pendulum-v1" in data and b"wandb_project_name" in data and b"charts/episodic_return" in data


# --- actions within the space's own bounds ---


@pytest.mark.parametrize("script", SCRIPTS)
def test_nothing_sent_to_the_environment_leaves_the_action_space(script):
    """TightBounds-v0 raises on any action outside its own low/high; bias + scale rounds past its high."""
    module = __import__(script)
    args = module.Args(env_id="tests.toy_envs_bounds:TightBounds-v0")
    low, high = toy_envs_bounds.LOW, toy_envs_bounds.HIGH
    if script in ONPOLICY:  # the policy acts in [-1, 1]; the wrappers rescale and clip onto the bounds
        envs = module.make_envs(args, 2, "unused")[0]
        envs.reset(seed=0)
        for action in (1e6, -1e6, 1.0, -1.0, np.nextafter(np.float32(1), np.float32(2))):
            envs.step(np.full((2, 3), action, np.float32))
        return
    envs = module.make_envs(args, 2, "unused")
    obs, _ = envs.reset(seed=0)
    rb = module.ReplayBuffer(100, 3, 3, torch.device("cpu"))
    autoreset = np.zeros(2, dtype=bool)
    # training: actions a float32 ulp or more past either bound, as bias + scale * tanh and the noise clamps give
    for actions in (np.stack([np.nextafter(high, np.float32(9))] * 2), np.stack([np.nextafter(low, np.float32(-9))] * 2),
                    np.full((2, 3), 50.0, np.float32)):
        obs, autoreset, _ = module.step_and_store(envs, rb, obs, actions, autoreset)
    stored = rb.storage[: rb.count, 3:6]
    assert (stored >= torch.as_tensor(low)).all() and (stored <= torch.as_tensor(high)).all()
    # evaluation: an actor whose every output saturates tanh at the upper bound
    torch.manual_seed(0)
    actor = module.Actor(envs)
    with torch.no_grad():
        last = [m for m in actor.modules() if isinstance(m, torch.nn.Linear)][-1]
        last.weight.zero_()
        last.bias.fill_(100.0)
    returns, lengths = module.evaluate(actor, module.make_envs(args, 1, "unused"), 2, torch.device("cpu"), 0)
    assert lengths == [20, 20] and returns == pytest.approx([20 * float(high.sum())] * 2, rel=1e-5)


# --- checkpoints ---


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """{script: the path of a checkpoint of a tiny HalfCheetah-v4 run}"""
    folder = tmp_path_factory.mktemp("checkpoints")
    tiny = {**dict.fromkeys(ONPOLICY, ["--num-envs", "1", "--num-steps", "64", "--total-timesteps", "64"]),
            **dict.fromkeys(OFFPOLICY, ["--total-timesteps", "150", "--learning-starts", "100", "--batch-size", "32",
                                        "--buffer-size", "1000"])}
    cases = []
    for script in SCRIPTS:
        extra = ["--num-minibatches", "4"] if script in ("ppo", "ppo_penalty") else []
        cases.append((script, [*tiny[script], *extra, "--env-id", "HalfCheetah-v4", "--eval-episodes", "0",
                               "--save-model"], folder / script))
        os.makedirs(folder / script)
    for (script, _, cwd), result in zip(cases, run_side_by_side(cases)):
        assert result.returncode == 0, (script, result.stderr[-3000:])
    return {script: str(next((cwd / "runs").glob(f"*/{script}.pt"))) for script, _, cwd in cases}


def run_in_process(script, *args):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", [f"{script}.py", *args])
        runpy.run_path(os.path.join(ROOT, f"{script}.py"), run_name="__main__")


@pytest.mark.parametrize("script", SCRIPTS)
def test_eval_only_allocates_only_what_evaluation_needs(script, checkpoints, tmp_path, monkeypatch):
    """No optimizer, and no replay buffer or rollout storage: sizes no evaluation would ask for show them."""
    monkeypatch.chdir(tmp_path)
    shapes = []
    zeros = torch.zeros
    monkeypatch.setattr(torch, "zeros", lambda *size, **kw: shapes.append(size) or zeros(*size, **kw))

    class NoOptimizer:
        def __init__(self, *args, **kwargs):
            raise AssertionError("--eval-only made an optimizer")

    monkeypatch.setattr(torch.optim, "Adam", NoOptimizer)
    size = ["--num-steps", "4321"] if script in ONPOLICY else ["--buffer-size", "4321"]
    run_in_process(script, "--env-id", "HalfCheetah-v4", "--eval-only", "--load-model", checkpoints[script],
                   "--eval-episodes", "1", *size)
    assert not any("4321" in repr(shape) for shape in shapes), shapes


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_checkpoint_knows_its_environment(script, checkpoints, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert torch.load(checkpoints[script], weights_only=True)["args"]["env_id"] == "HalfCheetah-v4"
    # the shapes fit (the same robot, v5): it loads, with a warning
    run_in_process(script, "--env-id", "HalfCheetah-v5", "--eval-only", "--load-model", checkpoints[script],
                   "--eval-episodes", "1")
    assert (f"{script}.py: warning: {checkpoints[script]!r} was trained on HalfCheetah-v4, not HalfCheetah-v5"
            in capsys.readouterr().err)
    # they do not (Hopper): one line that says where the checkpoint comes from
    message = exit_message(script, "--env-id", "Hopper-v4", "--eval-only", "--load-model", checkpoints[script])
    assert message.startswith(f"{script}.py: error: cannot load {checkpoints[script]!r}: ")
    assert message.endswith("(it was trained on HalfCheetah-v4)")

"""benchmark/grid.sh and the per-algorithm runners: the local commands (dry run), the Slurm job-array script
(run here task by task with a stand-in interpreter, no Slurm needed) and one tiny real local run."""

import glob
import itertools
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "benchmark")
ALGOS = ["vpg", "trpo", "ppo", "ppo_penalty", "ddpg", "td3", "sac"]
DEFAULT_ENVS = ["HalfCheetah-v4", "Hopper-v4", "Walker2d-v4", "Ant-v4"]
SETTINGS = ["ENV_IDS", "SEEDS", "TOTAL_TIMESTEPS", "WORKERS", "OUT_DIR", "PYTHON", "DRY_RUN", "SLURM", "JOB_NAME",
            "SLURM_PARTITION", "SLURM_TIME", "SLURM_MEM", "RERUN", "EVAL_FREQUENCY", "EVAL_EPISODES"]
EVAL = "--eval-frequency 10000 --eval-episodes 10"  # every grid run records the curve of deterministic evaluations
FINISHED = "grid.sh: finished\n"  # the last line of a cell's log once its run has exited 0
# a local command: OMP_NUM_THREADS=1 PYTHON ROOT/ALGO.py --env-id ENV --seed SEED [EXTRA] > logs/ENV__ALGO__SEED.log 2>&1
# (>> when it resumes a run)
COMMAND = re.compile(r"OMP_NUM_THREADS=1 (\S+) (\S+)/(\w+)\.py --env-id (\S+) --seed (\S+)(.*) (>>?) logs/(\S+)\.log 2>&1")


def runner(script, *args, check=True, **settings):
    """Runs `bash benchmark/SCRIPT ARGS` with the given settings and no inherited ones."""
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    env.update(settings)
    result = subprocess.run(["bash", os.path.join(BENCH, script), *args], env=env, capture_output=True, text=True,
                            timeout=120)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def dry_run(script, *args, **settings):
    """(folder the commands run from, [(algo, env_id, seed, extra args, log name, redirection)])"""
    lines = runner(script, *args, DRY_RUN="1", **settings).stdout.splitlines()
    return parse_dry_run(lines, settings)


def parse_dry_run(lines, settings):
    assert lines[0].startswith("cd ")
    cells = []
    for line in lines[1:]:
        python, root, algo, env_id, seed, extra, redirect, log = COMMAND.fullmatch(line).groups()
        assert root == ROOT and python == settings.get("PYTHON", "python")
        assert log == f"{env_id.replace('/', '_')}__{algo}__{seed}"
        cells.append((algo, env_id, seed, extra.strip(), log, redirect))
    return lines[0][3:], cells


@pytest.mark.parametrize("algo", ALGOS)
def test_each_algorithm_runner_is_thin_and_routes_to_its_script(algo):
    text = open(os.path.join(BENCH, f"{algo}.sh")).read()
    assert len(text.splitlines()) <= 6 and f'grid.sh" {algo} -- "$@"' in text and "set -euo pipefail" in text
    folder, cells = dry_run(f"{algo}.sh", "--gamma", "0.9")
    assert folder == BENCH
    assert [c[:4] for c in cells] == [(algo, e, s, f"{EVAL} --gamma 0.9") for e in DEFAULT_ENVS for s in "123"]


def test_dry_run_overrides_and_several_algorithms(tmp_path):
    folder, cells = dry_run("grid.sh", "ppo", "sac", "--", "--exp-name", "a b", ENV_IDS="Pendulum-v1 ALE/Pong-v5",
                            SEEDS="7 8", TOTAL_TIMESTEPS="5000", OUT_DIR=str(tmp_path), PYTHON="/opt/py")
    assert folder == str(tmp_path)
    assert [c[:3] for c in cells] == list(itertools.product(["ppo", "sac"], ["Pendulum-v1", "ALE/Pong-v5"], ["7", "8"]))
    assert {c[3] for c in cells} == {rf"{EVAL} --total-timesteps 5000 --exp-name a\ b"}
    assert cells[2][4] == "ALE_Pong-v5__ppo__7"  # a "/" in an id would be a folder in the log's name
    _, cells = dry_run("grid.sh", "td3", ENV_IDS="Hopper-v4", SEEDS="1", OUT_DIR=str(tmp_path), EVAL_FREQUENCY="0",
                       EVAL_EPISODES="3")
    assert [c[3] for c in cells] == ["--eval-frequency 0 --eval-episodes 3"]


def test_a_relative_python_path_is_taken_from_where_the_runner_starts(tmp_path):
    # the runs start in OUT_DIR, where .venv/bin/python would name another file
    lines = runner("ppo.sh", DRY_RUN="1", ENV_IDS="Hopper-v4", SEEDS="1", OUT_DIR=str(tmp_path / "out"),
                   PYTHON=".venv/bin/python").stdout.splitlines()
    assert COMMAND.fullmatch(lines[1]).group(1) == os.path.join(os.getcwd(), ".venv/bin/python")


def test_bad_settings_stop_with_a_message():
    for args, settings, message in [(["foo"], {}, "unknown algorithm 'foo'"), ([], {}, "no algorithm"),
                                    (["ppo"], {"WORKERS": "0"}, "WORKERS"), (["ppo"], {"SLURM": "yes"}, "SLURM"),
                                    (["ppo"], {"SEEDS": " "}, "SEEDS is empty")]:
        result = runner("grid.sh", *args, check=False, DRY_RUN="1", **settings)
        assert result.returncode == 2 and message in result.stderr and not result.stdout


def emit(tmp_path, *args, **settings):
    """The job-array script for ALGOS x 2 environments x 3 seeds, with a stand-in interpreter that prints
    its arguments, thread setting and folder instead of training."""
    fake = tmp_path / "fake_python"
    fake.write_text('#!/bin/sh\necho "OMP_NUM_THREADS=$OMP_NUM_THREADS cwd=$PWD args=$*"\n')
    fake.chmod(0o755)
    out = tmp_path / "out"
    settings = dict(ENV_IDS="Pendulum-v1 Hopper-v4", SEEDS="1 2 3", OUT_DIR=str(out), PYTHON=str(fake), **settings)
    return runner("grid.sh", *args, SLURM="emit", **settings).stdout, out, settings


def test_slurm_script_maps_each_array_task_to_one_cell(tmp_path):
    algos = ["ppo", "sac", "td3"]
    script, out, settings = emit(tmp_path, *algos, "--", "--total-timesteps", "100", "--exp-name", "x y")
    n = len(algos) * 2 * 3
    sbatch = [line for line in script.splitlines() if line.startswith("#SBATCH")]
    assert sbatch == ["#SBATCH --job-name=bench-ppo-sac-td3", f"#SBATCH --array=0-{n - 1}", "#SBATCH --ntasks=1",
                      "#SBATCH --cpus-per-task=1", "#SBATCH --time=12:00:00", "#SBATCH --mem=4G",
                      f"#SBATCH --output={out}/logs/slurm/%x_%A_%a.out", f"#SBATCH --error={out}/logs/slurm/%x_%A_%a.err"]
    assert script.splitlines()[len(sbatch) + 1].startswith("#")  # all #SBATCH lines before the first command
    assert (out / "logs" / "slurm").is_dir()  # Slurm would not create it
    path = tmp_path / "job.sbatch"
    path.write_text(script)
    _, cells = dry_run("grid.sh", *algos, "--", "--total-timesteps", "100", "--exp-name", "x y", **settings)
    for i in range(n):
        task = subprocess.run(["bash", str(path)], env={**os.environ, "SLURM_ARRAY_TASK_ID": str(i)},
                              capture_output=True, text=True, timeout=30)
        assert task.returncode == 0, task.stderr
        algo, env_id, seed, _, log, _ = cells[i]  # task i runs the local runner's i-th command
        assert task.stdout.startswith(f"task {i}: {algo} {env_id} seed {seed}")
        assert (out / "logs" / f"{log}.log").read_text() == (
            f"OMP_NUM_THREADS=1 cwd={out} args={ROOT}/{algo}.py --env-id {env_id} --seed {seed} "
            f"{EVAL} --total-timesteps 100 --exp-name x y\n" + FINISHED)
    logs = sorted(os.path.basename(p) for p in glob.glob(str(out / "logs" / "*.log")))
    assert logs == sorted(f"{e}__{a}__{s}.log" for a in algos for e in ["Pendulum-v1", "Hopper-v4"] for s in "123")


def test_a_cell_that_left_a_state_file_resumes_from_it(tmp_path):
    # an off-policy run killed after writing a --checkpoint-frequency state: the same grid again goes on from it
    script, out, settings = emit(tmp_path, "sac", "td3")
    state = "runs/Hopper-v4__sac__2__1700000000/sac_state.pt"
    (out / state).parent.mkdir(parents=True)
    (out / state).write_text("")
    _, cells = dry_run("grid.sh", "sac", "td3", **settings)
    resumed = [(c[:4], c[5]) for c in cells if c[5] == ">>"]
    assert resumed == [(("sac", "Hopper-v4", "2", f"{EVAL} --resume {state}"), ">>")] and len(cells) == 12
    # the Slurm tasks look for the state when they start: the resumed one appends to its log, a new one starts anew
    path = tmp_path / "job.sbatch"
    path.write_text(script)
    for i, log in [(4, "Hopper-v4__sac__2"), (3, "Hopper-v4__sac__1")]:
        (out / "logs" / f"{log}.log").write_text("before\n")
        task = subprocess.run(["bash", str(path)], env={**os.environ, "SLURM_ARRAY_TASK_ID": str(i)},
                              capture_output=True, text=True, timeout=30)
        assert task.returncode == 0, task.stderr
        args = f"--env-id Hopper-v4 --seed {log[-1]} {EVAL}" + (f" --resume {state}" if i == 4 else "")
        assert (out / "logs" / f"{log}.log").read_text() == (
            ("before\n" if i == 4 else "") + f"OMP_NUM_THREADS=1 cwd={out} args={ROOT}/sac.py {args}\n" + FINISHED)


def test_slurm_settings_and_submit(tmp_path):
    script, out, _ = emit(tmp_path, "ppo", SLURM_PARTITION="cpu", SLURM_TIME="2:00:00", SLURM_MEM="8G", JOB_NAME="hc")
    for line in ["--partition=cpu", "--time=2:00:00", "--mem=8G", "--job-name=hc", "--array=0-5"]:
        assert f"#SBATCH {line}\n" in script
    assert "#SBATCH --partition" not in emit(tmp_path, "ppo")[0]
    # submit: writes the script next to the Slurm logs and hands it to sbatch (a stand-in here)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text('#!/bin/sh\necho "sbatch $*"\n')
    (bin_dir / "sbatch").chmod(0o755)
    result = runner("ppo.sh", SLURM="submit", JOB_NAME="hc", ENV_IDS="Pendulum-v1 Hopper-v4", OUT_DIR=str(out),
                    PATH=f"{bin_dir}:{os.environ['PATH']}")
    assert result.stdout.splitlines()[-1] == f"sbatch {out}/logs/slurm/hc.sbatch"
    assert "#SBATCH --array=0-5\n" in (out / "logs" / "slurm" / "hc.sbatch").read_text()


def test_slurm_task_of_a_finished_cell_runs_nothing_unless_rerun(tmp_path):
    script, out, _ = emit(tmp_path, "td3")
    path = tmp_path / "job.sbatch"
    path.write_text(script)
    log = out / "logs" / "Pendulum-v1__td3__2.log"  # task 1
    log.write_text("training\n" + FINISHED)

    def task(**env):
        return subprocess.run(["bash", str(path)], env={**os.environ, "SLURM_ARRAY_TASK_ID": "1", **env},
                              capture_output=True, text=True, timeout=30)

    skipped = task()
    assert skipped.returncode == 0 and "finished before" in skipped.stdout and "RERUN=1" in skipped.stdout
    assert log.read_text() == "training\n" + FINISHED  # untouched, nothing ran
    assert task(RERUN="1").returncode == 0
    assert log.read_text() == (f"OMP_NUM_THREADS=1 cwd={out} args={ROOT}/td3.py --env-id Pendulum-v1 --seed 2 {EVAL}\n"
                               + FINISHED)
    # a run that fails leaves no FINISHED line, so the next submission runs the cell again
    failing = path.read_text().replace(str(tmp_path / "fake_python"), "false")
    path.write_text(failing)
    assert task(RERUN="1").returncode != 0 and log.read_text() == ""


def test_failed_run_fails_the_grid(tmp_path):
    result = runner("ppo.sh", check=False, ENV_IDS="Pendulum-v1", SEEDS="1", OUT_DIR=str(tmp_path), PYTHON="false")
    assert result.returncode == 1 and "FAILED: ppo Pendulum-v1 seed 1" in result.stderr
    assert (tmp_path / "logs" / "Pendulum-v1__ppo__1.log").read_text() == ""  # no FINISHED line: not skipped later


def test_tiny_local_run(tmp_path):
    result = runner("ppo.sh", "--total-timesteps", "1024", "--num-steps", "512", "--num-minibatches", "4",
                    "--eval-episodes", "1", ENV_IDS="Pendulum-v1", SEEDS="1 2", WORKERS="2", OUT_DIR=str(tmp_path),
                    PYTHON=sys.executable)
    assert result.stdout.count("done: ppo Pendulum-v1 seed") == 2
    for seed in (1, 2):
        assert "eval" in (tmp_path / "logs" / f"Pendulum-v1__ppo__{seed}.log").read_text()
        (run,) = glob.glob(str(tmp_path / "runs" / f"Pendulum-v1__ppo__{seed}__*"))
        assert glob.glob(os.path.join(run, "events.out.tfevents.*"))
        assert (tmp_path / "logs" / f"Pendulum-v1__ppo__{seed}.log").read_text().endswith("\n" + FINISHED)
    # the same grid again, with a seed more: the finished cells are skipped (and named), unless RERUN=1
    settings = dict(ENV_IDS="Pendulum-v1", SEEDS="1 2 3", OUT_DIR=str(tmp_path))
    again = runner("ppo.sh", DRY_RUN="1", **settings)
    assert [c[2] for c in parse_dry_run(again.stdout.splitlines(), settings)[1]] == ["3"]
    assert again.stderr.count("skipped, finished before (RERUN=1 runs it again): ppo Pendulum-v1 seed") == 2
    assert [c[2] for c in dry_run("ppo.sh", RERUN="1", **settings)[1]] == ["1", "2", "3"]
    nothing = runner("ppo.sh", ENV_IDS="Pendulum-v1", SEEDS="1 2", OUT_DIR=str(tmp_path), PYTHON="false")
    assert nothing.stdout.startswith("0 runs on") and "done:" not in nothing.stdout

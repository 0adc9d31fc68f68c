"""benchmark/aggregate.py on synthetic per-seed CSV files written the way plot.py writes them."""

import csv
import os
import sys

import gymnasium as gym
import numpy as np
import pytest
import scipy.stats

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmark"))
import aggregate  # noqa: E402

# (env, algo) -> seed -> the mean of the run's last 100 episodes; x's scores spread so that IQM and mean differ
SCORES = {
    ("Toy-v0", "x"): {1: 10.0, 2: 90.0, 3: 40.0},
    ("Hopper-v4", "x"): {1: 3000.0, 2: 500.0, 3: 1800.0},
    ("Toy-v0", "y"): {1: 60.0, 2: 70.0, 3: 80.0},
    ("Hopper-v4", "y"): {1: 2000.0, 2: 2500.0, 3: 3000.0, 4: 9000.0},  # seed 4 only here: left out
    ("Toy-v0", "z"): {1: 50.0},  # no Hopper run: z left out
    ("Other-v0", "x"): {1: 5.0},  # no reference score: the environment is left out
}


def write_csvs(folder):
    for (env_id, algo), seeds in SCORES.items():
        with open(folder / f"{env_id}__{algo}.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["seed", "global_step", "episodic_return"])
            for seed, score in seeds.items():
                # 50 early episodes that the score leaves out, then 100 around the score
                returns = np.concatenate([np.full(50, -1000.0), score + np.linspace(-5, 5, 100)])
                for i, r in enumerate(returns):
                    writer.writerow([seed, (i + 1) * 10, f"{r:.2f}"])


def run(tmp_path, *options):
    write_csvs(tmp_path)
    out = tmp_path / "figs" / "aggregate.png"
    out.parent.mkdir(exist_ok=True)
    aggregate.main([str(tmp_path), "--out", str(out), "--reference", "Toy-v0=100", "--random", "Toy-v0=0",
                    "--random", "Hopper-v4=20", "--reps", "300", *options])
    return {row["algo"]: row for row in csv.DictReader(open(out.parent / "aggregate.csv"))}, out


def test_iqm_and_mean_of_normalized_scores_with_bootstrap_intervals(tmp_path, capsys):
    rows, out = run(tmp_path)
    printed = capsys.readouterr().out
    assert list(rows) == ["x", "y"] and list(rows["x"]) == aggregate.CSV_COLUMNS
    reference_hopper = aggregate.REFERENCE["Hopper-v4"]
    for algo in ["x", "y"]:
        toy = [(SCORES[("Toy-v0", algo)][seed] - 0) / (100 - 0) for seed in [1, 2, 3]]
        hopper = [(SCORES[("Hopper-v4", algo)][seed] - 20) / (reference_hopper - 20) for seed in [1, 2, 3]]
        scores = np.array([toy, hopper]).flatten()
        row = {k: float(v) for k, v in rows[algo].items() if k not in ("algo", "seeds")}
        assert row["iqm"] == pytest.approx(scipy.stats.trim_mean(scores, 0.25), abs=1e-4)
        assert row["mean"] == pytest.approx(scores.mean(), abs=1e-4)
        assert row["iqm_low"] < row["iqm"] < row["iqm_high"] and row["mean_low"] < row["mean"] < row["mean_high"]
        assert scores.min() <= row["iqm_low"] and row["iqm_high"] <= scores.max()
        assert f"{algo}: seeds 1 2 3 on Hopper-v4 Toy-v0" in printed
    assert rows["x"]["iqm"] != rows["x"]["mean"]
    # the seed intersection rule, the algorithm without every environment, the environment without a reference
    assert rows["y"]["seeds"] == "1 2 3"
    assert "y: left out the seeds not run on every environment: Hopper-v4 4" in printed
    assert "z left out: no runs on Hopper-v4" in printed
    assert "Other-v0 left out: no reference score" in printed
    assert out.stat().st_size > 0
    # a fixed bootstrap seed: the same numbers again; another seed moves the intervals, not the point estimates
    assert run(tmp_path)[0] == rows
    other = run(tmp_path, "--seed", "1")[0]
    assert [other[a]["iqm"] for a in "xy"] == [rows[a]["iqm"] for a in "xy"] and other != rows


def test_a_reference_can_be_overridden(tmp_path):
    rows, _ = run(tmp_path, "--reference", "Hopper-v4=1020")
    scores = np.array([[0.1, 0.9, 0.4], [(s - 20) / 1000 for s in [3000.0, 500.0, 1800.0]]]).flatten()
    assert float(rows["x"]["mean"]) == pytest.approx(scores.mean(), abs=1e-4)


def test_random_policy_return_is_seeded_and_the_mean_over_episodes():
    value = aggregate.random_return("Pendulum-v1", episodes=2, seed=3)
    assert aggregate.random_return("Pendulum-v1", episodes=2, seed=3) == value
    env = gym.make("Pendulum-v1")
    env.action_space.seed(3)
    totals = []
    for episode in range(2):
        env.reset(seed=3 + episode)
        totals.append(sum(env.step(env.action_space.sample())[1] for _ in range(200)))  # 200 steps, no termination
    assert value == pytest.approx(np.mean(totals))


def test_a_malformed_value_is_refused_with_a_message(tmp_path):
    with pytest.raises(SystemExit, match="--reference 'Toy-v0:100': expected ENV=NUMBER"):
        aggregate.main([str(tmp_path), "--reference", "Toy-v0:100"])

"""benchmark/plot.py on two synthetic runs written the way the scripts write them."""

import csv
import glob
import math
import os
import subprocess
import sys

import matplotlib.colors
import matplotlib.figure
import numpy as np
import pytest
from torch.utils.tensorboard import SummaryWriter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmark"))
import plot  # noqa: E402


def write_run(folder, seed, returns, evals, time=0, sps=None, periodic=(), algo="algo"):
    """A run as the scripts write it; `periodic`: (step, mean return) of evaluations during training."""
    writer = SummaryWriter(os.path.join(folder, f"Toy-v0__{algo}__{seed}__{time}"))
    for i, r in enumerate(returns):
        writer.add_scalar("charts/episodic_return", r, (i + 1) * 10)
        writer.add_scalar("charts/SPS", 100 * seed if sps is None else sps, (i + 1) * 10)
    for step, r in periodic:
        writer.add_scalar("eval/mean_return", r, step)
        writer.add_scalar("eval/mean_length", 1.0, step)
    for i, r in enumerate(evals):
        writer.add_scalar("eval/episodic_return", r, i)
    writer.close()


def plot_runs(runs, out, *options):
    return subprocess.run([sys.executable, os.path.join(ROOT, "benchmark", "plot.py"), str(runs), "--out", str(out), *options],
                          capture_output=True, text=True)


def test_summary_csv_and_curves(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "out"
    write_run(runs, 1, np.arange(150.0), [10.0, 20.0])
    write_run(runs, 2, np.arange(150.0) + 100, [30.0])
    result = plot_runs(runs, out, "--hardware", "test machine", "--commit", "abc123")
    assert result.returncode == 0, result.stderr
    (row,) = list(csv.DictReader(open(out / "summary.csv")))
    assert list(row) == plot.SUMMARY_COLUMNS
    # last 100 episodes: mean of 50..149 = 99.5 and of 150..249 = 199.5
    assert float(row["final_return_mean"]) == pytest.approx(149.5) and float(row["final_return_std"]) == pytest.approx(50.0)
    assert float(row["eval_return_mean"]) == pytest.approx((15.0 + 30.0) / 2)
    assert row["seeds"] == "1 2" and row["total_timesteps"] == "1500" and row["sps_median"] == "150"
    assert row["commit"] == "abc123" and row["hardware"] == "test machine"
    rows = list(csv.DictReader(open(out / "Toy-v0__algo.csv")))
    assert len(rows) == 300 and rows[0] == {"seed": "1", "global_step": "10", "episodic_return": "0.00"}
    assert (out / "Toy-v0.png").stat().st_size > 0


def test_commit_and_hardware_files_of_a_run_override_the_defaults(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "out"
    write_run(runs, 1, np.arange(10.0), [1.0])
    write_run(runs, 2, np.arange(10.0), [1.0])
    (runs / "Toy-v0__algo__2__0" / "COMMIT").write_text("def456\n")
    (runs / "Toy-v0__algo__2__0" / "HARDWARE").write_text("2-core AMD EPYC VM\n")
    result = plot_runs(runs, out, "--commit", "abc123", "--hardware", "2-core Intel Xeon VM")
    assert result.returncode == 0, result.stderr
    (row,) = list(csv.DictReader(open(out / "summary.csv")))
    assert row["commit"] == "abc123 def456" and row["hardware"] == "2-core AMD EPYC VM + 2-core Intel Xeon VM"


def figures_of(monkeypatch, runs, out, *options):
    """The figures plot.main() saves, not closed, so that their drawn objects can be inspected."""
    saved = []

    def save_and_keep(fig, *args, **kwargs):
        save(fig, *args, **kwargs)
        saved.append(fig)

    save = matplotlib.figure.Figure.savefig
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", save_and_keep)
    monkeypatch.setattr(plot.plt, "close", lambda fig: None)  # a closed figure's canvas has no renderer
    monkeypatch.setattr(sys, "argv", ["plot.py", str(runs), "--out", str(out), *options])
    plot.main()
    return saved


def test_each_algorithm_goes_to_the_panel_of_its_family():
    for algo in ["vpg", "trpo", "ppo", "ppo_penalty", "ppo-4x512", "ppo_n8", "vpg_lr1e-3", "ppo_penalty-x"]:
        assert plot.panel_of(algo) == "on-policy", algo
    for algo in ["ddpg", "td3", "sac", "sac_tes0.7", "td3-big", "ddpg_lr3e-4"]:
        assert plot.panel_of(algo) == "off-policy", algo
    # the longest script name that is a prefix up to a separator; no separator, no match
    assert plot.script_of("ppo_penalty_beta3") == "ppo_penalty" and plot.script_of("ppo_clip") == "ppo"
    for algo in ["algo", "sacx", "ppopenalty", "dqn_atari", "a-ppo"]:
        assert plot.script_of(algo) is None and plot.panel_of(algo) == algo


def test_colors_are_the_scripts_own_and_further_ones_in_a_fixed_order():
    colors = plot.colors_for(["sac", "zeta", "ppo-4x512", "ppo"])
    assert colors["sac"] == plot.COLORS["sac"] and colors["ppo"] == plot.COLORS["ppo"]
    assert colors["ppo-4x512"] == plot.EXTRA_COLORS[0] and colors["zeta"] == plot.EXTRA_COLORS[1]  # sorted names
    assert plot.colors_for(["zeta", "ppo", "ppo-4x512"]) == {k: colors[k] for k in ["zeta", "ppo", "ppo-4x512"]}
    assert not set(plot.EXTRA_COLORS) & set(plot.COLORS.values())
    assert len(set(plot.EXTRA_COLORS)) == len(plot.EXTRA_COLORS)


def test_the_figure_has_a_panel_per_family_and_one_legend_below_them(tmp_path, monkeypatch):
    runs, out = tmp_path / "runs", tmp_path / "out"
    for algo, seeds in [("sac", [1]), ("ppo", [1, 2]), ("other", [1]), ("ppo-4x512", [1])]:
        for seed in seeds:
            write_run(runs, seed, np.arange(10.0) * seed, [1.0], algo=algo, periodic=[(50, 1.0)] * (algo != "sac"))
    (fig,) = figures_of(monkeypatch, runs, out)
    assert [ax.get_title() for ax in fig.axes] == ["Toy-v0: on-policy", "Toy-v0: off-policy", "Toy-v0: other"]
    assert [[line.get_label() for line in ax.lines] for ax in fig.axes] == [
        ["ppo (2 seeds)", "ppo-4x512 (1 seed)"], ["sac (1 seed)"], ["other (1 seed)"]]
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["ppo (2 seeds)", "ppo-4x512 (1 seed)", "sac (1 seed)",
                                                        "other (1 seed)"]
    colors = [matplotlib.colors.to_rgb(line.get_color()) for ax in fig.axes for line in ax.lines]
    assert colors[0] == plot.COLORS["ppo"] and colors[2] == plot.COLORS["sac"] and len(set(colors)) == 4
    assert all(band.get_alpha() <= 0.2 for ax in fig.axes for band in ax.collections)  # light bands
    # the legend is outside every panel
    renderer = fig.canvas.get_renderer()
    legend_box = legend.get_window_extent(renderer)
    assert all(legend_box.y1 < ax.get_tightbbox(renderer).y0 for ax in fig.axes)
    # with --eval-curves a second row of the same panels; sac, without periodic evaluations, has no eval curve
    (fig,) = figures_of(monkeypatch, runs, out, "--eval-curves")
    assert [ax.get_title() for ax in fig.axes][3:] == [
        "Toy-v0: on-policy, periodic evaluation", "Toy-v0: off-policy, periodic evaluation",
        "Toy-v0: other, periodic evaluation"]
    assert [len(ax.lines) for ax in fig.axes] == [2, 1, 1, 2, 0, 1]


def test_a_study_of_one_family_has_one_panel(tmp_path, monkeypatch):
    runs, out = tmp_path / "runs", tmp_path / "out"
    write_run(runs, 1, np.arange(10.0), [1.0], algo="vpg_lr1e-3")
    write_run(runs, 1, np.arange(10.0), [1.0], algo="vpg")
    (fig,) = figures_of(monkeypatch, runs, out)
    assert [ax.get_title() for ax in fig.axes] == ["Toy-v0: on-policy"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["vpg (1 seed)", "vpg_lr1e-3 (1 seed)"]


@pytest.mark.parametrize("algos, options", [(["algo"], []), (["ppo", "sac", "other"], ["--eval-curves"])])
def test_the_caption_is_one_line_below_the_legend_without_commit_or_hardware(tmp_path, monkeypatch, algos, options):
    runs, out = tmp_path / "runs", tmp_path / "out"
    for algo in algos:
        for seed in [1, 2]:
            write_run(runs, seed, np.arange(10.0), [1.0], algo=algo, periodic=[(50, 1.0)])
    versions = "torch 2.13.0 CPU, gymnasium 1.4.0, mujoco 4.0.0"
    (fig,) = figures_of(monkeypatch, runs, out, "--hardware", "2-core VM", "--commit", "abc123", "--versions",
                        versions, "--command", "bash benchmark/ppo.sh", *options)
    (caption,) = fig.texts
    text = caption.get_text()
    assert "\n" not in text and "mean over 2 seeds" in text and versions in text
    assert not any(word in text for word in ["2-core VM", "abc123", "ppo.sh"])
    renderer = fig.canvas.get_renderer()
    box, legend_box = caption.get_window_extent(renderer), fig.legends[0].get_window_extent(renderer)
    assert box.y1 < legend_box.y0 and 0 <= box.x0 and box.x1 <= fig.bbox.width and box.y0 >= 0
    assert all(legend_box.y1 < ax.get_tightbbox(renderer).y0 for ax in fig.axes)
    # the provenance stays in the tables
    (row,) = [r for r in csv.DictReader(open(out / "summary.csv")) if r["algo"] == algos[0]]
    assert row["commit"] == "abc123" and row["hardware"] == "2-core VM"
    assert (out / "summary.md").read_text().endswith("\nRuns made with: `bash benchmark/ppo.sh`\n")


def test_one_seed_has_no_spread(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "out"
    write_run(runs, 1, np.arange(10.0), [1.0])
    result = plot_runs(runs, out)
    assert result.returncode == 0, result.stderr
    (row,) = list(csv.DictReader(open(out / "summary.csv")))
    assert row["final_return_mean"] == "4.5" and row["final_return_std"] == ""
    assert "| 4.5 (1 seed) |" in (out / "summary.md").read_text()


def test_every_script_has_its_own_color_in_all_figures():
    scripts = {os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "*.py"))}
    assert set(plot.COLORS) == scripts and len(set(plot.COLORS.values())) == len(scripts)


def test_curve_is_the_mean_of_the_last_20_episodes_by_each_step_with_a_t_interval_over_seeds(tmp_path, monkeypatch):
    """The figure's curve, as its y label says: per seed, the mean return of the last 20 episodes finished by each
    step (fewer before the 20th, none before the first), then the mean over seeds with a 95% t-interval."""
    runs, out = tmp_path / "runs", tmp_path / "out"
    i = np.arange(30.0)  # 30 episodes, finished at steps 10, 20, ..., 300; returns that change from one to the next
    returns = {1: i**2 / 10, 2: 5 * np.sin(i), 3: -i}
    for seed, r in returns.items():
        write_run(runs, seed, r, [1.0])
    saved = []
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", lambda fig, *a, **k: saved.append(fig))
    monkeypatch.setattr(sys, "argv", ["plot.py", str(runs), "--out", str(out)])
    plot.main()
    ((fig,),) = [saved]
    assert fig.axes[0].get_ylabel() == "episodic return (mean of last 20 episodes)"
    grid = fig.axes[0].lines[0].get_xdata()
    steps = (i + 1) * 10

    def last_20(r, step):
        finished = r[steps <= step]
        return finished[-20:].mean() if len(finished) else np.nan

    curves = np.array([[last_20(r, step) for step in grid] for r in returns.values()])
    assert np.isnan(curves[:, 0]).all() and not np.isnan(curves[:, 7]).any()  # grid step 10.55: one episode
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), curves.mean(0), rtol=1e-6)  # float32 events
    steps_of_interest = np.array([10.0, 195.0, 300.0])  # the first episode's end; 19 episodes; 30, of which 20 count
    mean, half = plot.curve_band(plot.load_runs([str(runs)], "", "")[0][("Toy-v0", "algo")], steps_of_interest)
    expected = np.array([[last_20(r, step) for step in steps_of_interest] for r in returns.values()])
    np.testing.assert_allclose(mean, expected.mean(0), rtol=1e-6)
    np.testing.assert_allclose(half, plot.t95(2) * expected.std(0, ddof=1) / np.sqrt(3), rtol=1e-6)


def test_a_seed_run_twice_is_refused_and_an_eval_only_run_skipped(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "out"
    write_run(runs, 1, np.arange(10.0), [1.0])
    write_run(runs, 1, [], [2.0], time=1)  # --eval-only: no training episode, a later time
    result = plot_runs(runs, out)
    assert result.returncode == 0, result.stderr
    assert "skipped" in result.stdout and "Toy-v0__algo__1__1" in result.stdout
    (row,) = list(csv.DictReader(open(out / "summary.csv")))
    assert row["eval_return_mean"] == "1.0"  # the training run's evaluation, not the eval-only run's
    write_run(runs, 1, np.arange(10.0) + 5, [3.0], time=2)
    result = plot_runs(runs, out)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "two runs of Toy-v0 algo seed 1" in result.stderr and "Toy-v0__algo__1__2" in result.stderr


def test_runs_of_different_lengths_are_flagged(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "out"
    write_run(runs, 1, np.arange(20.0), [1.0])
    write_run(runs, 2, np.arange(10.0), [1.0])
    result = plot_runs(runs, out)
    assert result.returncode == 0, result.stderr
    assert "end at different steps {1: 200, 2: 100}" in result.stdout
    (row,) = list(csv.DictReader(open(out / "summary.csv")))
    assert row["total_timesteps"] == "100"  # what every seed reached


def test_t95_covers_95_percent_of_the_t_distribution():
    for df in [*range(1, 41), 60, 120, 1000]:
        # the density of Student's t, integrated numerically over [-q, q]
        q = plot.t95(df)
        x = np.linspace(0.0, q, 200_001)
        log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
        density = np.exp(log_c - (df + 1) / 2 * np.log1p(x**2 / df))
        coverage = 2 * np.sum((density[1:] + density[:-1]) / 2 * np.diff(x))
        assert coverage == pytest.approx(0.95, abs=1e-3), df


def test_a_seed_without_evaluation_leaves_the_eval_return_blank(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "out"
    write_run(runs, 1, np.arange(10.0), [100.0])
    write_run(runs, 2, np.arange(10.0), [])  # e.g. --eval-episodes 0
    result = plot_runs(runs, out)
    assert result.returncode == 0, result.stderr
    assert "Toy-v0 algo: only seeds [1] have an evaluation; no eval return" in result.stdout
    (row,) = list(csv.DictReader(open(out / "summary.csv")))
    assert row["seeds"] == "1 2" and row["eval_return_mean"] == ""  # not seed 1's 100 passed off as the cell's


def test_events_are_taken_in_step_order_and_a_run_without_sps_has_no_sps(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "out"
    writer = SummaryWriter(runs / "Toy-v0__algo__1__0")
    for step in [30, 10, 20] + list(range(40, 1050, 10)):  # the first three out of order; no charts/SPS at all
        writer.add_scalar("charts/episodic_return", step / 10, step)
    writer.add_scalar("losses/q", 0.0, 1234)
    writer.close()
    result = plot_runs(runs, out)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(open(out / "Toy-v0__algo.csv")))
    assert [int(r["global_step"]) for r in rows[:4]] == [10, 20, 30, 40]
    (row,) = list(csv.DictReader(open(out / "summary.csv")))
    # the last 100 episodes by step are those of steps 50..1040 (returns 5..104); the run's length is its last step
    assert float(row["final_return_mean"]) == pytest.approx(54.5) and row["total_timesteps"] == "1234"
    assert row["sps_median"] == ""


def test_sps_median_is_rounded_not_truncated(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "out"
    write_run(runs, 1, np.arange(5.0), [1.0], sps=100)
    write_run(runs, 2, np.arange(5.0), [1.0], sps=100.7)
    write_run(runs, 3, np.arange(5.0), [1.0], sps=101)
    assert plot_runs(runs, out).returncode == 0
    assert list(csv.DictReader(open(out / "summary.csv")))[0]["sps_median"] == "101"  # median 100.7; int() gave 100


def test_max_of_periodic_evaluations_per_run_then_mean_and_std_over_seeds(tmp_path, monkeypatch):
    runs, out = tmp_path / "runs", tmp_path / "out"
    # seed 1 peaks mid-run (its last evaluation is not its best); seed 2 at the end
    write_run(runs, 1, np.arange(20.0), [1.0], periodic=[(50, 3.0), (100, 9.0), (150, 5.0)])
    write_run(runs, 2, np.arange(20.0), [1.0], periodic=[(50, 1.0), (100, 2.0), (150, 7.0)])
    result = plot_runs(runs, out, "--eval-curves")
    assert result.returncode == 0, result.stderr
    (row,) = list(csv.DictReader(open(out / "summary.csv")))
    assert float(row["max_eval_return_mean"]) == pytest.approx(8.0)  # (9 + 7) / 2, not the last (5 + 7) / 2
    assert float(row["max_eval_return_std"]) == pytest.approx(1.0)  # ddof 0, as the last-100 std
    assert float(row["max_mean_eval_return"]) == pytest.approx(6.0)  # the mean curve 2, 5.5, 6 at its best
    assert row["total_timesteps"] == "200"  # evaluations do not make a run longer than its training
    assert "| 8.0 +- 1.0 | 6.0 |" in (out / "summary.md").read_text()
    steps, mean, half = plot.eval_band(plot.load_runs([str(runs)], "", "")[0][("Toy-v0", "algo")])
    np.testing.assert_array_equal(steps, [50, 100, 150])
    np.testing.assert_allclose(mean, [2.0, 5.5, 6.0])
    np.testing.assert_allclose(half, plot.t95(1) * np.std([[3, 9, 5], [1, 2, 7]], axis=0, ddof=1) / np.sqrt(2))
    # --eval-curves draws them in a second panel
    saved = []
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", lambda fig, *a, **k: saved.append(fig))
    monkeypatch.setattr(sys, "argv", ["plot.py", str(runs), "--out", str(out), "--eval-curves"])
    plot.main()
    ((fig,),) = [saved]
    assert len(fig.axes) == 2 and len(fig.axes[1].lines) == 1
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), [2.0, 5.5, 6.0])


def test_runs_without_periodic_evaluation_leave_the_max_eval_blank(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "out"
    write_run(runs, 1, np.arange(10.0), [1.0], periodic=[(50, 3.0)])
    write_run(runs, 2, np.arange(10.0), [1.0])  # made before --eval-frequency existed
    result = plot_runs(runs, out)
    assert result.returncode == 0, result.stderr
    assert "only seeds [1] have periodic evaluations; no max eval return" in result.stdout
    (row,) = list(csv.DictReader(open(out / "summary.csv")))
    assert row["max_eval_return_mean"] == row["max_eval_return_std"] == row["max_mean_eval_return"] == ""

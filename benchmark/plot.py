"""Learning curves and final-return tables from the scripts' TensorBoard runs.

    python benchmark/plot.py benchmark/runs --out benchmark/results --hardware "2-core CPU" --command "..."

Reads every run folder `{env_id}__{exp_name}__{seed}__{time}` below the given folders with TensorBoard's
own event reader and writes to --out (a run folder may hold a file `COMMIT` naming the commit that made it,
otherwise --commit, or HEAD, is taken, and a file `HARDWARE` describing the machine, otherwise --hardware;
a folder without training episodes, e.g. an --eval-only run, is
skipped, and two folders of the same environment, script and seed stop it with an error):
- `{env_id}__{algo}.csv`: seed,global_step,episodic_return for every finished training episode;
- `{env_id}.png`: mean over seeds with a 95% confidence band (Student t), x = environment steps, in two panels:
  the on-policy scripts (vpg, trpo, ppo, ppo_penalty) and the off-policy ones (ddpg, td3, sac); a study's exp name
  goes to the panel of the script its name starts with (`ppo-4x512`, `sac_tes0.7`), any other to a panel of its own,
  and a panel without runs is left out. One color per algorithm in every figure, the legend below the panels and a
  one-line caption: the protocol, the seed counts and --versions (commits and hardware are summary.csv's columns);
- `summary.csv` (algo,env_id,total_timesteps,seeds,final_return_mean,final_return_std,eval_return_mean,
  max_eval_return_mean,max_eval_return_std,sps_median,commit,hardware) and `summary.md` (--command under its
  table), one metric per protocol:
  CleanRL's (mean of the last 100 training episodes per run, then mean +- std over seeds, the std with ddof 0 as
  openrlbenchmark reports it); the SB3 zoo's (the final deterministic evaluation, `eval/episodic_return`); Tianshou's
  and the TD3 paper's, from the periodic evaluations' means (`eval/mean_return`): `max_eval_return_mean/std`, per run
  the maximum over training, then mean and std over seeds, and `max_mean_eval_return`, the maximum over training of
  the mean over seeds (the curve's best point, as Tianshou and the TD3 paper's stored curves compute it; never above
  the former). Both are optimistic statistics, the best of many noisy evaluations. An evaluation metric is blank,
  with a warning, unless every seed has it (runs made without `--eval-frequency` have no periodic ones).
- with `--eval-curves`, each figure has a second row of the same panels: the periodic evaluations (mean and 95% band
  over seeds).
"""

import argparse
import csv
import glob
import os
import subprocess
import sys
import textwrap
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

# two-sided 95% Student t quantiles by degrees of freedom; beyond the table, the normal quantile z plus the
# first term of its expansion in 1/df, (z^3 + z) / (4 df), which is within 0.003 of the quantile from df 30 on
T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26, 10: 2.23, 11: 2.20, 12: 2.18,
       13: 2.16, 14: 2.14, 15: 2.13, 16: 2.12, 17: 2.11, 18: 2.10, 19: 2.09, 20: 2.09, 21: 2.08, 22: 2.07, 23: 2.07,
       24: 2.06, 25: 2.06, 26: 2.06, 27: 2.05, 28: 2.05, 29: 2.05, 30: 2.04}


def t95(df):
    z = 1.959964
    return T95.get(df, z + (z**3 + z) / (4 * df))


SUMMARY_COLUMNS = ["algo", "env_id", "total_timesteps", "seeds", "final_return_mean", "final_return_std",
                   "eval_return_mean", "max_eval_return_mean", "max_eval_return_std",
                   "max_mean_eval_return", "sps_median", "commit", "hardware"]
# one color per script in every figure, so that a reader can compare environments at a glance
COLORS = dict(zip(["ppo", "ppo_penalty", "trpo", "vpg", "ddpg", "td3", "sac"], plt.get_cmap("tab10").colors))
# other names (the exp names of studies) take these in the order of their sorted names
EXTRA_COLORS = plt.get_cmap("tab10").colors[len(COLORS):] + plt.get_cmap("Dark2").colors
FAMILIES = {"on-policy": ["vpg", "trpo", "ppo", "ppo_penalty"], "off-policy": ["ddpg", "td3", "sac"]}


def script_of(algo):
    """The script an exp name belongs to: the name itself or its prefix before a `_` or `-` (`ppo-4x512` is ppo),
    the longest such script name first (`ppo_penalty_x` is ppo_penalty); None for any other name."""
    for script in sorted(COLORS, key=len, reverse=True):
        if algo == script or algo.startswith((script + "_", script + "-")):
            return script
    return None


def panel_of(algo):
    """The panel an algorithm's curves go to: its script's family, else a panel named after itself."""
    script = script_of(algo)
    return next((family for family, scripts in FAMILIES.items() if script in scripts), algo)


def drawing_order(algos):
    """The algorithms sorted by panel (on-policy, off-policy, then the others), in a panel by script, then name."""
    scripts = [s for family in FAMILIES.values() for s in family]

    def key(algo):
        panel, script = panel_of(algo), script_of(algo)
        return (list(FAMILIES).index(panel) if panel in FAMILIES else len(FAMILIES), panel,
                scripts.index(script) if script else 0, algo)
    return sorted(algos, key=key)


def colors_for(algos):
    """A color per algorithm: a script's own from COLORS, the other names the extra colors in sorted order."""
    others = sorted(a for a in set(algos) if a not in COLORS)
    return {**{a: COLORS[a] for a in algos if a in COLORS},
            **{a: EXTRA_COLORS[i % len(EXTRA_COLORS)] for i, a in enumerate(others)}}


def read_or(path, default):
    """The stripped text of the file at `path`, or `default` where there is none."""
    return open(path).read().strip() if os.path.exists(path) else default


def load_runs(folders, default_commit, default_hardware):
    """(env_id, algo) -> seed -> {tag: (steps, values)}, and (env_id, algo) -> the commits and the hardware of
    its runs"""
    groups, commits, hardware, run_dirs = defaultdict(dict), defaultdict(set), defaultdict(set), {}
    for folder in folders:
        for run_dir in sorted(glob.glob(os.path.join(folder, "*__*__*__*"))):
            env_id, algo, seed, _ = os.path.basename(run_dir).split("__")
            acc = EventAccumulator(run_dir, size_guidance={"scalars": 0})
            acc.Reload()
            if "charts/episodic_return" not in acc.Tags()["scalars"]:
                print(f"plot.py: skipped {run_dir}: no finished training episode (an --eval-only run?)")
                continue
            key = (env_id, algo, int(seed))
            if key in run_dirs:  # one of them would silently replace the other in the mean over seeds
                sys.exit(f"plot.py: error: two runs of {env_id} {algo} seed {seed}: {run_dirs[key]} and {run_dir}")
            run_dirs[key] = run_dir
            groups[(env_id, algo)][int(seed)] = {tag: by_step(acc.Scalars(tag)) for tag in acc.Tags()["scalars"]}
            commits[(env_id, algo)].add(read_or(os.path.join(run_dir, "COMMIT"), default_commit))
            hardware[(env_id, algo)].add(read_or(os.path.join(run_dir, "HARDWARE"), default_hardware))
    return groups, commits, hardware


def by_step(events):
    """(steps, values) of a tag's events in step order (a stable sort: the order the reader gives them in, from a
    folder's event files by name, need not be the steps' when a resumed run's files come from two machines)"""
    steps, values = np.array([e.step for e in events]), np.array([e.value for e in events])
    order = np.argsort(steps, kind="stable")
    return steps[order], values[order]


def curve_band(seeds, grid, window=20):
    """Per seed: the mean of the last `window` episodes finished by each grid step; then the mean over
    seeds and the half-width of its 95% confidence interval."""
    curves = []
    for series in seeds.values():
        steps, returns = series["charts/episodic_return"]
        ends = np.searchsorted(steps, grid, side="right")
        curves.append([returns[max(0, e - window) : e].mean() if e > 0 else np.nan for e in ends])
    curves = np.array(curves)
    n = len(curves)
    mean = curves.mean(0)
    half = t95(n - 1) * curves.std(0, ddof=1) / np.sqrt(n) if n > 1 else np.zeros_like(mean)
    return mean, half


def eval_band(seeds):
    """The periodic evaluations (`eval/mean_return`) at the steps every seed evaluated at: the steps, the mean over
    seeds and the half-width of its 95% confidence interval."""
    series = [dict(zip(*s["eval/mean_return"])) for s in seeds.values()]
    steps = np.array(sorted(set.intersection(*(set(s) for s in series))))
    curves = np.array([[s[step] for step in steps] for s in series])
    n = len(curves)
    half = t95(n - 1) * curves.std(0, ddof=1) / np.sqrt(n) if n > 1 else np.zeros(len(steps))
    return steps, curves.mean(0), half


def seed_counts(algos):
    """The seed counts of the algorithms' curves, as a caption says them: "5 seeds" or "3-5 seeds"."""
    counts = sorted({len(seeds) for seeds in algos.values()})
    return f"{counts[0]}{'-' + str(counts[-1]) if len(counts) > 1 else ''} seed{'s' if counts[-1] > 1 else ''}"


def plot_env(algos, env_id, colors, versions="", eval_curves=False):
    """One environment's figure: a column per panel (on-policy, off-policy, then others), training curves on top,
    with `eval_curves` the periodic evaluations below, one legend under the panels and a one-line caption."""
    order = drawing_order(algos)
    panels = list(dict.fromkeys(panel_of(algo) for algo in order))
    rows = 2 if eval_curves else 1
    caption = (f"training episodes' returns: mean over {seed_counts(algos)} (legend) with a 95% Student t band, "
               "cut off at the returns' range" + "; lower row: periodic deterministic evaluations" * eval_curves
               + f"; {versions}" * bool(versions))
    width = max(7.0 * len(panels), 10.0)
    # the caption in one line where the figure is wide enough (8-point characters average ~0.53 em)
    lines = textwrap.wrap(caption, int(width * 72 / (0.53 * 8)) - 4)
    ncols = min(len(order), int(width / 1.8))  # legend entries ~1.8 inches wide
    legend_height = 0.15 + 0.25 * -(-len(order) // ncols)  # inches, with ceil(entries / ncols) rows
    caption_height = 0.05 + 0.15 * len(lines)
    fig = plt.figure(figsize=(width, 4.2 * rows + legend_height + caption_height))
    axes = fig.subplots(rows, len(panels), sharey="row", squeeze=False)
    for col, panel in enumerate(panels):
        axes[0, col].set(title=f"{env_id}: {panel}", xlabel="environment steps")
        for algo in (a for a in order if panel_of(a) == panel):
            seeds, color = algos[algo], colors[algo]
            # up to the shortest run: past its end a seed has no data
            grid = np.linspace(0, min(s["charts/episodic_return"][0][-1] for s in seeds.values()), 200)
            mean, half = curve_band(seeds, grid)
            axes[0, col].plot(grid, mean, color=color, label=f"{algo} ({len(seeds)} seed{'s' * (len(seeds) > 1)})")
            # a light band, so that the means stay readable where the bands of several algorithms overlap
            axes[0, col].fill_between(grid, mean - half, mean + half, color=color, alpha=0.15, linewidth=0)
            if eval_curves and all("eval/mean_return" in s for s in seeds.values()):
                steps, mean, half = eval_band(seeds)
                axes[1, col].plot(steps, mean, color=color)
                axes[1, col].fill_between(steps, mean - half, mean + half, color=color, alpha=0.15, linewidth=0)
        if eval_curves:
            axes[1, col].set(title=f"{env_id}: {panel}, periodic evaluation", xlabel="environment steps")
            if not axes[1, col].lines:
                axes[1, col].text(0.5, 0.5, "no periodic evaluations", transform=axes[1, col].transAxes, ha="center")
    # the y-axis spans the episodes' returns: with 2-3 seeds a t-interval can reach far beyond them
    returns = np.concatenate([s["charts/episodic_return"][1] for seeds in algos.values() for s in seeds.values()])
    lo, hi = returns.min(), returns.max()
    axes[0, 0].set_ylim(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
    axes[0, 0].set_ylabel("episodic return (mean of last 20 episodes)")
    if eval_curves:
        axes[1, 0].set_ylabel("mean return of the deterministic policy")
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    height = fig.get_figheight()
    # the panels with their titles and labels above the legend, the legend above the caption
    fig.tight_layout(rect=(0, (legend_height + caption_height) / height, 1, 1))
    handles = [line for ax in axes[0] for line in ax.lines]
    fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, caption_height / height), ncols=ncols,
               frameon=False, fontsize=9)
    fig.text(0.01, 0.03 / height, "\n".join(lines), fontsize=8, va="bottom")
    return fig


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="folders holding run folders")
    parser.add_argument("--out", default="benchmark/results")
    parser.add_argument("--hardware", default="unspecified", help="the machine that made the runs without a HARDWARE file")
    parser.add_argument("--command", default="", help="the command that made the runs, written under summary.md")
    parser.add_argument("--commit", default=None, help="the commit that made the runs without a COMMIT file (default: HEAD)")
    parser.add_argument("--versions", default="", help="library versions, in each figure's caption")
    parser.add_argument("--eval-curves", action="store_true", help="a second row of the periodic evaluations")
    args = parser.parse_args()
    commit = args.commit or subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    os.makedirs(args.out, exist_ok=True)
    groups, commits, hardware = load_runs(args.runs, commit, args.hardware)

    rows = []
    for (env_id, algo), seeds in sorted(groups.items()):
        with open(os.path.join(args.out, f"{env_id}__{algo}.csv"), "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["seed", "global_step", "episodic_return"])
            for seed, series in sorted(seeds.items()):
                for step, value in zip(*series["charts/episodic_return"]):
                    writer.writerow([seed, step, f"{value:.2f}"])
        finals = [s["charts/episodic_return"][1][-100:].mean() for s in seeds.values()]
        # a run's length: the last step it logged anything of its training at
        last_steps = {seed: int(max(steps[-1] for tag, (steps, _) in s.items() if not tag.startswith("eval/")))
                      for seed, s in sorted(seeds.items())}
        if len(set(last_steps.values())) > 1:  # the metric would mix runs of different lengths
            print(f"plot.py: warning: {env_id} {algo}: the seeds' runs end at different steps {last_steps}")
        evaluated = [seed for seed, s in sorted(seeds.items()) if "eval/episodic_return" in s]
        if evaluated and len(evaluated) < len(seeds):  # a mean over some seeds would pass for the cell's
            print(f"plot.py: warning: {env_id} {algo}: only seeds {evaluated} have an evaluation; no eval return")
        evals = [s["eval/episodic_return"][1].mean() for s in seeds.values()] if len(evaluated) == len(seeds) else []
        periodic = [seed for seed, s in sorted(seeds.items()) if "eval/mean_return" in s]
        if periodic and len(periodic) < len(seeds):
            print(f"plot.py: warning: {env_id} {algo}: only seeds {periodic} have periodic evaluations; no max eval return")
        max_evals = [s["eval/mean_return"][1].max() for s in seeds.values()] if len(periodic) == len(seeds) else []
        sps = [np.median(s["charts/SPS"][1]) for s in seeds.values() if "charts/SPS" in s]
        rows.append({
            "algo": algo, "env_id": env_id,
            "total_timesteps": min(last_steps.values()),
            "seeds": " ".join(map(str, sorted(seeds))),
            "final_return_mean": round(float(np.mean(finals)), 1),
            "final_return_std": round(float(np.std(finals)), 1) if len(finals) > 1 else "",  # no spread from one seed
            "eval_return_mean": round(float(np.mean(evals)), 1) if evals else "",
            "max_eval_return_mean": round(float(np.mean(max_evals)), 1) if max_evals else "",
            "max_eval_return_std": round(float(np.std(max_evals)), 1) if len(max_evals) > 1 else "",
            "max_mean_eval_return": round(float(eval_band(seeds)[1].max()), 1) if max_evals else "",
            "sps_median": round(float(np.median(sps))) if sps else "",
            "commit": " ".join(sorted(commits[(env_id, algo)])), "hardware": " + ".join(sorted(hardware[(env_id, algo)])),
        })

    with open(os.path.join(args.out, "summary.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, SUMMARY_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write("| algo | env | steps | seeds | last-100 return, mean +- std (ddof 0) over seeds | final eval return "
                "| max periodic eval return, mean +- std | max of the mean periodic eval curve | median SPS |\n"
                "|-|-|-|-|-|-|-|-|-|\n")
        for r in rows:
            spread = f"+- {r['final_return_std']}" if r["final_return_std"] != "" else "(1 seed)"
            max_eval = r["max_eval_return_mean"]
            if max_eval != "" and r["max_eval_return_std"] != "":
                max_eval = f"{max_eval} +- {r['max_eval_return_std']}"
            f.write(f"| {r['algo']} | {r['env_id']} | {r['total_timesteps']} | {r['seeds']} | "
                    f"{r['final_return_mean']} {spread} | {r['eval_return_mean']} | {max_eval} | {r['max_mean_eval_return']} | "
                    f"{r['sps_median']} |\n")
        if args.command:
            f.write(f"\nRuns made with: `{args.command}`\n")

    colors = colors_for({algo for _, algo in groups})
    for env_id in sorted({env for env, _ in groups}):
        fig = plot_env({algo: seeds for (env, algo), seeds in groups.items() if env == env_id}, env_id, colors,
                       args.versions, args.eval_curves)
        fig.savefig(os.path.join(args.out, f"{env_id}.png"), dpi=100)
        plt.close(fig)
    print(open(os.path.join(args.out, "summary.md")).read())


if __name__ == "__main__":
    main()

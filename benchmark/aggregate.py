"""One figure over all environments: interquartile mean (IQM) and mean of normalized scores per algorithm, with
stratified bootstrap confidence intervals (Agarwal et al. 2021, "Deep Reinforcement Learning at the Edge of the
Statistical Precipice", with their `rliable` package).

    python benchmark/aggregate.py benchmark/results/grid --out benchmark/results/grid/aggregate.png

Reads the per-seed CSV files that plot.py writes (`{env_id}__{algo}.csv`: seed,global_step,episodic_return) and
1. scores each run by the mean of its last 100 training episodes (CleanRL's metric, summary.csv's per-run value);
2. normalizes a score per environment as (score - random) / (reference - random): reference = the SB3 zoo's TD3
   (below), random = the mean return of a uniformly random policy over 10 episodes, simulated here at run time
   (or given with --random ENV=VALUE); an environment without a reference is left out with a warning;
3. per algorithm, takes the seeds present in every environment (the stratified bootstrap resamples runs within each
   environment, so it needs as many runs of an algorithm in each), and computes the IQM (the mean of the middle
   50% of the environments x seeds scores) and the mean, each with a 95% percentile CI from rliable's stratified
   bootstrap (runs resampled within each environment, --reps times, from a fixed --seed);
4. writes the figure (--out) and the numbers (--out-csv: algo,seeds,iqm,iqm_low,iqm_high,mean,mean_low,mean_high).
"""

import argparse
import csv
import glob
import os
import sys
import warnings
from collections import defaultdict

import gymnasium as gym
import numpy as np
from rliable import library as rly
from rliable import metrics

from plot import colors_for, drawing_order, plt

# The SB3 zoo's TD3, final deterministic evaluation (mean_reward) on the -v3 environments, from
# rl-baselines3-zoo's benchmark.md; the -v4 versions differ from -v3 only in their MuJoCo bindings
REFERENCE = {"HalfCheetah-v4": 9655.7, "Hopper-v4": 3606.4, "Walker2d-v4": 4717.8, "Ant-v4": 5813.3}
CSV_COLUMNS = ["algo", "seeds", "iqm", "iqm_low", "iqm_high", "mean", "mean_low", "mean_high"]


def env_values(pairs, option):
    """{ENV: VALUE} from `ENV=VALUE` strings; a malformed one ends the program with a message."""
    values = {}
    for pair in pairs:
        env_id, _, value = pair.partition("=")
        try:
            values[env_id] = float(value)
        except ValueError:
            sys.exit(f"aggregate.py: error: {option} {pair!r}: expected ENV=NUMBER")
    return values


def load_scores(folder):
    """(env_id, algo) -> seed -> the mean return of the seed's last 100 training episodes, from plot.py's CSVs
    (their rows are in step order per seed)."""
    returns = defaultdict(lambda: defaultdict(list))
    for path in sorted(glob.glob(os.path.join(folder, "*__*.csv"))):
        env_id, algo = os.path.basename(path)[: -len(".csv")].split("__", 1)
        for row in csv.DictReader(open(path)):
            returns[(env_id, algo)][int(row["seed"])].append(float(row["episodic_return"]))
    return {key: {seed: float(np.mean(r[-100:])) for seed, r in seeds.items()} for key, seeds in returns.items()}


def random_return(env_id, episodes=10, seed=0):
    """The mean return of uniformly random actions over `episodes` episodes, the environment and the action space
    seeded."""
    with warnings.catch_warnings():  # the grid's -v4 versions are deliberate: no advice to upgrade
        warnings.filterwarnings("ignore", message=".*is out of date", category=DeprecationWarning)
        env = gym.make(env_id)
    env.action_space.seed(seed)
    totals = []
    for episode in range(episodes):
        env.reset(seed=seed + episode)
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total, done = total + float(reward), terminated or truncated
        totals.append(total)
    env.close()
    return float(np.mean(totals))


def score_matrices(scores, envs):
    """algo -> (the seeds present in every environment, a seeds x envs matrix of their scores); an algorithm missing
    an environment is left out, and the seeds that are not in every environment too, each with a warning."""
    matrices = {}
    for algo in sorted({algo for _, algo in scores}):
        missing = [env for env in envs if (env, algo) not in scores]
        if missing:
            print(f"aggregate.py: warning: {algo} left out: no runs on {' '.join(missing)}")
            continue
        seeds = sorted(set.intersection(*(set(scores[(env, algo)]) for env in envs)))
        left_out = {env: sorted(set(scores[(env, algo)]) - set(seeds)) for env in envs}
        if any(left_out.values()):
            print(f"aggregate.py: warning: {algo}: left out the seeds not run on every environment: "
                  + ", ".join(f"{env} {' '.join(map(str, s))}" for env, s in left_out.items() if s))
        if not seeds:
            print(f"aggregate.py: warning: {algo} left out: no seed was run on every environment")
            continue
        matrices[algo] = seeds, np.array([[scores[(env, algo)][seed] for env in envs] for seed in seeds])
    return matrices


def iqm_and_mean(matrix):
    return np.array([metrics.aggregate_iqm(matrix), metrics.aggregate_mean(matrix)])


def plot_intervals(points, intervals, n_seeds, caption):
    """Per algorithm (the first on top), the IQM and the mean (black ticks) with their intervals (bars)."""
    algos, colors = list(points), colors_for(points)
    fig, axes = plt.subplots(1, 2, figsize=(11, 1.7 + 0.4 * len(algos)), sharey=True)
    for col, (ax, name) in enumerate(zip(axes, ["IQM", "mean"])):
        for row, algo in enumerate(algos):
            low, high = intervals[algo][:, col]
            ax.barh(row, high - low, left=low, height=0.6, color=colors[algo], alpha=0.75)
            ax.plot([points[algo][col]] * 2, [row - 0.35, row + 0.35], color="black", linewidth=1.5)
        ax.axvline(0.0, color="gray", linewidth=0.8, linestyle=":")
        ax.axvline(1.0, color="gray", linewidth=0.8, linestyle="--")
        ax.set(title=f"{name} of normalized scores", xlabel="normalized score: 0 = random policy, 1 = SB3 zoo TD3")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(algos)), [f"{a} ({n_seeds[a]} seed{'s' * (n_seeds[a] > 1)})" for a in algos])
    axes[0].invert_yaxis()
    fig.tight_layout(rect=(0, 0.3 / fig.get_figheight(), 1, 1))
    fig.text(0.01, 0.08 / fig.get_figheight(), caption, fontsize=8)
    return fig


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="a folder of plot.py's {env_id}__{algo}.csv files")
    parser.add_argument("--out", default=None, help="the figure (default: FOLDER/aggregate.png)")
    parser.add_argument("--out-csv", default=None, help="the numbers (default: aggregate.csv next to the figure)")
    parser.add_argument("--reference", action="append", default=[], metavar="ENV=VALUE",
                        help="the score that normalizes to 1 on ENV, instead of the SB3 zoo's TD3 (repeatable)")
    parser.add_argument("--random", action="append", default=[], metavar="ENV=VALUE",
                        help="the score that normalizes to 0 on ENV, instead of simulating a random policy")
    parser.add_argument("--reps", type=int, default=50000, help="bootstrap resamples (rliable's default)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the bootstrap and the random policy's episodes")
    args = parser.parse_args(argv)
    out = args.out or os.path.join(args.folder, "aggregate.png")
    out_csv = args.out_csv or os.path.join(os.path.dirname(out), "aggregate.csv")

    reference = {**REFERENCE, **env_values(args.reference, "--reference")}
    random = env_values(args.random, "--random")
    scores = load_scores(args.folder)
    if not scores:
        sys.exit(f"aggregate.py: error: no {{env_id}}__{{algo}}.csv file in {args.folder}")
    envs = []
    for env in sorted({env for env, _ in scores}):
        if env not in reference:
            print(f"aggregate.py: warning: {env} left out: no reference score (give one with --reference {env}=...)")
            continue
        source = "given"
        if env not in random:
            random[env], source = random_return(env, seed=args.seed), "10 episodes of random actions"
        envs.append(env)
        print(f"{env}: random {random[env]:.1f} ({source}), reference {reference[env]}")
    if not envs:
        sys.exit("aggregate.py: error: no environment with a reference score")
    normalized = {key: {seed: (s - random[key[0]]) / (reference[key[0]] - random[key[0]]) for seed, s in run.items()}
                  for key, run in scores.items() if key[0] in envs}
    matrices = score_matrices(normalized, envs)
    if not matrices:
        sys.exit("aggregate.py: error: no algorithm has a seed run on every environment")

    rows, points, intervals = [], {}, {}
    for algo in drawing_order(matrices):
        seeds, matrix = matrices[algo]
        print(f"{algo}: seeds {' '.join(map(str, seeds))} on {' '.join(envs)}")
        # rliable's stratified bootstrap draws from NumPy's global generator (its random_state argument does not
        # reach those draws); seeding it per algorithm keeps each algorithm's interval the same whatever others run
        np.random.seed(args.seed)
        point, interval = rly.get_interval_estimates({algo: matrix}, iqm_and_mean, reps=args.reps)
        points[algo], intervals[algo] = point[algo], interval[algo]
        (iqm, mean), (low, high) = point[algo].round(4).tolist(), interval[algo].round(4).tolist()
        rows.append({"algo": algo, "seeds": " ".join(map(str, seeds)), "iqm": iqm, "iqm_low": low[0],
                     "iqm_high": high[0], "mean": mean, "mean_low": low[1], "mean_high": high[1]})

    with open(out_csv, "w", newline="") as f:
        writer = csv.DictWriter(f, CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    for row in rows:
        print(f"{row['algo']}: IQM {row['iqm']} [{row['iqm_low']}, {row['iqm_high']}], "
              f"mean {row['mean']} [{row['mean_low']}, {row['mean_high']}]")

    counts = sorted({len(seeds) for seeds, _ in matrices.values()})
    caption = (f"score: mean of a run's last 100 training episodes, normalized per environment; over {len(envs)} "
               f"environments x {counts[0]}{'-' + str(counts[-1]) if len(counts) > 1 else ''} seeds; 95% stratified "
               f"bootstrap CIs ({args.reps} resamples), Agarwal et al. 2021")
    fig = plot_intervals(points, intervals, {algo: len(matrices[algo][0]) for algo in points}, caption)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    print(f"wrote {out} and {out_csv}")


if __name__ == "__main__":
    main()

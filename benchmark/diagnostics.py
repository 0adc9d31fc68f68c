"""Diagnostics figures of the documentation: per algorithm, the signals that tell a healthy run from a failing one.

    python benchmark/diagnostics.py --out docs/img                       # from benchmark/results/grid/events/
    python benchmark/diagnostics.py runs --env-id Hopper-v4 --algos ppo  # your own runs

Reads the run folders `{env_id}__{algo}__{seed}__{time}` below the given folders (default: the grid's stored event
files) with TensorBoard's event reader and writes `{out}/{algo}_diagnostics.png` for each algorithm that has runs on
--env-id: one panel per signal, the mean over seeds as a line and the range over seeds as a light band, each seed's
series first averaged in 100 bins of environment steps. Runs written by older versions of the scripts log some
quantities under other tags (SAC's temperature under `charts/alpha`, DDPG's critic loss only as `losses/qf_loss`):
each panel names the tags it reads in order of preference and takes the first that a run has.
"""

import argparse
import glob
import os
import sys
import warnings
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

RETURN = ("episodic return (training)", [("", ["charts/episodic_return"])], "linear")
KL_ESTIMATES = [("k3 approx_kl", ["losses/approx_kl"]), ("k1 old_approx_kl", ["losses/old_approx_kl"])]
# the value of a state in a steady gait: the training episodes' mean reward per step r / (1 - gamma), a yardstick for
# the critics' Q values (an overestimating critic climbs above it; SAC's soft Q also holds the entropy bonus)
REWARD_PER_STEP = "reward per step / (1 - gamma)"  # derived from charts/episodic_return and _length
REFERENCE_Q = ("r/(1-gamma), training episodes", [REWARD_PER_STEP])
ONPOLICY_VALUE = [("explained variance", [("", ["losses/explained_variance"])], "linear"),
                  ("value loss (normalized returns)", [("", ["losses/value_loss"])], "log")]
# per algorithm: panels of (title, [(label, [tag, fallback tags...]), ...], y scale)
PANELS = {
    "vpg": [RETURN,
            ("policy entropy (nats)", [("", ["losses/entropy"])], "linear"),
            ("KL of the update", KL_ESTIMATES, "log"),
            *ONPOLICY_VALUE,
            ("policy learning rate", [("", ["charts/learning_rate"])], "linear")],
    "trpo": [RETURN,
             ("KL after the step (delta = 0.01)", [("", ["losses/kl"])], "linear"),
             ("line search: backtracks", [("", ["charts/backtracks"])], "linear"),
             ("step size alpha^j sqrt(2 delta / x'Hx)", [("", ["charts/step_size"])], "linear"),
             ("policy entropy (nats)", [("", ["losses/entropy"])], "linear"),
             ONPOLICY_VALUE[0]],
    "ppo": [RETURN,
            ("approximate KL per update", KL_ESTIMATES, "log"),
            ("clip fraction", [("", ["losses/clipfrac"])], "linear"),
            ("policy entropy (nats)", [("", ["losses/entropy"])], "linear"),
            *ONPOLICY_VALUE],
    "ppo_penalty": [RETURN,
                    ("mean KL of the iteration (target 0.01)", [("", ["losses/kl"])], "log"),
                    ("penalty weight beta", [("", ["charts/beta"])], "log"),
                    ("policy entropy (nats)", [("", ["losses/entropy"])], "linear"),
                    *ONPOLICY_VALUE],
    "ddpg": [RETURN,
             ("Q(s, a) on replayed batches", [("Q", ["losses/qf1_values"]), REFERENCE_Q], "linear"),
             ("critic loss (mean squared Bellman error)", [("", ["losses/qf1_loss", "losses/qf_loss"])], "log"),
             ("actor loss -Q(s, mu(s))", [("", ["losses/actor_loss"])], "linear")],
    "td3": [RETURN,
            ("Q(s, a) on replayed batches", [("Q1", ["losses/qf1_values"]), ("Q2", ["losses/qf2_values"]), REFERENCE_Q],
             "linear"),
            ("critic losses", [("Q1", ["losses/qf1_loss"]), ("Q2", ["losses/qf2_loss"])], "log"),
            ("actor loss -Q1(s, mu(s))", [("", ["losses/actor_loss"])], "linear")],
    "sac": [RETURN,
            ("temperature alpha", [("", ["losses/alpha", "charts/alpha"])], "log"),
            ("policy entropy (one-sample estimate)", [("", ["charts/entropy"])], "linear"),
            ("temperature loss", [("", ["losses/alpha_loss"])], "linear"),
            ("Q(s, a) on replayed batches", [("Q1", ["losses/qf1_values"]), ("Q2", ["losses/qf2_values"]), REFERENCE_Q],
             "linear"),
            ("critic losses", [("Q1", ["losses/qf1_loss"]), ("Q2", ["losses/qf2_loss"])], "log")],
}
COLORS = plt.get_cmap("tab10").colors
BINS = 100


def load(folders, env_id, algos):
    """algo -> seed -> {tag: (steps, values)} for the runs of `env_id`"""
    runs = defaultdict(dict)
    for folder in folders:
        for run_dir in sorted(glob.glob(os.path.join(folder, f"{env_id}__*__*__*"))):
            _, algo, seed, _ = os.path.basename(run_dir).split("__")
            if algo not in algos:
                continue
            acc = EventAccumulator(run_dir, size_guidance={"scalars": 0})
            acc.Reload()
            series = {}
            for tag in acc.Tags()["scalars"]:
                events = acc.Scalars(tag)
                steps, values = np.array([e.step for e in events]), np.array([e.value for e in events])
                order = np.argsort(steps, kind="stable")
                series[tag] = steps[order], values[order]
            runs[algo][int(seed)] = series
    return runs


def binned(steps, values, edges):
    """The mean of a seed's values in each bin of steps (nan where a bin holds none)."""
    idx = np.digitize(steps, edges[1:-1])
    sums, counts = np.bincount(idx, values, len(edges) - 1), np.bincount(idx, minlength=len(edges) - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts


def first_tag(series, tags):
    return next((tag for tag in tags if tag in series), None)


def add_reward_per_step(series, gamma):
    """The derived series REWARD_PER_STEP: each training episode's return / length / (1 - gamma), at its step."""
    steps, returns = series["charts/episodic_return"]
    _, lengths = series["charts/episodic_length"]
    series[REWARD_PER_STEP] = steps, returns / np.maximum(lengths, 1) / (1 - gamma)


def draw(algo, seeds, env_id, out, gamma):
    for series in seeds.values():
        add_reward_per_step(series, gamma)
    panels = [p for p in PANELS[algo] if any(first_tag(s, tags) for _, group, _ in [p] for _, tags in group
                                               for s in seeds.values())]
    cols = 3 if len(panels) > 4 else 2
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.7 * rows), squeeze=False)
    last = max(int(s["charts/episodic_return"][0][-1]) for s in seeds.values())
    edges = np.linspace(0, last, BINS + 1)
    centers = (edges[:-1] + edges[1:]) / 2
    read = set()
    for ax, (title, group, scale) in zip(axes.flat, panels):
        for i, (label, tags) in enumerate(group):
            curves = []
            for series in seeds.values():
                tag = first_tag(series, tags)
                if tag is not None:
                    read.add(tag)
                    curves.append(binned(*series[tag], edges))
            if not curves:
                continue
            curves = np.array(curves)
            with warnings.catch_warnings():  # a bin where no seed logged: nan, not a warning
                warnings.simplefilter("ignore", RuntimeWarning)
                mean, low, high = np.nanmean(curves, 0), np.nanmin(curves, 0), np.nanmax(curves, 0)
            color, style = ("0.3", "--") if tags == [REWARD_PER_STEP] else (COLORS[i], "-")
            ax.plot(centers, mean, color=color, ls=style, lw=1.2, label=label or None)
            ax.fill_between(centers, low, high, color=color, alpha=0.15, lw=0)
        if scale == "log":
            ax.set_yscale("log")
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.xaxis.get_offset_text().set_fontsize(7)
        ax.grid(alpha=0.3)
        if any(label for label, _ in group):
            ax.legend(fontsize=7, frameon=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("environment steps", fontsize=8)
    fig.suptitle(f"{algo}.py on {env_id}: mean over {len(seeds)} seeds, band = range over seeds", fontsize=10)
    fig.tight_layout()
    path = os.path.join(out, f"{algo}_diagnostics.png")
    fig.savefig(path, dpi=72)
    plt.close(fig)
    print(f"diagnostics.py: wrote {path} ({len(seeds)} seeds; tags: {', '.join(sorted(read - {REWARD_PER_STEP}))})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("runs", nargs="*", default=[os.path.join(root, "benchmark/results/grid/events")],
                        help="folders holding run folders (default: the grid's stored event files)")
    parser.add_argument("--env-id", default="HalfCheetah-v4")
    parser.add_argument("--algos", nargs="+", default=list(PANELS), choices=list(PANELS))
    parser.add_argument("--out", default=os.path.join(root, "docs/img"))
    parser.add_argument("--gamma", type=float, default=0.99, help="the runs' discount, for the r/(1-gamma) yardstick")
    args = parser.parse_args()
    runs = load(args.runs, args.env_id, set(args.algos))
    missing = [algo for algo in args.algos if algo not in runs]
    if len(missing) == len(args.algos):
        sys.exit(f"diagnostics.py: error: no run of {args.env_id} for {', '.join(args.algos)} in "
                 f"{', '.join(args.runs)}")
    os.makedirs(args.out, exist_ok=True)
    for algo in args.algos:
        if algo in runs:
            draw(algo, runs[algo], args.env_id, args.out, args.gamma)
        else:
            print(f"diagnostics.py: no run of {algo} on {args.env_id}: no figure")


if __name__ == "__main__":
    main()

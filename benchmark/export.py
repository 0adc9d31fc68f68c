"""Turn TensorBoard runs into compact per-seed learning curves and a summary table.

    python benchmark/export.py benchmark/runs --out benchmark/results

For each (algorithm, environment): `{out}/{env_id}__{algo}.csv` with the columns
seed,global_step,episodic_return (every finished training episode), and one row per pair in
`{out}/summary.md`: CleanRL's metric (mean of the last 100 training episodes per run, then mean +- std
over seeds), the deterministic evaluation return and the median SPS. Runs are grouped by the env_id
and exp_name recorded in their folder name `{env_id}__{exp_name}__{seed}__{time}`.
"""

import argparse
import csv
import glob
import os
from collections import defaultdict

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def load_run(run_dir):
    acc = EventAccumulator(run_dir, size_guidance={"scalars": 0})
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    series = {tag: ([e.step for e in acc.Scalars(tag)], [e.value for e in acc.Scalars(tag)]) for tag in tags}
    return series


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", help="folder holding the run folders")
    parser.add_argument("--out", default="benchmark/results")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    groups = defaultdict(dict)  # (env_id, algo) -> seed -> series
    for run_dir in sorted(glob.glob(os.path.join(args.runs, "*__*__*__*"))):
        env_id, algo, seed, _ = os.path.basename(run_dir).split("__")
        groups[(env_id, algo)][int(seed)] = load_run(run_dir)

    rows = []
    for (env_id, algo), seeds in sorted(groups.items()):
        with open(os.path.join(args.out, f"{env_id}__{algo}.csv"), "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["seed", "global_step", "episodic_return"])
            for seed, series in sorted(seeds.items()):
                for step, value in zip(*series["charts/episodic_return"]):
                    writer.writerow([seed, step, f"{value:.2f}"])
        finals = [np.mean(s["charts/episodic_return"][1][-100:]) for s in seeds.values()]
        evals = [np.mean(s["eval/episodic_return"][1]) for s in seeds.values() if "eval/episodic_return" in s]
        sps = [np.median(s["charts/SPS"][1]) for s in seeds.values()]
        last_step = max(s["charts/episodic_return"][0][-1] for s in seeds.values())
        rows.append((algo, env_id, last_step, sorted(seeds), np.mean(finals), np.std(finals), finals,
                     np.mean(evals) if evals else float("nan"), np.median(sps)))

    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write("| algo | env | steps | seeds | last-100 return (mean +- std over seeds) | per seed | eval return | median SPS |\n")
        f.write("|-|-|-|-|-|-|-|-|\n")
        for algo, env_id, steps, seeds, mean, std, finals, ev, sps in rows:
            per_seed = ", ".join(f"{x:.0f}" for x in finals)
            f.write(f"| {algo} | {env_id} | {steps} | {seeds} | {mean:.1f} +- {std:.1f} | {per_seed} | {ev:.1f} | {sps:.0f} |\n")
    print(open(os.path.join(args.out, "summary.md")).read())


if __name__ == "__main__":
    main()

"""LEAD's probe penalty across data regimes: mean weighted tau on the zoo with 20, 50 and 100 images per class.

The in-sample probe (LEAD's default, as in the paper) can interpolate when there are fewer images than
feature dimensions; the penalty ``reg`` is what keeps its outputs informative. This script shows how each
``reg`` ranks the zoo's 13 models when every task is cut to the first ``n`` train images per class, with
LogME on the same images as a reference.

    python -m benchmarks.lead_low_data [--per-class 20,50,100] [--regs 1,3,10,30]
"""

from __future__ import annotations

import argparse

import numpy as np

from lead_hf.evaluation import weighted_tau
from lead_hf.scoring.lead import lead_score
from lead_hf.scoring.logme import logme_score
from lead_hf.zoo import list_zoo_tasks, load_zoo_task


def first_per_class(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Indices of the first ``per_class`` rows of every class (the zoo's rows are already shuffled)."""
    return np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in np.unique(labels)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo-dir", default=None)
    parser.add_argument("--per-class", default="20,50,100", help="comma-separated images per class")
    parser.add_argument("--regs", default="1,3,10,30", help="comma-separated LEAD probe penalties")
    args = parser.parse_args()
    per_class = [int(v) for v in args.per_class.split(",")]
    regs = [float(v) for v in args.regs.split(",")]
    tasks = [load_zoo_task(name, args.zoo_dir) for name in list_zoo_tasks(args.zoo_dir)]

    columns = [f"reg={r:g}" for r in regs] + ["LogME"]
    print("| images per class | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for n in per_class:
        taus = {c: [] for c in columns}
        for task in tasks:
            rows = first_per_class(task.labels, n)
            y = task.labels[rows]
            truth = [task.accuracy[m] for m in task.models]
            for reg, column in zip(regs, columns[:-1], strict=True):
                taus[column].append(weighted_tau([lead_score(task.features[m][rows], y, reg=reg) for m in task.models], truth))
            taus["LogME"].append(weighted_tau([logme_score(task.features[m][rows], y) for m in task.models], truth))
        cells = [f"{np.mean(v):+.3f} ({', '.join(f'{t:+.2f}' for t in v)})" for v in taus.values()]
        print(f"| {n} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()

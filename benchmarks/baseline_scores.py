"""Sanity check and timings of the baseline scores (not LEAD) on the zoo, plus LogME at scale.

Prints, per zoo task, the weighted Kendall tau of every baseline against the fine-tuned accuracies
and the seconds each score took over the task's 13 models; then times LogME on a synthetic
50,000 x 2,048 float32 problem with 100 classes. Timings on a shared machine are noisy.

    python -m benchmarks.baseline_scores [--tasks cifar10 ...] [--scorers logme gbc ...] [--skip-large]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.stats import weightedtau

from lead_hf.scoring import get_scorer
from lead_hf.zoo import list_zoo_tasks, load_zoo_task

BASELINES = ("logme", "leep", "nce", "nleep", "hscore", "shrinkage_hscore", "transrate", "gbc", "sfda", "linear_probe")


def zoo_table(tasks: list[str], scorers: list[str]) -> None:
    """One line per (task, score) as it is computed, then the mean tau of every score."""
    taus: dict[str, list[float]] = {name: [] for name in scorers}
    for task in tasks:
        data = load_zoo_task(task)
        truth = [data.accuracy[m] for m in data.models]
        for name in scorers:
            fn = get_scorer(name)
            start, cpu = time.perf_counter(), time.process_time()
            scores = [fn(data.features[m], data.labels, source_logits=data.logits[m]) for m in data.models]
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            taus[name].append(weightedtau(scores, truth)[0])
            print(
                f"{task:14s} {name:18s} tau {taus[name][-1]:+.3f}  {wall:7.2f} s wall {cpu:7.2f} s CPU "
                f"for {len(scores)} models",
                flush=True,
            )
    print("mean weighted tau over " + ", ".join(tasks))
    for name in scorers:
        print(f"  {name:18s} {np.mean(taus[name]):+.3f}")


def logme_large(n: int = 50_000, d: int = 2_048, k: int = 100) -> None:
    rng = np.random.default_rng(0)
    labels = np.arange(n) % k
    x = rng.standard_normal((n, d), dtype=np.float32)
    x += rng.standard_normal((k, d), dtype=np.float32)[labels]
    start, cpu = time.perf_counter(), time.process_time()
    value = get_scorer("logme")(x, labels)
    print(
        f"logme on {n} x {d} float32, K={k}: {value:.4f} in {time.perf_counter() - start:.1f} s wall, "
        f"{time.process_time() - cpu:.1f} s CPU"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="*", default=None)
    parser.add_argument("--scorers", nargs="*", default=list(BASELINES))
    parser.add_argument("--skip-large", action="store_true", help="skip the 50,000 x 2,048 LogME timing")
    args = parser.parse_args()
    zoo_table(args.tasks or list_zoo_tasks(), args.scorers)
    if not args.skip_large:
        logme_large()


if __name__ == "__main__":
    main()

"""Rank the zoo's five real pre-trained MobileNets end to end, from the task images, and judge the ranking.

For every public zoo task, ``lead_hf.rank_models`` loads ``zoo/data/<task>`` (train split), extracts
features and source logits of the five transformers checkpoints in ``zoo/hf/`` and runs every scorer;
the scores are compared with the fine-tuned accuracies of ``ground_truth.json`` restricted to those five
models (weighted Kendall tau). As a cross-check, the same scorers run on the zoo's own saved features of
the same five models (extracted by the zoo's build with torch resizing instead of the HF image processor),
cut to the same number of images per class (the first ones of each class).

    python -m benchmarks.zoo_hf_end_to_end [--tasks cifar10,mnist] [--max-samples-per-class 20]
        [--scorers lead,logme] [--cache-dir DIR] [--zoo-dir DIR] [--no-saved-check]

Timings depend on the machine's load (the extraction cache makes reruns fast; ``--cache-dir`` to a fresh
folder measures extraction again).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import numpy as np

from lead_hf.cli import parse_names
from lead_hf.evaluation import weighted_tau
from lead_hf.rank import compute_scores, rank_models
from lead_hf.scoring import available_scorers
from lead_hf.zoo import default_zoo_dir, first_per_class, list_zoo_tasks, load_ground_truth, load_zoo_task


def _tau(scores: dict[str, float], truth: dict[str, float]) -> float:
    models = [m for m in truth if math.isfinite(scores.get(m, math.nan))]
    return weighted_tau([scores[m] for m in models], [truth[m] for m in models]) if len(models) >= 2 else math.nan


def _first_per_class(labels: np.ndarray, per_class: int | None) -> np.ndarray:
    """Row indices of the first ``per_class`` rows of every class (all rows when ``None``)."""
    return np.arange(labels.size) if per_class is None else np.sort(first_per_class(labels, per_class))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--zoo-dir", type=Path, default=None)
    parser.add_argument("--tasks", type=parse_names, default=None)
    parser.add_argument("--scorers", type=parse_names, default=tuple(available_scorers()))
    parser.add_argument("--max-samples-per-class", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--no-saved-check", action="store_true", help="skip scoring the zoo's saved features")
    args = parser.parse_args()

    zoo = args.zoo_dir or default_zoo_dir()
    if zoo is None:
        raise SystemExit("No zoo found: pass --zoo-dir or set LEAD_HF_ZOO_DIR.")
    model_dirs = sorted(p for p in (zoo / "hf").iterdir() if (p / "config.json").is_file())
    names = [p.name for p in model_dirs]
    truth_all = load_ground_truth(zoo)
    tasks = args.tasks or [t for t in list_zoo_tasks(zoo) if (zoo / "data" / t / "train").is_dir()]
    print(f"{len(model_dirs)} models: {', '.join(names)}")
    print(f"scorers: {', '.join(args.scorers)}; samples per class: {args.max_samples_per_class or 'all'}\n")

    taus: dict[str, dict[str, tuple[float, float]]] = {}
    for task in tasks:
        truth = {m: truth_all[task][m] for m in names}
        start = time.perf_counter()
        ranking = rank_models(
            model_dirs, zoo / "data" / task, scorers=args.scorers, split="train",
            max_samples_per_class=args.max_samples_per_class, batch_size=args.batch_size, cache_dir=args.cache_dir,
            ground_truth=truth,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        print(f"## {task} ({seconds:.0f} s; extraction {sum(r['extract_seconds'] for r in ranking.rows):.0f} s)\n")
        print(ranking.to_markdown(), "\n")
        if ranking.failed:
            print(f"failures: {ranking.failed}\n")
        saved = None if args.no_saved_check else load_zoo_task(task, zoo)
        rows = None if saved is None else _first_per_class(saved.labels, args.max_samples_per_class)
        taus[task] = {}
        for scorer in args.scorers:
            e2e = {Path(m).name: s for m, s in ranking.scores(scorer).items()}
            from_saved = {} if saved is None else {
                m: compute_scores(saved.features[m][rows], saved.labels[rows], source_logits=saved.logits[m][rows],
                                  scorers=(scorer,))[0][scorer]
                for m in names
            }  # fmt: skip
            taus[task][scorer] = (_tau(e2e, truth), _tau(from_saved, truth))

    print("## Weighted tau against the fine-tuned accuracy of the 5 models (end to end / zoo saved features)\n")
    print("| scorer | " + " | ".join(tasks) + " | mean |")
    print("|---|" + "---|" * (len(tasks) + 1))
    for scorer in args.scorers:
        cells = [taus[t][scorer] for t in tasks]
        means = [statistics.fmean(c[i] for c in cells) for i in (0, 1)]
        print(f"| {scorer} | " + " | ".join(f"{a:+.3f} / {b:+.3f}" for a, b in [*cells, means]) + " |")


if __name__ == "__main__":
    main()

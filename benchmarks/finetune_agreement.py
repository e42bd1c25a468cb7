"""Does lead-hf's fine-tuning recipe reproduce the zoo's measured ground truth? Rank agreement per task and budget.

For every public zoo task (``zoo/data/<task>``: train and test image folders) the five transformers MobileNets
of ``zoo/hf`` are fine-tuned with :func:`lead_hf.finetune` (the default recipe: every layer, a new head, learning
rate chosen on a validation part of the training images) at each budget of training images per class, and
tested on a class-balanced subsample of the task's test split. Their accuracies are compared with the zoo's
measured fine-tuned accuracies (``zoo/ground_truth.json``, the full protocol) by Kendall's tau; the seconds per
model are printed. Results are cached (``--cache-dir``), so the script can be stopped and resumed.

    python -m benchmarks.finetune_agreement [--tasks cifar10,mnist] [--budgets 10,30] [--test-per-class 30]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from lead_hf.cli import parse_names
from lead_hf.evaluation import kendall_tau
from lead_hf.finetune import finetune
from lead_hf.zoo import default_zoo_dir, load_ground_truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=parse_names, default=("cifar10", "fashion_mnist", "mnist", "notmnist"))
    parser.add_argument("--budgets", type=parse_names, default=("10",), help="training images per class")
    parser.add_argument("--test-per-class", type=int, default=30, help="test images per class (default 30)")
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args()
    zoo = default_zoo_dir()
    if zoo is None:
        raise SystemExit("No zoo found (../shared/zoo).")
    models = sorted(p for p in (zoo / "hf").iterdir() if (p / "config.json").is_file())
    truth = load_ground_truth(zoo)
    print(f"{len(models)} models; test: {args.test_per_class} images per class of each task's test split\n")
    print("| task | train images / class | Kendall tau vs zoo | seconds / model | recipe accuracies (zoo's) |")
    print("|---|---|---|---|---|")
    for budget in map(int, args.budgets):
        for task in args.tasks:
            accuracies, seconds = {}, []
            for model in models:
                start = time.perf_counter()
                result = finetune(model, zoo / "data" / task, max_samples_per_class=budget,
                                  max_test_samples_per_class=args.test_per_class, cache_dir=args.cache_dir,
                                  progress=False)
                accuracies[model.name] = result.accuracy
                seconds.append(result.seconds if result.from_cache else time.perf_counter() - start)
            names = list(accuracies)
            tau = kendall_tau([accuracies[m] for m in names], [truth[task][m] for m in names])
            detail = ", ".join(f"{m.replace('mobilenet', 'mn')} {accuracies[m]:.2f} ({truth[task][m]:.2f})" for m in names)
            print(f"| {task} | {budget} | {tau:+.2f} | {statistics.mean(seconds):.0f} | {detail} |", flush=True)


if __name__ == "__main__":
    main()

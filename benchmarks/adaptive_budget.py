"""Adaptive image budgets (racing, successive halving) against the full budget: cost, top-1 and weighted tau.

Two measurements:

- on features (``--features``, default): the zoo's saved features of every pool (``zoo``, ``zoo2`` and both merged),
  LEAD on the first n images per class (the zoo's rows are shuffled, so this is a nested sample, as
  ``rank_models`` draws). Cost = images extracted (a model extends its features, so round r costs its new images)
  over the full budget's (every model on every image).
- end to end (``--end-to-end``): ``lead_hf.rank_models`` on ``zoo/data/<task>`` (train split) with every model of
  ``zoo/hf`` and ``zoo2/hf``, fresh caches, the full budget then each schedule; cost = wall seconds of a schedule's
  run over the full run's (model loading, decoding, forward passes and scoring: what a user waits for).

    python -m benchmarks.adaptive_budget [--end-to-end] [--tasks cifar10,...] [--write]

``--write`` puts the tables in docs/BENCHMARKS.md (section ``adaptive_budget``; end to end: ``adaptive_budget_e2e``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._docs import replace_section
from lead_hf.budget import Budget, successive_halving
from lead_hf.cli import parse_names
from lead_hf.evaluation import weighted_tau
from lead_hf.scoring.intervals import ScoreSpread, prob_beats, score_with_spread
from lead_hf.zoo import (
    default_zoo_dir,
    first_per_class,
    list_zoo_tasks,
    load_ground_truth,
    load_zoo_task,
    merge_zoo_tasks,
)

DOC = Path(__file__).resolve().parents[1] / "docs" / "BENCHMARKS.md"
FULL = 100  # images per class of the full budget
# The named schedules first (budget="racing", budget="halving"), then two other halving schedules measured, and a
# reference that is not adaptive at all: a smaller fixed budget for every model.
LEVEL = 0.9  # racing's confidence level (rank_models' default)
SCHEDULES = {
    "racing": Budget.racing(FULL),
    "halving, eta 3": Budget.halving(FULL),
    "halving, eta 2, from 20": Budget.halving(FULL, eta=2, first_per_class=20),
    "two rounds, 25 then the best fifth": Budget((25, FULL), keep=0.2),
    "reference: every model on 25 per class only": Budget((25,)),
}


def _pools(tasks: list[str] | None):
    zoo2 = default_zoo_dir("zoo2")
    for task in tasks or list_zoo_tasks():
        first = load_zoo_task(task)
        yield "zoo", first
        if zoo2 is not None and task in list_zoo_tasks(zoo2):
            second = load_zoo_task(task, zoo2)
            yield "zoo2", second
            yield "zoo + zoo2", merge_zoo_tasks([first, second])


def _cost(results, budget: Budget, n_models: int) -> float:
    """Images extracted under the budget over the full budget's: round r adds its new images per survivor."""
    bounds = (0, *budget.per_class)
    extracted = sum(sum(r.round >= k for r in results) * (bounds[k + 1] - bounds[k]) for k in range(len(budget.per_class)))
    return extracted / (n_models * FULL)


def features_table(tasks: list[str] | None) -> list[str]:
    spreads: dict[tuple[str, str, int], ScoreSpread] = {}
    pools = list(_pools(tasks))

    def lead_at(task, model: str, per_class: int) -> ScoreSpread:
        key = (task.name, model, per_class)  # a model belongs to one pool, so (task, model) names its features
        if key not in spreads:
            rows = first_per_class(task.labels, per_class)
            spreads[key] = score_with_spread("lead", task.features[model][rows], task.labels[rows])[1]
        return spreads[key]

    def run(task, budget: Budget):
        current = []  # the images per class of the round being decided

        def score_round(names, per_class):
            current[:] = [per_class]
            return {m: lead_at(task, m, per_class).score for m in names}

        def within_noise(kept, other):
            return not prob_beats(lead_at(task, kept, current[0]), lead_at(task, other, current[0])) >= LEVEL

        return successive_halving(task.models, score_round, budget, within_noise=within_noise)

    lines = []
    for name, budget in SCHEDULES.items():
        rule = f"keep {budget.keep:.2f}" + (f" and every model within noise ({LEVEL:.0%})" if budget.keep_within_noise else "")
        lines += [f"### {name}: images per class {', '.join(map(str, budget.per_class))}, {rule}", "",
                  "| pool | task | models | cost (images) | top-1 full | top-1 budget | weighted tau full | weighted tau budget |",
                  "|---|---|---|---|---|---|---|---|"]
        summary = []
        for pool, task in pools:
            models = task.models
            full = {m: lead_at(task, m, FULL).score for m in models}
            results = run(task, budget)
            order = {r.model: len(results) - i for i, r in enumerate(results)}
            truth = [task.accuracy[m] for m in models]
            best = max(models, key=task.accuracy.get)
            row = (_cost(results, budget, len(models)), max(models, key=full.get) == best, results[0].model == best,
                   weighted_tau([full[m] for m in models], truth), weighted_tau([order[m] for m in models], truth))
            summary.append(row)
            lines.append(f"| {pool} | {task.name} | {len(models)} | {row[0]:.0%} | {'yes' if row[1] else 'no'} | "
                         f"{'yes' if row[2] else 'no'} | {row[3]:+.3f} | {row[4]:+.3f} |")
        cost, top_full, top_budget, tau_full, tau_budget = (np.mean([r[i] for r in summary]) for i in range(5))
        lines += ["", f"Mean: cost {cost:.0%} of the images, top-1 kept {top_budget:.0%} of pools (full budget "
                  f"{top_full:.0%}), weighted tau {tau_budget:+.3f} against {tau_full:+.3f} "
                  f"(difference {tau_budget - tau_full:+.3f}).", ""]
    return lines


def end_to_end_table(tasks: list[str] | None) -> list[str]:
    from lead_hf.rank import rank_models

    zoo, zoo2 = default_zoo_dir("zoo"), default_zoo_dir("zoo2")
    models = [p for root in (zoo, zoo2) if root is not None for p in sorted((root / "hf").iterdir())
              if (p / "config.json").is_file()]
    truth_by_task = load_ground_truth(zoo)
    if zoo2 is not None:
        for task, accs in load_ground_truth(zoo2).items():
            truth_by_task.setdefault(task, {}).update(accs)
    lines = [f"### End to end: {len(models)} models of zoo/hf and zoo2/hf, {FULL} images per class", "",
             "| task | schedule | seconds | cost (seconds) | top-1 | weighted tau |", "|---|---|---|---|---|---|"]
    summary: dict[str, list[tuple[float, bool, float]]] = {}
    for task in tasks or sorted(p.name for p in (zoo / "data").iterdir() if p.is_dir()):
        truth = truth_by_task[task]
        full_seconds = None
        for label, plan in (("full budget", None), *SCHEDULES.items()):
            with tempfile.TemporaryDirectory() as cache:  # fresh: every image really extracted
                start = time.perf_counter()
                single = plan is not None and len(plan.per_class) == 1  # the reference: one smaller fixed budget
                ranking = rank_models(models, zoo / "data" / task, scorers=("lead",),
                                      max_samples_per_class=plan.per_class[0] if single else FULL,
                                      budget=None if single else plan,
                                      confidence=LEVEL if plan and plan.keep_within_noise else None,
                                      cache_dir=cache, progress=False)
                seconds = time.perf_counter() - start
            full_seconds = full_seconds or seconds
            scored = {Path(m).name: s for m, s in ranking.ordering_scores().items()}
            named = [m for m in scored if m in truth]
            top1 = Path(ranking.best_model).name == max(named, key=truth.get)
            tau = weighted_tau([scored[m] for m in named], [truth[m] for m in named])
            summary.setdefault(label, []).append((seconds / full_seconds, top1, tau))
            lines.append(f"| {task} | {label} | {seconds:.0f} | {seconds / full_seconds:.0%} | "
                         f"{'yes' if top1 else 'no'} | {tau:+.3f} |")
            print(lines[-1], flush=True)
    lines += ["", "| schedule | mean cost (seconds) | top-1 | mean weighted tau |", "|---|---|---|---|"]
    for label, rows in summary.items():
        cost, top1, tau = (np.mean([r[i] for r in rows]) for i in range(3))
        lines.append(f"| {label} | {cost:.0%} | {top1:.0%} | {tau:+.3f} |")
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=parse_names, default=None)
    parser.add_argument("--end-to-end", action="store_true", help="rank the zoo's image folders with rank_models")
    parser.add_argument("--write", action="store_true", help="write the tables into docs/BENCHMARKS.md")
    args = parser.parse_args()
    tasks = list(args.tasks) if args.tasks else None
    if args.end_to_end:
        lines, section = end_to_end_table(tasks), "adaptive_budget_e2e"
    else:
        lines, section = features_table(tasks), "adaptive_budget"
    print("\n".join(lines))
    if args.write:
        replace_section(DOC, section, "\n".join(lines).rstrip())


if __name__ == "__main__":
    main()

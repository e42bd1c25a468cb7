"""Run every registered scorer over a zoo benchmark and judge it by the weighted Kendall tau.

For each task of the zoo (see :mod:`lead_hf.zoo`) and each scorer, every model is scored from its
saved features, source logits and labels; the scores are compared with the fine-tuned accuracies
(:func:`lead_hf.evaluation.evaluate_ranking`). Two trivial references are reported beside the
scorers: the backbone parameter count and, where the zoo's ``models.json`` has it, the source
model's own accuracy (``source_accuracy``). A scorer failing on a model is recorded (NaN + message)
and the run goes on.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from . import scoring
from ._logging import get_logger
from ._validation import check_count
from .errors import InvalidInputError
from .evaluation import RANKING_METRICS, evaluate_ranking
from .zoo import default_zoo_dir, list_zoo_tasks, load_model_metadata, load_zoo_task

__all__ = ["REFERENCES", "MethodResult", "ZooBenchmarkResult", "run_zoo_benchmark"]

logger = get_logger(__name__)

# reference name -> models.json key holding the per-model value (higher is assumed better)
REFERENCES: dict[str, str] = {"params": "params_backbone", "source_accuracy": "source_accuracy"}


@dataclass
class MethodResult:
    """One scorer (or reference) on one task."""

    scores: dict[str, float]  # model -> score, NaN when it failed or is unknown
    metrics: dict[str, float]  # evaluate_ranking keys, NaN when fewer than 2 models have a score
    seconds: float = 0.0  # wall time of scoring all models of the task
    errors: dict[str, str] = field(default_factory=dict)  # model -> error message


def _fmt(value: float, *, signed: bool = True) -> str:
    if not math.isfinite(value):
        return "n/a"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


@dataclass
class ZooBenchmarkResult:
    """Per-task results of every scorer and reference of one zoo benchmark run.

    Attributes:
        tasks (`list[str]`): the tasks, in run order.
        scorers (`list[str]`): the scorer names, in run order.
        references (`list[str]`): the trivial references (keys of :data:`REFERENCES`).
        results (`dict[str, dict[str, MethodResult]]`): method -> task -> result.
        zoo_dir (`str`): where the zoo was read from.
    """

    tasks: list[str]
    scorers: list[str]
    references: list[str]
    results: dict[str, dict[str, MethodResult]]
    zoo_dir: str

    def label(self, method: str) -> str:
        """How a method is named in tables (references are marked)."""
        return f"{method} (reference)" if method in self.references else method

    def mean(self, method: str, metric: str = "weighted_tau") -> float:
        """Mean of ``metric`` over tasks; NaN when any task lacks it (a failed task is not averaged away)."""
        values = [self.results[method][task].metrics[metric] for task in self.tasks]
        return float(sum(values) / len(values)) if values else math.nan

    def ranked_methods(self) -> list[str]:
        """Scorers and references sorted by mean weighted tau, best first (n/a last)."""
        def key(method: str) -> float:
            value = self.mean(method)
            return -value if math.isfinite(value) else math.inf

        return sorted([*self.scorers, *self.references], key=key)

    def seconds(self, method: str) -> float:
        """Total scoring wall time of ``method`` over all tasks."""
        return float(sum(self.results[method][task].seconds for task in self.tasks))

    def to_markdown(self) -> str:
        """Tables: weighted tau per task and mean, the other metrics' means, wall time, failures."""
        methods = self.ranked_methods()
        tau_rows = [
            [self.label(m), *(_fmt(self.results[m][t].metrics["weighted_tau"]) for t in self.tasks), _fmt(self.mean(m))]
            for m in methods
        ]
        others = [k for k in RANKING_METRICS if k != "weighted_tau"]
        other_rows = [[self.label(m), *(_fmt(self.mean(m, k), signed=k not in ("top1", "top3")) for k in others)] for m in methods]
        time_rows = [
            [m, *(f"{self.results[m][t].seconds:.2f}" for t in self.tasks), f"{self.seconds(m):.2f}"]
            for m in methods if m in self.scorers
        ]
        parts = [
            "### Weighted Kendall tau vs. fine-tuned accuracy (higher is better)",
            _table(["method", *self.tasks, "mean"], tau_rows),
            "### Other metrics (mean over tasks; top-k = share of tasks whose best model is in the predicted top k)",
            _table(["method", *others], other_rows),
            "### Scoring wall time (seconds, all models of a task)",
            _table(["scorer", *self.tasks, "total"], time_rows),
        ]
        failures = []
        for m in methods:
            for t in self.tasks:
                by_message: dict[str, list[str]] = {}
                for model, message in self.results[m][t].errors.items():
                    by_message.setdefault((message.splitlines() or [""])[0][:200], []).append(model)
                failures += [f"- `{m}` on `{t}`, {len(ms)} model(s) ({', '.join(ms)}): {msg}" for msg, ms in by_message.items()]
        if failures:
            parts += ["### Failures", "\n".join(failures)]
        return "\n\n".join(parts) + "\n"

    def merged(self, other: ZooBenchmarkResult) -> ZooBenchmarkResult:
        """A copy with the scorers of ``other`` added, or replacing the same-named ones (same tasks required).

        Used to re-run only the scorers that changed since a saved run (see :meth:`from_json`).
        """
        if other.tasks != self.tasks:
            raise InvalidInputError(f"Cannot merge results over tasks {other.tasks} into results over {self.tasks}.")
        results = {**self.results, **{m: other.results[m] for m in other.scorers}}
        scorers = list(dict.fromkeys([*self.scorers, *other.scorers]))
        return ZooBenchmarkResult(self.tasks, scorers, self.references, results, self.zoo_dir)

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> ZooBenchmarkResult:
        """Load a result saved by :meth:`to_json` (null read back as NaN)."""
        payload = json.loads(Path(path).read_text())

        def nan(values: dict[str, Any]) -> dict[str, float]:
            return {k: math.nan if v is None else float(v) for k, v in values.items()}

        results = {
            method: {t: MethodResult(nan(r["scores"]), nan(r["metrics"]), r["seconds"], r["errors"]) for t, r in per_task.items()}
            for method, per_task in payload["results"].items()
        }
        return cls(payload["tasks"], payload["scorers"], payload["references"], results, payload["zoo_dir"])

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """All per-task scores, metrics, times and errors as JSON (NaN written as null); also saved to ``path``."""

        def clean(obj: Any) -> Any:
            if isinstance(obj, float) and not math.isfinite(obj):
                return None
            if isinstance(obj, dict):
                return {k: clean(v) for k, v in obj.items()}
            return obj

        payload = {
            "zoo_dir": self.zoo_dir,
            "tasks": self.tasks,
            "scorers": self.scorers,
            "references": self.references,
            "mean_weighted_tau": {m: self.mean(m) for m in self.ranked_methods()},
            "results": {m: {t: asdict(r) for t, r in per_task.items()} for m, per_task in self.results.items()},
        }
        text = json.dumps(clean(payload), indent=1)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text


def _evaluate(scores: Mapping[str, float], truth: Mapping[str, float]) -> dict[str, float]:
    if sum(math.isfinite(v) for v in scores.values()) < 2:  # e.g. an unknown reference: n/a, not an error
        return dict.fromkeys(RANKING_METRICS, math.nan)
    return evaluate_ranking(scores, truth)


def _reference_scores(metadata: Mapping[str, Mapping[str, Any]], key: str, models: Sequence[str]) -> dict[str, float]:
    values = {}
    for model in models:
        value = metadata.get(model, {}).get(key)
        values[model] = float(value) if value is not None else math.nan
    return values


def _run_task(
    root: Path, task_name: str, names: Sequence[str], options: Mapping[str, Mapping[str, Any]], metadata: Mapping[str, Any]
) -> dict[str, MethodResult]:
    """Every scorer and reference on one task: method -> result."""
    task = load_zoo_task(task_name, root)
    results = {}
    for reference, key in REFERENCES.items():
        ref_scores = _reference_scores(metadata, key, task.models)
        results[reference] = MethodResult(ref_scores, _evaluate(ref_scores, task.accuracy))
    for name in names:
        scores, errors, start = {}, {}, time.perf_counter()
        for model in task.models:
            try:
                scores[model] = scoring.score(
                    name, task.features[model], task.labels, source_logits=task.logits[model], **options.get(name, {})
                )
            except Exception as exc:  # record the failure, keep scoring the other models
                logger.warning("%s failed on %s/%s: %s", name, task_name, model, exc)
                scores[model], errors[model] = math.nan, f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - start
        results[name] = MethodResult(scores, _evaluate(scores, task.accuracy), seconds, errors)
        logger.info("%s on %s: weighted tau %.3f (%.1f s)", name, task_name, results[name].metrics["weighted_tau"], seconds)
    return results


def run_zoo_benchmark(
    zoo_dir: str | os.PathLike | None = None,
    *,
    scorers: Sequence[str] | None = None,
    tasks: Sequence[str] | None = None,
    progress: bool = True,
    scorer_options: Mapping[str, Mapping[str, Any]] | None = None,
    n_jobs: int = 1,
) -> ZooBenchmarkResult:
    """Score every model of every zoo task with every scorer and compare with the fine-tuned accuracies.

    Args:
        zoo_dir (`str` or `os.PathLike`, *optional*): the zoo folder (``ground_truth.json``,
            ``features/<task>/<model>.npz``, ``models.json``); default :func:`lead_hf.zoo.default_zoo_dir`.
        scorers (`Sequence[str]`, *optional*): scorer names; default every :func:`lead_hf.available_scorers`.
        tasks (`Sequence[str]`, *optional*): task names; default every task of the zoo.
        progress (`bool`): show a progress bar (one step per task).
        scorer_options (`Mapping[str, Mapping]`, *optional*): extra keyword options per scorer name,
            e.g. ``{"linear_probe": {"seed": 1}}``.
        n_jobs (`int`): tasks run in this many worker processes (1: in this process). Wall times are
            then measured under contention between the workers.

    Returns:
        `ZooBenchmarkResult`: per task and method, the scores, the ranking metrics and the wall time.

    Raises:
        InvalidInputError: no zoo found, or an unknown scorer or task, or a bad ``n_jobs``
            (before any work is done).

    Example:
        >>> result = run_zoo_benchmark(scorers=["logme", "leep"], tasks=["cifar10"], progress=False)  # doctest: +SKIP
        >>> print(result.to_markdown())  # doctest: +SKIP
    """
    root = Path(zoo_dir) if zoo_dir is not None else default_zoo_dir()
    available_tasks = list_zoo_tasks(root)  # raises a clear error when there is no zoo
    names = list(dict.fromkeys(scoring.scorer_info(s).name for s in (scorers or scoring.available_scorers())))
    options = {name: dict(opts) for name, opts in (scorer_options or {}).items()}
    unknown_options = sorted(set(options) - set(names))
    if unknown_options:
        raise InvalidInputError(f"scorer_options given for scorers that are not run: {unknown_options}; run: {names}.")
    task_names = list(dict.fromkeys(tasks or available_tasks))
    unknown_tasks = [t for t in task_names if t not in available_tasks]
    if unknown_tasks:
        raise InvalidInputError(f"Unknown zoo task(s) {unknown_tasks}; available: {available_tasks}.")
    check_count(n_jobs, name="n_jobs")
    metadata = load_model_metadata(root)

    args = [(root, t, names, options, metadata) for t in task_names]
    with tqdm(total=len(task_names), disable=not progress, desc="zoo benchmark", unit="task") as bar:
        if n_jobs == 1 or len(task_names) == 1:
            per_task = []
            for arg in args:
                per_task.append(_run_task(*arg))
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=min(n_jobs, len(task_names))) as pool:
                futures = [pool.submit(_run_task, *arg) for arg in args]
                for _ in as_completed(futures):
                    bar.update()
                per_task = [future.result() for future in futures]
    results = {m: {t: r[m] for t, r in zip(task_names, per_task, strict=True)} for m in [*names, *REFERENCES]}
    return ZooBenchmarkResult(task_names, names, list(REFERENCES), results, str(root))

"""The demo run: build/load the offline example, rank the zoo, compare with measured accuracies, write reports."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._logging import get_logger
from .example import OfflineExample, load_offline_example
from .finetune import limit_threads

__all__ = ["DEMO_SCORERS", "DemoResult", "run_demo"]

logger = get_logger(__name__)

# LEAD first (it orders the table), then the baselines it is compared with.
DEMO_SCORERS = ("lead", "logme", "leep", "nce", "nleep", "hscore", "transrate", "gbc", "sfda", "linear_probe")
# tiny 28x28 models: big batches, and the whole target in two batches needs no DataLoader workers
RANK_BATCH_SIZE = 128
METRICS = ("weighted_tau", "kendall_tau", "spearman", "top1")


@dataclass
class DemoResult:
    """What :func:`run_demo` produced.

    Attributes:
        example (`OfflineExample`): the target data, zoo and ground truth.
        ranking (`lead_hf.rank.Ranking`): the zoo ranked on the target.
        evaluation (`dict[str, dict[str, float]]`, *optional*): per scorer, the agreement of its ranking with
            the measured accuracies (``weighted_tau``, ...); `None` without fine-tuning.
        report (`str`): the Markdown report (tables and description).
        files (`dict[str, Path]`): the written files: ``"markdown"``, ``"json"``, ``"plot"``.
        seconds (`dict[str, float]`): wall time of each phase (``"zoo"`` includes fine-tuning when needed).
    """

    example: OfflineExample
    ranking: Any
    evaluation: dict[str, dict[str, float]] | None
    report: str
    files: dict[str, Path] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def run_demo(
    *,
    output_dir: str | Path = "demo_output",
    quick: bool = False,
    finetune: bool = True,
    rebuild: bool = False,
    scorers: Sequence[str] = DEMO_SCORERS,
    cache_dir: str | Path | None = None,
    num_threads: int | None = 1,
    progress: bool = True,
) -> DemoResult:
    """Rank the offline demo zoo on its target and, with ``finetune``, check the ranking against reality.

    Args:
        output_dir (`str` or `Path`, *optional*, defaults to ``"demo_output"``): where ``ranking.md``,
            ``ranking.json`` and ``ranking.png`` are written (created if needed).
        quick (`bool`, *optional*, defaults to `False`): the small, seconds-long example.
        finetune (`bool`, *optional*, defaults to `True`): measure (or load cached) fine-tuned accuracies.
        rebuild (`bool`, *optional*, defaults to `False`): rebuild the cached zoo, target and accuracies.
        scorers (sequence of `str`, *optional*): scorers to run; the first orders the ranking.
        cache_dir (`str` or `Path`, *optional*): cache root for the zoo and the extracted features.
        num_threads (`int`, *optional*, defaults to 1): torch and BLAS threads (`None`: leave both alone).
        progress (`bool`, *optional*, defaults to `True`): progress bars while extracting.

    Returns:
        `DemoResult`: the ranking, its evaluation, the report text and the written files.
    """
    from ..rank import rank_models

    seconds: dict[str, float] = {}
    start = time.perf_counter()
    example = load_offline_example(quick=quick, with_ground_truth=finetune, rebuild=rebuild, cache_dir=cache_dir,
                                   num_threads=num_threads)  # fmt: skip
    seconds["zoo"] = time.perf_counter() - start
    start = time.perf_counter()
    with limit_threads(num_threads):
        ranking = rank_models(
            example.model_dirs, example.dataset, scorers=tuple(scorers), cache_dir=cache_dir,
            batch_size=RANK_BATCH_SIZE, ground_truth=example.ground_truth, progress=progress,
        )  # fmt: skip
    seconds["rank"] = time.perf_counter() - start
    evaluation = ranking.evaluate() if example.ground_truth is not None else None
    report = _report(example, ranking, evaluation)

    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    files = {
        "markdown": output / "ranking.md",
        "json": output / "ranking.json",
        "plot": output / "ranking.png",
    }
    files["markdown"].write_text(report + "\n", encoding="utf-8")
    payload = {
        **json.loads(ranking.to_json()),
        "description": example.description,
        "ground_truth": _by_name(example.ground_truth),
        "evaluation": evaluation,
        "models": {Path(path).name: info for path, info in example.models.items()},
        "seconds": seconds,
    }
    files["json"].write_text(json.dumps(payload, indent=2, default=_plain) + "\n", encoding="utf-8")
    ranking.plot(files["plot"], ground_truth=example.ground_truth)
    return DemoResult(
        example=example, ranking=ranking, evaluation=evaluation, report=report, files=files, seconds=seconds
    )


def _by_name(truth: dict[str, float] | None) -> dict[str, float] | None:
    return None if truth is None else {Path(path).name: value for path, value in truth.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def _fmt(value: Any, spec: str = ".4f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def _report(example: OfflineExample, ranking: Any, evaluation: dict[str, dict[str, float]] | None) -> str:
    """Markdown: the predicted ranking next to the measured accuracies, then the agreement per scorer."""
    truth = _by_name(example.ground_truth) or {}
    true_rank = {name: i + 1 for i, name in enumerate(sorted(truth, key=truth.get, reverse=True))}
    measured = ["fine-tuned acc", "true rank"] if truth else []
    header = ["rank", "model", "architecture", "source", *ranking.scorers, *measured]
    title = f"## Predicted ranking (by {ranking.primary})" + (" and measured accuracy" if truth else "")
    lines = [title, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for position, row in enumerate(ranking.rows, start=1):
        name = Path(row["model"]).name
        info = example.models.get(row["model"], {})
        cells = [str(position), name, info.get("architecture", "?"), info.get("source", "?")]
        cells += [_fmt(row.get(scorer)) for scorer in ranking.scorers]
        if truth:
            cells += [_fmt(truth.get(name)), str(true_rank.get(name, "-"))]
        lines.append("| " + " | ".join(cells) + " |")
    if ranking.failed:
        lines += ["", "Errors: " + "; ".join(f"{Path(m).name}: {e}" for m, e in ranking.failed.items())]
    if evaluation is not None:
        lines += ["", "## Agreement of each scorer with the measured accuracies", "",
                  "| scorer | " + " | ".join(METRICS) + " |", "|" + "---|" * (len(METRICS) + 1)]  # fmt: skip
        order = sorted(evaluation, key=lambda s: -_finite(evaluation[s].get("weighted_tau")))
        lines += [
            "| " + " | ".join([s, *(_fmt(evaluation[s].get(m), "+.3f") for m in METRICS)]) + " |"
            for s in order
        ]
    lines += ["", "## Setup", "", example.description]
    return "\n".join(lines)


def _finite(value: Any) -> float:
    return float(value) if value is not None and math.isfinite(value) else -math.inf

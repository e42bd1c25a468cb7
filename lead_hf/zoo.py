"""Readers for zoo-style offline benchmarks (``features/<task>/<model>.npz`` + ``ground_truth.json``).

The layout is the one of ``shared/zoo`` (see its README): per task and model the penultimate
``features`` (N, D), source ``logits`` (N, C_s) and target ``labels`` (N,); ground truth maps
``{task: {model: fine-tuned test accuracy}}`` with metadata under keys starting with ``_``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InvalidInputError

__all__ = [
    "ZooTask",
    "default_zoo_dir",
    "first_per_class",
    "list_zoo_tasks",
    "load_ground_truth",
    "load_model_metadata",
    "load_zoo_task",
    "merge_zoo_tasks",
]

ZOO_ENV_VAR = "LEAD_HF_ZOO_DIR"


@dataclass(frozen=True)
class ZooTask:
    """One target task of a zoo: per-model arrays and the fine-tuned accuracies."""

    name: str
    features: dict[str, np.ndarray]  # model -> (N, D) float32
    logits: dict[str, np.ndarray]  # model -> (N, C_source) float32
    labels: np.ndarray  # (N,) int64, identical for every model
    accuracy: dict[str, float]  # model -> fine-tuned test accuracy

    @property
    def models(self) -> list[str]:
        return sorted(self.features)


def default_zoo_dir(name: str = "zoo") -> Path | None:
    """The zoo folder ``name`` (``"zoo"`` or ``"zoo2"``, the second pool): for ``"zoo"`` ``$LEAD_HF_ZOO_DIR``
    first, else ``../shared/<name>`` beside a source checkout; ``None`` when absent."""
    env = os.environ.get(ZOO_ENV_VAR) if name == "zoo" else None
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / name)
    return next((c for c in candidates if (c / "ground_truth.json").is_file()), None)


def _zoo_path(zoo_dir: str | os.PathLike | None) -> Path:
    path = Path(zoo_dir) if zoo_dir is not None else default_zoo_dir()
    if path is None or not (path / "ground_truth.json").is_file():
        raise InvalidInputError(
            f"No zoo benchmark found at {str(path) if path else '(default locations)'}: expected "
            f"ground_truth.json and features/<task>/<model>.npz. Pass zoo_dir= or set ${ZOO_ENV_VAR}."
        )
    return path


def load_ground_truth(zoo_dir: str | os.PathLike | None = None) -> dict[str, dict[str, float]]:
    """``{task: {model: accuracy}}`` without the ``_``-prefixed metadata keys. Accepts both zoo layouts:
    ``{task: {model: accuracy}}`` and ``{task: {model: {"test_acc": accuracy, ...}}}`` (the second pool)."""
    raw = json.loads((_zoo_path(zoo_dir) / "ground_truth.json").read_text())
    return {task: {m: float(a["test_acc"] if isinstance(a, dict) else a) for m, a in accs.items()}
            for task, accs in raw.items() if not task.startswith("_")}


def load_model_metadata(zoo_dir: str | os.PathLike | None = None) -> dict[str, dict]:
    """``models.json`` of the zoo (parameter counts, source task, ...); empty when absent."""
    path = _zoo_path(zoo_dir) / "models.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def list_zoo_tasks(zoo_dir: str | os.PathLike | None = None) -> list[str]:
    """Tasks that have both features and ground truth, sorted."""
    root = _zoo_path(zoo_dir)
    truth = load_ground_truth(root)
    return sorted(t for t in truth if (root / "features" / t).is_dir())


def load_zoo_task(task: str, zoo_dir: str | os.PathLike | None = None) -> ZooTask:
    """Load every model's arrays for ``task`` (float16 files are widened to float32)."""
    root = _zoo_path(zoo_dir)
    truth = load_ground_truth(root)
    if task not in truth:
        raise InvalidInputError(f"Unknown zoo task {task!r}; available: {list_zoo_tasks(root)}.")
    features, logits, labels = {}, {}, None
    for model in sorted(truth[task]):
        with np.load(root / "features" / task / f"{model}.npz") as z:
            features[model] = z["features"].astype(np.float32)
            logits[model] = z["logits"].astype(np.float32)
            if labels is None:
                labels = z["labels"].astype(np.int64)
            elif not np.array_equal(labels, z["labels"]):
                raise InvalidInputError(f"Zoo task {task!r}: labels of {model!r} differ from the other models'.")
    return ZooTask(task, features, logits, labels, truth[task])


def first_per_class(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Indices of the first ``per_class`` rows of every class, class by class (the zoo's rows are already
    shuffled, so this is the zoo's subsample at ``per_class`` images per class)."""
    return np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in np.unique(labels)])


def merge_zoo_tasks(tasks: list[ZooTask]) -> ZooTask:
    """One pool from the same task of several zoos (same images and labels, e.g. ``zoo`` and ``zoo2``).

    Raises:
        InvalidInputError: different task names or labels, or a model present in two zoos.
    """
    first = tasks[0]
    merged = ZooTask(first.name, {}, {}, first.labels, {})
    for task in tasks:
        if task.name != first.name or not np.array_equal(task.labels, first.labels):
            raise InvalidInputError(f"Cannot merge zoo task {task.name!r} into {first.name!r}: tasks and labels must match.")
        clash = sorted(set(task.features) & set(merged.features))
        if clash:
            raise InvalidInputError(f"Zoo task {first.name!r}: models {clash} appear in two zoos; rename one.")
        merged.features.update(task.features)
        merged.logits.update(task.logits)
        merged.accuracy.update(task.accuracy)
    return merged

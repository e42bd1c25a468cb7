"""Fine-tune a candidate on the target with transformers' ``Trainer`` and measure it on held-out images.

The recipe (:class:`FinetuneRecipe`) is the model-selection literature's protocol, scaled down: every layer
is trained with a new head, for a fixed number of epochs, at each learning rate of a small grid; the rate with
the best accuracy on a validation part carved (stratified, seeded) from the training images is kept, and that
model is tested once on the held-out split. Images go through the model's own image processor. ``Trainer``
runs the loop (and Accelerate under it: ``accelerate launch`` / ``torchrun`` use every GPU); results are cached
like features, keyed by model revision, images and recipe.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import _cache, _models
from ._digest import json_digest
from ._logging import get_logger
from ._validation import check_count, check_number_option
from .data import ImageDataset, load_image_dataset, open_rgb_image
from .errors import ExtractionError, InvalidInputError

__all__ = ["FinetuneRecipe", "FinetuneResult", "finetune"]

logger = get_logger(__name__)


@dataclass(frozen=True)
class FinetuneRecipe:
    """How a candidate is fine-tuned (defaults: the recipe of ``verify_top`` and the docs' agreement table).

    Attributes:
        learning_rates (`tuple[float, ...]`): the AdamW peak rates tried; the best on validation is kept.
        epochs (`float`): passes over the training part, per rate.
        batch_size (`int`): images per step (per device).
        weight_decay (`float`): AdamW weight decay.
        warmup_ratio (`float`): share of the steps with a linear warm-up, before a cosine decay to 0.
        validation_fraction (`float`): share of each class's training images held out to choose the rate.
        seed (`int`): seed of the new head, the batches and the validation split.
    """

    learning_rates: tuple[float, ...] = (1e-4, 1e-3)
    epochs: float = 3.0
    batch_size: int = 32
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    validation_fraction: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        rates = tuple(self.learning_rates)
        if not rates:
            raise InvalidInputError("learning_rates is empty; give at least one rate, e.g. (1e-4, 1e-3).")
        for rate in rates:
            check_number_option(rate, name="learning_rates", scorer="finetune", low=0.0)
        object.__setattr__(self, "learning_rates", tuple(float(r) for r in rates))
        check_number_option(self.epochs, name="epochs", scorer="finetune", low=0.0)
        check_count(self.batch_size, name="batch_size")
        check_number_option(self.weight_decay, name="weight_decay", scorer="finetune", low=0.0, low_inclusive=True)
        check_number_option(self.warmup_ratio, name="warmup_ratio", scorer="finetune", low=0.0, low_inclusive=True,
                            high=1.0)
        check_number_option(self.validation_fraction, name="validation_fraction", scorer="finetune", low=0.0,
                            high=0.5)
        check_count(self.seed, name="seed", low=0)


@dataclass(frozen=True)
class FinetuneResult:
    """What :func:`finetune` measured.

    Attributes:
        model_id (`str`): the model as given.
        accuracy (`float`): top-1 accuracy on the held-out split, in [0, 1].
        loss (`float`): mean cross-entropy on the held-out split.
        learning_rate (`float`): the rate kept (best validation accuracy; the smaller rate on a tie).
        validation_accuracy (`dict[str, float]`): validation accuracy per rate tried (keys are ``repr(rate)``).
        n_train, n_validation, n_test (`int`): images used to train, to choose the rate, and to test.
        seconds (`float`): wall-clock seconds of the fine-tuning (of the original run when ``from_cache``).
        from_cache (`bool`): read from the cache.
    """

    model_id: str
    accuracy: float
    loss: float
    learning_rate: float
    validation_accuracy: dict[str, float] = field(repr=False)
    n_train: int
    n_validation: int
    n_test: int
    seconds: float
    from_cache: bool = False


def finetune(
    model: str | os.PathLike,
    dataset: Any,
    *,
    split: str = "train",
    test_split: str | None = "test",
    max_samples_per_class: int | None = None,
    recipe: FinetuneRecipe | None = None,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    progress: bool = True,
) -> FinetuneResult:
    """Fine-tune ``model`` on ``dataset`` with the recipe and return its accuracy on held-out images.

    Args:
        model (`str` or `os.PathLike`): a Hub id or local folder of a model with an image-classification class
            (transformers classifiers, headless backbones of such a family, timm checkpoints); the head is new.
        dataset: anything :func:`lead_hf.data.load_image_dataset` accepts.
        split (`str`, *optional*, defaults to ``"train"``): the training split (the validation part is carved
            from it).
        test_split (`str`, *optional*, defaults to ``"test"``): the held-out split. When the dataset has no
            such split (or is a single split), a stratified ``validation_fraction`` of the training split is
            held out instead.
        max_samples_per_class (`int`, *optional*): class-balanced subsample of the training split (seeded).
        recipe (`FinetuneRecipe`, *optional*): the fine-tuning recipe (default: ``FinetuneRecipe()``).
        cache_dir (`str` or `os.PathLike`, *optional*): as for features (``$LEAD_HF_CACHE``).
        use_cache (`bool`, *optional*, defaults to `True`): read and write the cached result.
        progress (`bool`, *optional*, defaults to `True`): the Trainer's progress bars.

    Returns:
        `FinetuneResult`: held-out accuracy and loss, the rate kept, and the sizes of the three parts.

    Raises:
        InvalidInputError: bad options or data (fewer than 2 images per class to carve validation from).
        ExtractionError: the model cannot be loaded or has no image-classification class.
    """
    recipe = FinetuneRecipe() if recipe is None else recipe
    folder = _cache.writable_cache_dir(cache_dir) if use_cache else None
    train, test = _splits(dataset, split=split, test_split=test_split, max_samples_per_class=max_samples_per_class,
                          recipe=recipe)
    spec = _models.resolve_model(model, revision=None, trust_remote_code=False)
    if not _models.supports_classification(spec.config):
        raise ExtractionError(f"{str(model)!r} has no image-classification class in transformers: it cannot be "
                              "fine-tuned with a new head here.")
    path = None
    if folder is not None:
        key = json_digest({"model": spec.ref, "revision": spec.revision, "train": train.fingerprint,
                           "train_images": train.images_digest, "test": test.fingerprint,
                           "test_images": test.images_digest, "recipe": asdict(recipe),
                           "preprocessing": spec.preprocessing})
        path = folder / "finetune" / f"{Path(spec.ref).name}--{key}.json"
        if path.is_file():
            try:
                return FinetuneResult(**{**json.loads(path.read_text()), "model_id": str(model), "from_cache": True})
            except (ValueError, TypeError):
                logger.warning("Unreadable fine-tuning cache %s: fine-tuning again.", path)
    start = time.perf_counter()
    result = _run(spec, str(model), train, test, recipe, progress=progress)
    result = FinetuneResult(**{**asdict(result), "seconds": time.perf_counter() - start})
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {k: v for k, v in asdict(result).items() if k not in ("model_id", "from_cache")}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, indent=2))
        os.replace(tmp, path)
    return result


def _splits(dataset: Any, *, split: str, test_split: str | None, max_samples_per_class: int | None,
            recipe: FinetuneRecipe) -> tuple[ImageDataset, ImageDataset]:
    """(training images, held-out images): the test split when there is one, else a stratified part of train."""
    train = load_image_dataset(dataset, split=split, max_samples_per_class=max_samples_per_class, seed=recipe.seed)
    if test_split is not None and not isinstance(dataset, ImageDataset):
        try:
            test = load_image_dataset(dataset, split=test_split)
        except InvalidInputError as err:
            if f"split {test_split!r}" not in str(err) and "no split" not in str(err):
                raise
        else:
            if test.class_names != train.class_names:
                raise InvalidInputError(f"the {test_split!r} split's classes {test.class_names[:5]}... differ from "
                                        f"the {split!r} split's {train.class_names[:5]}...; pass test_split=None.")
            return train, test
    held_out, kept = _stratified_part(train.labels, recipe.validation_fraction, seed=recipe.seed + 1)
    return _subset(train, kept, "train"), _subset(train, held_out, "test")


def _stratified_part(labels: np.ndarray, fraction: float, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(``fraction`` of each class, the rest), seeded, each in dataset order; every class keeps a training image."""
    rng = np.random.default_rng(seed)
    part = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) < 2:
            raise InvalidInputError(f"class {int(label)} has {len(members)} image(s): fine-tuning needs at least 2 "
                                    "per class (one to train on, one to hold out).")
        part.append(rng.choice(members, size=max(1, round(fraction * len(members))), replace=False))
    part = np.sort(np.concatenate(part))
    return part, np.setdiff1d(np.arange(len(labels)), part)


def _subset(data: ImageDataset, rows: np.ndarray, role: str) -> ImageDataset:
    from ._digest import json_digest as digest

    return ImageDataset(
        dataset=data.dataset.select(rows), image_column=data.image_column, label_column=data.label_column,
        class_names=list(data.class_names), name=data.name, split=f"{data.split}:{role}", labels=data.labels[rows],
        fingerprint=digest({"parent": data.fingerprint, "rows": rows.tolist()}),
    )  # fmt: skip


class _Processed:
    """A torch dataset of ``{"pixel_values", "labels"}`` through the model's image processor (decodable rows only)."""

    def __init__(self, data: ImageDataset, processor: Any, rows: np.ndarray):
        self.data, self.processor, self.rows = data, processor, rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = int(self.rows[index])
        image = open_rgb_image(self.data.dataset[row][self.data.image_column])
        pixels = self.processor(images=image, return_tensors="pt")["pixel_values"][0]
        return {"pixel_values": pixels, "labels": int(self.data.labels[row])}


def _decodable(data: ImageDataset) -> np.ndarray:
    """Rows whose image decodes (an undecodable file is left out, as extraction does)."""
    import datasets

    cells = data.dataset.cast_column(data.image_column, datasets.Image(decode=False))[data.image_column]
    ok = []
    for row, cell in enumerate(cells):
        try:
            open_rgb_image(cell)
            ok.append(row)
        except (OSError, ValueError, SyntaxError):
            logger.warning("finetune: image %d of %s cannot be decoded; left out.", row, data.split)
    return np.asarray(ok, dtype=np.int64)


def _run(spec: _models.ModelSpec, name: str, train: ImageDataset, test: ImageDataset, recipe: FinetuneRecipe,
         *, progress: bool) -> FinetuneResult:
    import torch
    from transformers import PrinterCallback, Trainer, TrainingArguments

    held_out, kept = _stratified_part(train.labels, recipe.validation_fraction, seed=recipe.seed)
    train_rows, validation_rows = _decodable(train), _decodable(_subset(train, held_out, "validation"))
    train_rows = np.intersect1d(train_rows, kept)
    parts = {
        "train": _Processed(train, spec.processor, train_rows),
        "validation": _Processed(_subset(train, held_out, "validation"), spec.processor, validation_rows),
        "test": _Processed(test, spec.processor, _decodable(test)),
    }
    best = None
    validation: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="lead_hf_finetune_") as scratch:
        for rate in recipe.learning_rates:
            network = _models.load_for_finetuning(spec, name=name, class_names=train.class_names, seed=recipe.seed)
            args = TrainingArguments(
                output_dir=scratch, learning_rate=rate, num_train_epochs=recipe.epochs,
                per_device_train_batch_size=recipe.batch_size, per_device_eval_batch_size=max(recipe.batch_size, 64),
                weight_decay=recipe.weight_decay, warmup_steps=recipe.warmup_ratio, lr_scheduler_type="cosine",
                seed=recipe.seed, data_seed=recipe.seed, eval_strategy="no", save_strategy="no",
                logging_strategy="no", report_to=[], disable_tqdm=not progress, remove_unused_columns=False,
                dataloader_num_workers=0, dataloader_pin_memory=torch.cuda.is_available(),
            )  # fmt: skip
            trainer = Trainer(model=network, args=args, train_dataset=parts["train"], compute_metrics=_accuracy)
            if not progress:  # without progress bars, the Trainer prints its metrics instead: keep them quiet too
                trainer.remove_callback(PrinterCallback)
            trainer.train()
            score = trainer.evaluate(parts["validation"], metric_key_prefix="validation")["validation_accuracy"]
            validation[repr(rate)] = float(score)
            logger.info("finetune %s: learning rate %g, validation accuracy %.4f", name, rate, score)
            if best is None or score > best[0]:  # ties keep the smaller (earlier) rate
                best = (score, rate, trainer)
        _, rate, trainer = best
        tested = trainer.evaluate(parts["test"], metric_key_prefix="test")
    return FinetuneResult(
        model_id=name, accuracy=float(tested["test_accuracy"]), loss=float(tested["test_loss"]), learning_rate=rate,
        validation_accuracy=validation, n_train=len(parts["train"]), n_validation=len(parts["validation"]),
        n_test=len(parts["test"]), seconds=0.0,
    )  # fmt: skip


def _accuracy(prediction: Any) -> dict[str, float]:
    logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
    return {"accuracy": float(np.mean(np.argmax(logits, axis=-1) == prediction.label_ids))}

"""Fine-tune a candidate on the target with transformers' ``Trainer`` and measure it on held-out images.

The recipe (:class:`FinetuneRecipe`) is the model-selection literature's protocol (the one that measured the
zoo's ground truth), scaled to the data: every layer is trained with a new head (10x the base learning rate),
SGD with Nesterov momentum, a cosine schedule, for a few epochs but at least ``min_steps`` steps, at each
learning rate of a small grid; the rate with the best accuracy on a validation part carved (stratified,
seeded) from the training images is kept, and that model is tested once on the held-out split. Images go through the model's own image processor. ``Trainer``
runs the loop (and Accelerate under it: ``accelerate launch`` / ``torchrun`` use every GPU); results are cached
like features, keyed by model revision, images and recipe.
"""

from __future__ import annotations

import json
import math
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
from .data import ImageDataset, decode_rgb_image, load_image_dataset, open_rgb_image
from .errors import ExtractionError, InvalidInputError

__all__ = ["FinetuneRecipe", "FinetuneResult", "finetune", "recalibrate_folded_batchnorm", "train"]

logger = get_logger(__name__)

BATCHNORM_IMAGES = 256  # images whose statistics recalibrate folded BatchNorm layers (as the zoo's protocol)


@dataclass(frozen=True)
class FinetuneRecipe:
    """How a candidate is fine-tuned (defaults: the recipe of ``verify_top`` and the docs' agreement table).

    Attributes:
        learning_rates (`tuple[float, ...]`): the base rates tried (the head gets ``head_lr_multiplier`` times
            more); the best on validation is kept.
        epochs (`float`): passes over the training part, per rate...
        min_steps (`int`): ...but at least this many optimiser steps (small data would otherwise barely train).
        batch_size (`int`): images per step (per device).
        optimizer (`str`): ``"sgd"`` (Nesterov momentum 0.9, as the zoo's protocol) or ``"adamw"``.
        head_lr_multiplier (`float`): the new head's rate over the base rate.
        weight_decay (`float`): weight decay of every parameter.
        warmup_ratio (`float`): share of the steps with a linear warm-up, before a cosine decay to 0.
        validation_fraction (`float`): share of each class's training images held out to choose the rate.
        seed (`int`): seed of the new head, the batches and the validation split.
    """

    learning_rates: tuple[float, ...] = (1e-3, 1e-2)
    epochs: float = 4.0
    min_steps: int = 30
    batch_size: int = 32
    optimizer: str = "sgd"
    head_lr_multiplier: float = 10.0
    weight_decay: float = 1e-4
    warmup_ratio: float = 0.0
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
        check_count(self.min_steps, name="min_steps", low=0)
        if self.optimizer not in ("sgd", "adamw"):
            raise InvalidInputError(f"optimizer must be 'sgd' or 'adamw', got {self.optimizer!r}.")
        check_number_option(self.head_lr_multiplier, name="head_lr_multiplier", scorer="finetune", low=0.0)
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
    max_test_samples_per_class: int | None = None,
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
        max_test_samples_per_class (`int`, *optional*): class-balanced subsample of the test split (seeded).
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
                          max_test_samples_per_class=max_test_samples_per_class, recipe=recipe)
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
        _cache.write_atomically(path, lambda handle: handle.write(json.dumps(payload, indent=2).encode()))
    return result


def train(
    model: Any,
    train_dataset: Any,
    *,
    learning_rate: float,
    batch_size: int,
    seed: int = 0,
    epochs: float | None = None,
    max_steps: int | None = None,
    optimizer: str = "adamw",
    head_lr_multiplier: float = 1.0,
    weight_decay: float = 0.01,
    warmup_ratio: float = 0.0,
    progress: bool = True,
) -> Any:
    """Train ``model`` in place with transformers' ``Trainer`` (cosine decay to 0); the one training loop of lead-hf.

    Args:
        model (`PreTrainedModel`): a model whose forward takes ``pixel_values`` and ``labels`` and returns a loss.
        train_dataset (`torch.utils.data.Dataset`): items ``{"pixel_values": tensor, "labels": int}``.
        learning_rate, batch_size, seed, optimizer, head_lr_multiplier, weight_decay, warmup_ratio: as in
            :class:`FinetuneRecipe`; the optimizer (``"adamw"`` by default) has the head in a group of its own.
        epochs (`float`, *optional*): passes over the data; or ``max_steps`` (`int`): optimiser steps.
        progress (`bool`, *optional*, defaults to `True`): the Trainer's progress bar (else it stays quiet).

    Returns:
        `transformers.Trainer`: the trainer, for ``trainer.evaluate(...)``.
    """
    import torch
    from transformers import PrinterCallback, Trainer, TrainingArguments

    with tempfile.TemporaryDirectory(prefix="lead_hf_train_") as scratch:
        args = TrainingArguments(
            output_dir=scratch, learning_rate=learning_rate,  # nothing is saved there
            num_train_epochs=epochs if epochs is not None else 1.0, max_steps=max_steps if max_steps is not None else -1,
            per_device_train_batch_size=batch_size, per_device_eval_batch_size=max(batch_size, 64),
            weight_decay=weight_decay, warmup_steps=warmup_ratio, lr_scheduler_type="cosine", seed=seed,
            data_seed=seed, eval_strategy="no", save_strategy="no", logging_strategy="no", report_to=[],
            disable_tqdm=not progress, remove_unused_columns=False, dataloader_num_workers=0,
            dataloader_pin_memory=torch.cuda.is_available(),
        )  # fmt: skip
        trainer = Trainer(model=model, args=args, train_dataset=train_dataset, compute_metrics=_accuracy,
                          optimizers=(_optimizer(model, optimizer, learning_rate, head_lr_multiplier, weight_decay), None))
        if not progress:  # without progress bars, the Trainer prints its metrics instead: keep them quiet too
            trainer.remove_callback(PrinterCallback)
        trainer.train()
    model.eval()
    return trainer


def recalibrate_folded_batchnorm(model: Any, dataset: Any, *, n_images: int = BATCHNORM_IMAGES) -> int:
    """Give BatchNorm layers folded into their convolutions (identity statistics) the statistics of the data.

    Checkpoints converted from inference formats (TFLite, ONNX) often fold BatchNorm into the convolutions and
    keep identity layers (mean 0, variance 1, scale 1, shift 0). In train mode such a layer normalises by the
    batch statistics and changes the network's function, so fine-tuning starts from a broken model (chance
    accuracy). As in the zoo's ground-truth protocol, each identity layer gets the per-channel mean and variance
    of its input over the first ``n_images`` training images as running statistics, ``scale = std`` and
    ``shift = mean + shift``: the eval-mode function is unchanged, and batch statistics now match it.

    Returns:
        `int`: the number of layers recalibrated (0 for an ordinary checkpoint, which is left untouched).
    """
    import torch

    folded = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and _is_identity(m)]
    if not folded:
        return 0
    inputs: dict[int, list[torch.Tensor]] = {id(m): [] for m in folded}
    hooks = [m.register_forward_pre_hook(lambda module, args: inputs[id(module)].append(args[0].detach()))
             for m in folded]
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, min(n_images, len(dataset)), 32):
                rows = range(start, min(start + 32, n_images, len(dataset)))
                model(pixel_values=torch.stack([dataset[i]["pixel_values"] for i in rows]))
    finally:
        for hook in hooks:
            hook.remove()
    with torch.no_grad():
        for layer in folded:
            x = torch.cat(inputs[id(layer)]).transpose(0, 1).flatten(1)  # (channels, everything else)
            mean, var = x.mean(dim=1), x.var(dim=1, unbiased=False)
            layer.running_mean.copy_(mean)
            layer.running_var.copy_(var)
            layer.weight.copy_(torch.sqrt(var + layer.eps))
            layer.bias.add_(mean)
    logger.info("Recalibrated %d folded BatchNorm layer(s) on %d training images.", len(folded),
                min(n_images, len(dataset)))
    return len(folded)


def _is_identity(layer: Any) -> bool:
    """An affine BatchNorm that only adds its shift: mean 0, variance + eps = 1, scale 1 (folded; the shift holds
    the folded convolution's bias)."""
    import torch

    if not (layer.affine and layer.track_running_stats):
        return False
    unit = torch.ones_like(layer.running_var)
    return bool(torch.all(layer.running_mean == 0) and torch.allclose(layer.running_var + layer.eps, unit, atol=1e-5)
                and torch.all(layer.weight == 1))


def _optimizer(model: Any, name: str, learning_rate: float, head_multiplier: float, weight_decay: float) -> Any:
    """SGD (Nesterov momentum 0.9) or AdamW over two groups: the classifier head(s) at ``head_multiplier`` x the rate."""
    import torch

    head = {id(p) for layer in _models.classifier_heads(model) for p in layer.parameters()}
    groups = [
        {"params": [p for p in model.parameters() if id(p) not in head], "lr": learning_rate},
        {"params": [p for p in model.parameters() if id(p) in head], "lr": learning_rate * head_multiplier},
    ]
    if name == "sgd":
        return torch.optim.SGD(groups, lr=learning_rate, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    return torch.optim.AdamW(groups, lr=learning_rate, weight_decay=weight_decay)


def _splits(dataset: Any, *, split: str, test_split: str | None, max_samples_per_class: int | None,
            max_test_samples_per_class: int | None, recipe: FinetuneRecipe) -> tuple[ImageDataset, ImageDataset]:
    """(training images, held-out images): the test split when there is one, else a stratified part of train."""
    train = load_image_dataset(dataset, split=split, max_samples_per_class=max_samples_per_class, seed=recipe.seed)
    if test_split is not None and not isinstance(dataset, ImageDataset):
        try:
            test = load_image_dataset(dataset, split=test_split, max_samples_per_class=max_test_samples_per_class,
                                      seed=recipe.seed)
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
    return ImageDataset(
        dataset=data.dataset.select(rows), image_column=data.image_column, label_column=data.label_column,
        class_names=list(data.class_names), name=data.name, split=f"{data.split}:{role}", labels=data.labels[rows],
        fingerprint=json_digest({"parent": data.fingerprint, "rows": rows.tolist()}),
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
        if decode_rgb_image(cell) is None:
            logger.warning("finetune: image %d of %s cannot be decoded; left out.", row, data.split)
        else:
            ok.append(row)
    return np.asarray(ok, dtype=np.int64)


def _run(spec: _models.ModelSpec, name: str, train_data: ImageDataset, test: ImageDataset, recipe: FinetuneRecipe,
         *, progress: bool) -> FinetuneResult:
    held_out, kept = _stratified_part(train_data.labels, recipe.validation_fraction, seed=recipe.seed)
    decodable = _decodable(train_data)  # each training image is decoded once to check it
    parts = {
        "train": _Processed(train_data, spec.processor, np.intersect1d(decodable, kept)),
        "validation": _Processed(train_data, spec.processor, np.intersect1d(decodable, held_out)),
        "test": _Processed(test, spec.processor, _decodable(test)),
    }
    best = None
    validation: dict[str, float] = {}
    for rate in recipe.learning_rates:
        network = _models.load_for_finetuning(spec, name=name, class_names=train_data.class_names, seed=recipe.seed)
        recalibrate_folded_batchnorm(network, parts["train"])
        steps_per_epoch = math.ceil(len(parts["train"]) / recipe.batch_size)
        steps = max(math.ceil(recipe.epochs * steps_per_epoch), recipe.min_steps)
        trainer = train(network, parts["train"], learning_rate=rate, batch_size=recipe.batch_size, seed=recipe.seed,
                        max_steps=steps, optimizer=recipe.optimizer, head_lr_multiplier=recipe.head_lr_multiplier,
                        weight_decay=recipe.weight_decay, warmup_ratio=recipe.warmup_ratio, progress=progress)
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

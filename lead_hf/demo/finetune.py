"""Measure the ground truth: fine-tune every layer of a model with a new head on the target, then test it.

Training is :func:`lead_hf.finetune.train` (transformers' ``Trainer``), which also pre-trains the zoo
(:mod:`lead_hf.demo.zoo`). The budget is small and fixed (AdamW, cosine-decayed learning rate, a set number
of steps), the same for every model, as in the model-selection literature's protocol scaled down to a CPU.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._logging import get_logger

__all__ = [
    "FinetuneSettings",
    "evaluate_accuracy",
    "finetune_and_evaluate",
    "pixel_values",
    "limit_threads",
    "train_classifier",
]

logger = get_logger(__name__)

EVAL_BATCH_SIZE = 256


@dataclass(frozen=True)
class FinetuneSettings:
    """A training budget.

    Attributes:
        steps (`int`): optimiser steps.
        batch_size (`int`): images per step.
        learning_rate (`float`): peak AdamW learning rate (cosine-decayed to 0 over ``steps``).
    """

    steps: int
    batch_size: int
    learning_rate: float


@contextlib.contextmanager
def limit_threads(n_threads: int | None) -> Iterator[None]:
    """Run the block with ``n_threads`` torch and BLAS threads (``None``: leave both alone).

    Tiny models and 100-image scores gain nothing from intra-op threads, and on a busy machine spinning
    threads make them several times slower, so the demo trains, extracts and scores on one thread by default.
    """
    import torch
    from threadpoolctl import threadpool_limits

    if n_threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        with threadpool_limits(limits=n_threads):
            yield
    finally:
        torch.set_num_threads(before)


def pixel_values(images: np.ndarray) -> Any:
    """Grey ``uint8`` images (N, H, W) -> the (N, 3, H, W) float tensor the zoo's image processor makes.

    Same arithmetic as :func:`lead_hf.demo.zoo.image_processor` (grey copied to RGB, scaled by 1/255,
    normalised with mean 0.5 and std 0.5) without a PIL round trip per image.
    """
    import torch

    scaled = torch.as_tensor(images, dtype=torch.float32) / 255.0
    return ((scaled - 0.5) / 0.5).unsqueeze(1).expand(-1, 3, -1, -1).contiguous()


class _Tensors:
    """``{"pixel_values", "labels"}`` items over preprocessed tensors, as ``Trainer`` takes them."""

    def __init__(self, pixels: Any, labels: Any):
        self.pixels, self.labels = pixels, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"pixel_values": self.pixels[index], "labels": int(self.labels[index])}


def train_classifier(
    model: Any, pixels: Any, labels: Any, settings: FinetuneSettings, *, seed: int = 0
) -> None:
    """Train ``model`` in place with cross-entropy on (``pixels``, ``labels``): ``settings.steps`` AdamW steps of
    seeded shuffled batches, through :func:`lead_hf.finetune.train`."""
    from ..finetune import train

    train(model, _Tensors(pixels, labels), learning_rate=settings.learning_rate, batch_size=settings.batch_size,
          max_steps=settings.steps, seed=seed, progress=False)


def evaluate_accuracy(model: Any, pixels: Any, labels: np.ndarray) -> float:
    """Top-1 accuracy of ``model`` on (``pixels``, ``labels``)."""
    import torch

    model.eval()
    with torch.no_grad():
        predictions = torch.cat(
            [
                model(pixel_values=pixels[i : i + EVAL_BATCH_SIZE]).logits.argmax(-1)
                for i in range(0, len(labels), EVAL_BATCH_SIZE)
            ]
        )
    return float((predictions.numpy() == np.asarray(labels)).mean())


def _processed(dataset: Any, processor: Any) -> tuple[Any, Any]:
    """Pixels (via the model's own image processor) and labels of an ``image``/``label`` dataset."""
    import torch

    pixels = processor(list(dataset["image"]), return_tensors="pt")["pixel_values"]
    return pixels, torch.as_tensor(np.asarray(dataset["label"], dtype=np.int64))


def finetune_and_evaluate(
    model_dir: str | Path, train: Any, test: Any, *, settings: FinetuneSettings, seed: int = 0
) -> float:
    """Fine-tune all layers of a saved classifier with a new head on ``train``; return its ``test`` accuracy.

    Args:
        model_dir (`str` or `Path`): a folder saved with ``save_pretrained`` (model + image processor).
        train (`datasets.Dataset`): target training images, columns ``image`` and ``label`` (``ClassLabel``).
        test (`datasets.Dataset`): held-out target images, same columns.
        settings (`FinetuneSettings`): the fine-tuning budget.
        seed (`int`, *optional*, defaults to 0): seed of the new head and of the batches.

    Returns:
        `float`: top-1 accuracy on ``test``, in [0, 1].
    """
    import torch
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    class_names = train.features["label"].names
    with _quiet_transformers():  # its load report lists the replaced head: expected here
        model = AutoModelForImageClassification.from_pretrained(
            model_dir, id2label=dict(enumerate(class_names)), label2id={name: i for i, name in enumerate(class_names)},
            ignore_mismatched_sizes=True,
        )  # fmt: skip
    torch.manual_seed(seed)
    _reset_head(model)
    processor = AutoImageProcessor.from_pretrained(model_dir)
    train_pixels, train_labels = _processed(train, processor)
    test_pixels, test_labels = _processed(test, processor)
    train_classifier(model, train_pixels, train_labels, settings, seed=seed)
    accuracy = evaluate_accuracy(model, test_pixels, test_labels.numpy())
    logger.info("Fine-tuned %s: test accuracy %.4f", Path(model_dir).name, accuracy)
    return accuracy


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    from transformers.utils import logging as transformers_logging

    before = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    try:
        yield
    finally:
        transformers_logging.set_verbosity(before)


def _reset_head(model: Any) -> None:
    """Re-initialise the classification head, also when the source had as many classes as the target."""
    import torch

    head = getattr(model, "classifier", None)
    if head is None:
        raise TypeError(f"{type(model).__name__} has no 'classifier' head to replace")
    for layer in head.modules():
        if isinstance(layer, torch.nn.Linear):
            layer.reset_parameters()

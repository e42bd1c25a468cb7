"""Tiny offline fixtures shared by the test modules: image classifiers and imagefolder datasets.

No test functions here. Test modules (in ``tests/`` or in a subfolder mirroring the package, such as
``tests/scoring/``) import it as ``from _tiny import make_tiny_classifier, make_imagefolder``: pytest's default
``prepend`` import mode puts the folder of ``tests/conftest.py`` on ``sys.path`` when it loads it, so this works
from any working directory and at any depth.

Tip: on a loaded 2-core machine, ``torch.set_num_threads(1)`` makes these tiny models run 10-40x faster
(the ``single_thread`` fixture of ``conftest.py``).

Every builder writes with ``save_pretrained`` / PIL into the folder it is given (e.g. ``tmp_path``) and
returns the path, so the result is exactly what ``from_pretrained`` / ``load_dataset("imagefolder")`` see.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

TINY_ARCHS = ("resnet", "vit", "convnext", "mobilenet_v2", "deit_distilled")
"""Architectures :func:`make_tiny_classifier` can build (each a few thousand parameters)."""

# Image modes written by make_imagefolder in turn: exercises the conversion to RGB.
IMAGE_MODES = ("RGB", "L", "RGBA", "P")


def _tiny_model(arch: str, num_labels: int, image_size: int):
    import transformers as tr

    labels = {"id2label": {i: f"source_{i}" for i in range(num_labels)},
              "label2id": {f"source_{i}": i for i in range(num_labels)}}
    vit_like = dict(image_size=image_size, patch_size=8, hidden_size=16, num_hidden_layers=1,
                    num_attention_heads=2, intermediate_size=32, **labels)
    if arch == "resnet":
        config = tr.ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic", **labels)
        return tr.ResNetForImageClassification(config)
    if arch == "vit":
        return tr.ViTForImageClassification(tr.ViTConfig(**vit_like))
    if arch == "convnext":
        config = tr.ConvNextConfig(hidden_sizes=[8, 16], depths=[1, 1], num_stages=2, patch_size=4, **labels)
        return tr.ConvNextForImageClassification(config)
    if arch == "mobilenet_v2":
        config = tr.MobileNetV2Config(depth_multiplier=0.25, min_depth=4, finegrained_output=False, image_size=image_size,
                                       **labels)
        return tr.MobileNetV2ForImageClassification(config)
    if arch == "deit_distilled":
        return tr.DeiTForImageClassificationWithTeacher(tr.DeiTConfig(**vit_like))
    raise ValueError(f"unknown tiny architecture {arch!r}; choose one of {TINY_ARCHS}")


def make_tiny_classifier(
    tmp_path: str | Path, *, arch: str = "resnet", num_labels: int = 5, image_size: int = 32, seed: int = 0,
    name: str | None = None,
) -> Path:
    """Save a randomly initialised (seeded) tiny image classifier + image processor; return its folder.

    The folder (``tmp_path / name``, default ``tiny-<arch>``) loads with
    ``AutoModelForImageClassification.from_pretrained`` and ``AutoImageProcessor.from_pretrained``.
    """
    import torch
    from transformers import ViTImageProcessor

    torch.manual_seed(seed)
    model = _tiny_model(arch, num_labels, image_size).eval()
    with torch.no_grad():
        for module in model.modules():
            # He init keeps the signal alive through deep nets (MobileNetV2's default std 0.02 collapses it)
            if isinstance(module, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            # BatchNorm running statistics away from identity, so eval mode is exercised
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    out = Path(tmp_path) / (name or f"tiny-{arch}")
    model.save_pretrained(out)
    ViTImageProcessor(size={"height": image_size, "width": image_size}).save_pretrained(out)
    return out


TINY_BACKBONES = ("resnet", "vit", "clip_vision")
"""Headless backbones :func:`make_tiny_backbone` can build (saved without a classification head)."""


def make_tiny_backbone(tmp_path: str | Path, *, kind: str = "resnet", image_size: int = 32, seed: int = 0,
                       name: str | None = None) -> Path:
    """Save a seeded tiny headless backbone (``ResNetModel``, ``ViTModel`` or ``CLIPVisionModel``) + image processor.

    ``resnet`` and ``vit`` are the backbones of :func:`make_tiny_classifier` with the same seed and size (so the
    classifier's features are its backbone's); ``clip_vision`` has no image-classification class in transformers.
    """
    import torch
    import transformers as tr

    if kind in ("resnet", "vit"):
        source = make_tiny_classifier(tmp_path, arch=kind, num_labels=2, image_size=image_size, seed=seed,
                                      name=f".{kind}-classifier-{seed}")
        classifier = tr.AutoModelForImageClassification.from_pretrained(source)
        model = getattr(classifier, classifier.base_model_prefix)  # the backbone, its classifier left out
    elif kind == "clip_vision":
        torch.manual_seed(seed)
        model = tr.CLIPVisionModel(tr.CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                                      num_attention_heads=2, image_size=image_size, patch_size=8))
    else:
        raise ValueError(f"unknown tiny backbone {kind!r}; choose one of {TINY_BACKBONES}")
    out = Path(tmp_path) / (name or f"tiny-{kind}-backbone")
    model.save_pretrained(out)
    tr.ViTImageProcessor(size={"height": image_size, "width": image_size}).save_pretrained(out)
    return out


def make_tiny_timm(tmp_path: str | Path, *, num_classes: int = 4, seed: int = 0, name: str | None = None) -> Path:
    """Save a seeded timm ``test_vit`` in the Hub's timm layout (``config.json`` with ``architecture`` + weights).

    ``num_classes=0`` saves a headless timm backbone. Like the Hub's own timm checkpoints, the config carries no
    ``model_args`` (transformers' ``TimmWrapper`` would pass ``num_classes`` twice).
    """
    import json

    import timm
    import torch
    from timm.models._hub import save_for_hf

    torch.manual_seed(seed)
    model = timm.create_model("test_vit", pretrained=False, num_classes=num_classes, img_size=32).eval()
    out = Path(tmp_path) / (name or f"tiny-timm-{num_classes}")
    extra = {"label_names": [f"source_{i}" for i in range(num_classes)]} if num_classes else None
    save_for_hf(model, out, model_config=extra, safe_serialization=True)
    config = json.loads((out / "config.json").read_text())
    config["model_args"].pop("num_classes", None)
    config["pretrained_cfg"]["input_size"] = [3, 32, 32]  # the image processor resizes to what the model was built for
    (out / "config.json").write_text(json.dumps(config, indent=2))
    return out


def make_image(index: int, label: int, *, size: int = 32, mode: str = "RGB", seed: int = 0):
    """A PIL image whose colour depends on the class (so features differ by class), with seeded noise."""
    from PIL import Image

    rng = np.random.default_rng([seed, label, index])
    base = np.array([(60 * label) % 256, (110 * label + 40) % 256, (200 - 50 * label) % 256], dtype=np.float64)
    pixels = np.clip(base + rng.normal(0, 40, size=(size, size, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, mode="RGB")
    return image.convert(mode) if mode != "RGB" else image


def make_imagefolder(
    tmp_path: str | Path, *, n_classes: int = 3, per_class: int | list[int] = 6, size: int = 32,
    corrupt: int = 0, mixed_modes: bool = True, seed: int = 0, name: str = "images",
) -> Path:
    """Write an ``imagefolder`` dataset ``<tmp_path>/<name>/train/class_<k>/<i>.png``; return ``<tmp_path>/<name>``.

    Args:
        per_class: images per class (an int, or one count per class for unbalanced data).
        corrupt: number of extra files in class 0 that have a ``.png`` name but are not images
            (named so that they sort last: ``zz_corrupt_<j>.png``).
        mixed_modes: cycle the image modes through RGB, L (grayscale), RGBA and P (palette).

    Load with ``datasets.load_dataset("imagefolder", data_dir=path, split="train")`` or
    ``lead_hf.data.load_image_dataset(path)``.
    """
    counts = [per_class] * n_classes if isinstance(per_class, int) else list(per_class)
    root = Path(tmp_path) / name
    for label, count in enumerate(counts):
        folder = root / "train" / f"class_{label}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            mode = IMAGE_MODES[(i + label) % len(IMAGE_MODES)] if mixed_modes else "RGB"
            make_image(i, label, size=size, mode=mode, seed=seed).save(folder / f"{i:03d}.png")
    for j in range(corrupt):
        (root / "train" / "class_0" / f"zz_corrupt_{j}.png").write_bytes(b"not an image" * (j + 1))
    return root


def decodable_pixels(folder: str | Path, processor):
    """``(pixel_values, row indices)`` of the decodable images of an imagefolder, preprocessed one by one by hand."""
    import datasets
    import torch

    from lead_hf.data import load_image_dataset, open_rgb_image

    data = load_image_dataset(folder)
    cells = data.dataset.cast_column(data.image_column, datasets.Image(decode=False))[data.image_column]
    good = [i for i, cell in enumerate(cells) if "corrupt" not in cell["path"]]
    pixels = torch.cat([processor(images=open_rgb_image(cells[i]), return_tensors="pt")["pixel_values"] for i in good])
    return pixels, good

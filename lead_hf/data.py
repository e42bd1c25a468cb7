"""Load an image-classification dataset: Hub id, local folder or ``datasets`` object -> :class:`ImageDataset`.

The image and label columns are detected (``datasets.Image`` / ``ClassLabel`` features first, then common
names) unless given, the labels are checked to be classes (not a regression target, at least 2 classes),
and an optional class-balanced, seeded subsample keeps the dataset's own order.
"""

from __future__ import annotations

import functools
import inspect
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._digest import bytes_digest, json_digest
from ._hub_access import unreachable_hub_message
from ._logging import get_logger
from ._validation import check_count
from .errors import InvalidInputError, first_line

if TYPE_CHECKING:
    import datasets
    from PIL import Image as PILImage

__all__ = [
    "ImageDataset", "decode_rgb_image", "load_image_dataset", "per_class_sample", "select_rows", "subsample_per_class",
    "open_rgb_image",
]

logger = get_logger(__name__)

IMAGEFOLDER_LAYOUT = "<dir>/<class>/<image> or <dir>/<split>/<class>/<image>, one subfolder per class"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
IMAGE_COLUMN_NAMES = ("image", "img", "images", "picture", "pixel_values")
LABEL_COLUMN_NAMES = ("label", "labels", "target", "targets", "class", "fine_label", "coarse_label", "category")


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """One split of an image-classification dataset, with resolved columns and integer labels.

    Attributes:
        dataset (`datasets.Dataset`): the rows (after subsampling); images are decoded lazily.
        image_column (`str`): the column holding the images.
        label_column (`str`): the column holding the class labels.
        class_names (`list[str]`): ``class_names[k]`` is the name of label ``k``.
        name (`str`): where the data came from (Hub id, folder, or the dataset's own name).
        split (`str`): the split that was selected.
        fingerprint (`str`): stable hash of the data, split, columns and sampling (cache key).
        labels (`np.ndarray` of shape `(n_samples,)`, int64): label of each row, in row order.
    """

    dataset: datasets.Dataset
    image_column: str
    label_column: str
    class_names: list[str]
    name: str
    split: str
    fingerprint: str
    labels: np.ndarray = field(repr=False)
    max_samples_per_class: int | None = None  # the class-balanced subsample this split was cut to, if any
    seed: int | None = None  # its seed

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        """Number of classes (``len(class_names)``)."""
        return len(self.class_names)

    @functools.cached_property
    def images_digest(self) -> str:
        """A digest of the bytes of every image (files are read, not stat-ed): part of the feature cache key.

        ``fingerprint`` follows what ``datasets`` knows (for local files: names and modification times), so an
        image rewritten in place with its old mtime would keep it; this digest does not.
        """
        import datasets
        from PIL import Image

        cells = self.dataset.select_columns([self.image_column]).cast_column(self.image_column, datasets.Image(decode=False))

        def image_bytes(cell: Any) -> bytes:
            if isinstance(cell, Image.Image):  # an in-memory dataset of PIL images: their pixels
                return cell.tobytes()
            if cell.get("bytes") is not None:
                return cell["bytes"]
            try:
                return Path(cell["path"]).read_bytes()
            except OSError:  # a missing file: extraction will report it
                return b""

        return bytes_digest(image_bytes(row[self.image_column]) for row in cells)


def load_image_dataset(
    dataset: str | Path | datasets.Dataset | datasets.DatasetDict | ImageDataset,
    *,
    split: str = "train",
    image_column: str | None = None,
    label_column: str | None = None,
    max_samples_per_class: int | None = None,
    seed: int = 0,
    trust_remote_code: bool = False,
) -> ImageDataset:
    """Load one split of an image-classification dataset and resolve its image and label columns.

    Args:
        dataset (`str`, `Path`, `datasets.Dataset`, `datasets.DatasetDict` or `ImageDataset`):
            a Hub dataset id (``"cifar10"``, ``"owner/name"``), a local ``imagefolder`` directory
            (``<dir>/<split>/<class>/<image>`` or ``<dir>/<class>/<image>``) or a folder written by
            ``save_to_disk``, a loaded dataset, or an `ImageDataset` (returned unchanged unless
            ``max_samples_per_class`` is given; its own split and columns are kept, ``split`` is not used).
        split (`str`, *optional*, defaults to ``"train"``): the split to use.
        image_column (`str`, *optional*): the image column; detected when omitted.
        label_column (`str`, *optional*): the label column; detected when omitted.
        max_samples_per_class (`int`, *optional*): keep at most this many rows per class, drawn at
            random (seeded) and kept in dataset order. ``None`` keeps every row.
        seed (`int`, *optional*, defaults to 0): seed of the subsampling.
        trust_remote_code (`bool`, *optional*, defaults to `False`): allow a Hub dataset's loading
            script, for ``datasets`` versions that still run them.

    Returns:
        `ImageDataset`: the split with its columns, class names, integer labels and fingerprint.

    Raises:
        InvalidInputError: unknown dataset or split, no image or label column, labels that are not
            classes (floats), fewer than 2 classes, or a bad ``max_samples_per_class``.

    Example:
        >>> data = load_image_dataset("path/to/imagefolder", max_samples_per_class=100)  # doctest: +SKIP
        >>> data.class_names, len(data), data.labels[:5]  # doctest: +SKIP
    """
    _check_max_samples(max_samples_per_class)
    if isinstance(dataset, ImageDataset):
        for option, value, own in (("image_column", image_column, dataset.image_column),
                                   ("label_column", label_column, dataset.label_column)):
            if value is not None and value != own:
                raise InvalidInputError(
                    f"{option}={value!r} differs from the ImageDataset's {own!r}; pass its .dataset to re-detect columns."
                )
        if max_samples_per_class is None:
            return dataset
        return subsample_per_class(dataset, max_samples_per_class, seed=seed)

    name, rows = _load_split(dataset, split=split, trust_remote_code=trust_remote_code)
    image_column = _find_image_column(rows, image_column)
    label_column = _find_label_column(rows, label_column, image_column)
    labels, class_names = _encode_labels(rows, label_column)
    base_fingerprint = getattr(rows, "_fingerprint", None) or json_digest({"name": name, "n": len(rows)})
    full = ImageDataset(
        dataset=rows, image_column=image_column, label_column=label_column, class_names=class_names,
        name=name, split=split, labels=labels,
        fingerprint=json_digest({"data": base_fingerprint, "split": split, "image": image_column, "label": label_column}),
    )
    if max_samples_per_class is None:
        return full
    return subsample_per_class(full, max_samples_per_class, seed=seed)


def per_class_sample(labels: np.ndarray, max_samples_per_class: int, *, seed: int = 0) -> np.ndarray:
    """Row indices (sorted) of at most ``max_samples_per_class`` rows of each class, drawn with ``seed``.

    Each class's rows are put in one seeded random order (it depends on the seed and the class only) and the first
    ``max_samples_per_class`` are taken: the same seed's larger sample is a superset of its smaller one, so a model
    scored on more images extends its features instead of extracting them again.
    """
    keep = []
    for label in range(int(labels.max()) + 1 if labels.size else 0):
        rows = np.flatnonzero(labels == label)
        keep.append(np.random.default_rng([seed, label]).permutation(rows)[:max_samples_per_class])
    return np.sort(np.concatenate(keep)) if keep else np.zeros(0, dtype=np.int64)


def subsample_per_class(data: ImageDataset, max_samples_per_class: int, *, seed: int = 0) -> ImageDataset:
    """Keep at most ``max_samples_per_class`` rows of each class, drawn with ``seed``, in dataset order.

    Classes with fewer rows keep all of them. The same input and seed always select the same rows, and a larger
    ``max_samples_per_class`` selects a superset (see :func:`per_class_sample`).
    """
    _check_max_samples(max_samples_per_class)
    keep = per_class_sample(data.labels, max_samples_per_class, seed=seed)
    small = [data.class_names[k] for k in range(len(data.class_names))
             if 0 < np.count_nonzero(data.labels == k) < max_samples_per_class]
    if small:
        logger.info("%d class(es) have fewer than %d rows and are kept whole: %s",
                    len(small), max_samples_per_class, small[:10])
    sampling = {"max_samples_per_class": max_samples_per_class, "seed": seed}
    return select_rows(data, keep, fingerprint=json_digest({"parent": data.fingerprint, "sampler": 2, **sampling}),
                       **sampling)


def select_rows(data: ImageDataset, rows: np.ndarray, *, fingerprint: str | None = None, **sampling: Any) -> ImageDataset:
    """The dataset restricted to ``rows`` (indices, in that order), with its columns and class names.

    Args:
        data (`ImageDataset`): the dataset.
        rows (`np.ndarray`): row indices.
        fingerprint (`str`, *optional*): the new fingerprint (default: a digest of the parent's and the rows).
        **sampling: ``max_samples_per_class`` and ``seed`` to record (default: the parent's).
    """
    rows = np.asarray(rows, dtype=np.int64)
    if fingerprint is None:
        fingerprint = json_digest({"parent": data.fingerprint, "rows": rows.tolist()})
    recorded = {"max_samples_per_class": data.max_samples_per_class, "seed": data.seed, **sampling}
    return ImageDataset(
        dataset=data.dataset.select(rows), image_column=data.image_column, label_column=data.label_column,
        class_names=list(data.class_names), name=data.name, split=data.split, labels=data.labels[rows],
        fingerprint=fingerprint, **recorded,
    )


def open_rgb_image(value: Any) -> PILImage.Image:
    """Decode one image cell (PIL image, ``{"bytes", "path"}`` dict, path or bytes) as an RGB PIL image.

    Grayscale, palette and RGBA images are converted to RGB (alpha dropped). Undecodable data raises
    whatever PIL raises (``OSError`` / ``ValueError``); callers decide whether to skip the row.
    """
    from PIL import Image

    if isinstance(value, dict):
        value = value["bytes"] if value.get("bytes") is not None else value.get("path")
    if isinstance(value, (bytes, bytearray)):
        value = Image.open(io.BytesIO(value))
    elif isinstance(value, (str, Path)):
        value = Image.open(value)
    if not isinstance(value, Image.Image):
        raise ValueError(f"not an image: {type(value).__name__}")
    value.load()
    return value if value.mode == "RGB" else value.convert("RGB")


def decode_rgb_image(value: Any) -> PILImage.Image | None:
    """:func:`open_rgb_image`, or ``None`` for data PIL cannot decode (a damaged or foreign file)."""
    try:
        return open_rgb_image(value)
    except (OSError, ValueError, SyntaxError):  # PIL's errors for damaged files
        return None


# ----------------------------------------------------------------------------------------------------------------
# loading


def _load_split(dataset: Any, *, split: str, trust_remote_code: bool) -> tuple[str, datasets.Dataset]:
    import datasets

    if isinstance(dataset, datasets.Dataset):
        return (dataset.info.dataset_name or "dataset"), dataset
    if isinstance(dataset, datasets.DatasetDict):
        return "dataset", _pick_split(dataset, split, "the DatasetDict")
    if isinstance(dataset, (datasets.IterableDataset, datasets.IterableDatasetDict)):
        raise InvalidInputError(
            "streaming (Iterable) datasets are not supported: labels are needed up front; "
            "load without streaming=True."
        )
    if not isinstance(dataset, (str, Path)):
        raise InvalidInputError(
            f"dataset must be a Hub id, a local folder, a datasets.Dataset/DatasetDict or an ImageDataset, "
            f"got {type(dataset).__name__}."
        )
    path = Path(dataset).expanduser()
    if path.is_dir():
        return str(dataset), _load_local(path, split)
    if path.is_file():
        raise InvalidInputError(f"dataset {str(dataset)!r} is a file, not a folder; pass the imagefolder directory "
                                f"({IMAGEFOLDER_LAYOUT}).")
    text = str(dataset)
    if isinstance(dataset, Path) or text.startswith((".", "/", "~")) or text.count("/") > 1 or "\\" in text:
        raise InvalidInputError(f"dataset folder {text!r} does not exist; pass an existing imagefolder directory.")
    return text, _load_hub(text, split, trust_remote_code)


def _load_local(path: Path, split: str) -> datasets.Dataset:
    import datasets

    if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.Dataset):
            return loaded
        return _pick_split(loaded, split, f"folder {str(path)!r}")
    _check_class_folders(path, split)
    # Only the wanted split's folder is read (the others are never indexed), without datasets' progress bars:
    # a local folder is not a download.
    split_dir = path / split
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        if split_dir.is_dir():
            return datasets.load_dataset("imagefolder", data_dir=str(split_dir), split="train")
        loaded = datasets.load_dataset("imagefolder", data_dir=str(path))
    except (ValueError, FileNotFoundError, datasets.exceptions.DatasetsError) as err:
        raise InvalidInputError(
            f"could not read {str(path)!r} as an imagefolder ({IMAGEFOLDER_LAYOUT}): {first_line(err)}"
        ) from err
    finally:
        if bars:
            datasets.enable_progress_bars()
    return _pick_split(loaded, split, f"folder {str(path)!r}")


def _check_class_folders(path: Path, split: str) -> None:
    """Say what an imagefolder holds when it cannot be a classification dataset (flat, or a single class)."""
    root = path / split if (path / split).is_dir() else path
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and any(f.is_file() for f in d.iterdir()))
    loose = [f for f in root.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES]
    if not classes and loose:
        raise InvalidInputError(f"{str(root)!r} holds {len(loose)} images but no class subfolders: labels come from "
                                f"the folder names ({IMAGEFOLDER_LAYOUT}).")
    if len(classes) == 1:
        raise InvalidInputError(f"{str(root)!r} has one class folder ({classes[0]!r}): ranking needs at least 2 classes "
                                f"({IMAGEFOLDER_LAYOUT}).")


def _load_hub(dataset_id: str, split: str, trust_remote_code: bool) -> datasets.Dataset:
    import datasets

    kwargs: dict[str, Any] = {}
    if trust_remote_code:
        if "trust_remote_code" in inspect.signature(datasets.load_dataset).parameters:
            kwargs["trust_remote_code"] = True
        else:
            logger.warning("datasets %s runs no loading scripts: trust_remote_code=True is ignored.",
                           datasets.__version__)
    unreachable = None if datasets.config.HF_HUB_OFFLINE else unreachable_hub_message()
    if unreachable:  # datasets would retry for tens of seconds, then call it "not found"
        raise InvalidInputError(f"cannot load dataset {dataset_id!r}: {unreachable}.")
    try:
        return datasets.load_dataset(dataset_id, split=split, **kwargs)
    except ValueError as err:
        if "split" in str(err).lower():
            raise InvalidInputError(
                f"dataset {dataset_id!r} has no split {split!r} ({first_line(err)}); pass split=<one of them>."
            ) from err
        raise InvalidInputError(f"could not load dataset {dataset_id!r}: {first_line(err)}") from err
    except (ConnectionError, FileNotFoundError, datasets.exceptions.DatasetNotFoundError) as err:
        if datasets.config.HF_HUB_OFFLINE:
            raise InvalidInputError(
                f"dataset {dataset_id!r} is not in the local cache and offline mode is on (HF_HUB_OFFLINE / "
                f"HF_DATASETS_OFFLINE; {first_line(err)}): unset it to download the dataset, check the id, or "
                "pass a local imagefolder directory."
            ) from err
        raise InvalidInputError(
            f"dataset {dataset_id!r} was not found on the Hub ({first_line(err)}); check the id (and your access "
            "token for private or gated datasets), or pass a local imagefolder directory."
        ) from err


def _pick_split(splits: datasets.DatasetDict, split: str, where: str) -> datasets.Dataset:
    if split not in splits:
        raise InvalidInputError(f"{where} has no split {split!r}; available splits: {sorted(splits)}. Pass split=...")
    return splits[split]


# ----------------------------------------------------------------------------------------------------------------
# columns and labels


def _find_image_column(rows: datasets.Dataset, image_column: str | None) -> str:
    import datasets

    columns = list(rows.column_names)
    if image_column is not None:
        if image_column not in columns:
            raise InvalidInputError(f"image_column={image_column!r} is not a column; columns: {columns}.")
        return image_column
    image_columns = [c for c in columns if isinstance(rows.features[c], datasets.Image)]
    named = [c for c in IMAGE_COLUMN_NAMES if c in image_columns or (not image_columns and c in columns)]
    if len(image_columns) == 1:
        return image_columns[0]
    if named:
        return named[0]
    if image_columns:
        raise InvalidInputError(f"several image columns {image_columns}; pass image_column=<one of them>.")
    raise InvalidInputError(f"no image column (datasets.Image feature) among columns {columns}; pass image_column=...")


def _find_label_column(rows: datasets.Dataset, label_column: str | None, image_column: str) -> str:
    import datasets

    columns = [c for c in rows.column_names if c != image_column]
    if label_column is not None:
        if label_column not in rows.column_names:
            raise InvalidInputError(f"label_column={label_column!r} is not a column; columns: {columns}.")
        return label_column
    class_columns = [c for c in columns if isinstance(rows.features[c], datasets.ClassLabel)]
    if len(class_columns) == 1:
        return class_columns[0]
    candidates = class_columns or columns
    for name in LABEL_COLUMN_NAMES:
        if name in candidates:
            return name
    if class_columns:
        raise InvalidInputError(f"several ClassLabel columns {class_columns}; pass label_column=<one of them>.")
    raise InvalidInputError(
        f"no label column found: no ClassLabel feature and none of {list(LABEL_COLUMN_NAMES)} among columns "
        f"{columns}; pass label_column=..."
    )


def _encode_labels(rows: datasets.Dataset, label_column: str) -> tuple[np.ndarray, list[str]]:
    import datasets

    feature = rows.features[label_column]
    values = np.asarray(rows.with_format("numpy")[label_column])
    if isinstance(feature, datasets.ClassLabel):
        labels, class_names = values.astype(np.int64), list(feature.names)
        if labels.size and labels.min() < 0:
            raise InvalidInputError(
                f"label column {label_column!r} has {int(np.sum(labels < 0))} unlabelled rows (label -1); "
                "use a labelled split (e.g. split='train') or filter them out."
            )
    elif values.dtype.kind == "f":
        raise InvalidInputError(
            f"label column {label_column!r} holds floats (e.g. {values[:3].tolist()}): this looks like a "
            "regression target; lead-hf ranks models for classification. Pass label_column=<a class column>."
        )
    elif values.dtype.kind in "iub" or (values.dtype.kind in "OUS" and all(isinstance(v, str) for v in values)):
        uniques, labels = np.unique(values, return_inverse=True)
        labels, class_names = labels.astype(np.int64).reshape(-1), [str(u) for u in uniques]
    else:
        raise InvalidInputError(
            f"label column {label_column!r} has type {feature} and cannot be read as classes; "
            "pass label_column=<a ClassLabel, int or str column>."
        )
    present = np.unique(labels)
    if present.size < 2:
        found = [class_names[k] for k in present]
        raise InvalidInputError(
            f"label column {label_column!r} has {present.size} class(es) {found}; at least 2 classes are needed "
            "to rank models for classification."
        )
    return labels, class_names


# ----------------------------------------------------------------------------------------------------------------
# helpers


def _check_max_samples(max_samples_per_class: Any) -> None:
    check_count(max_samples_per_class, name="max_samples_per_class", allow_none=True)


"""Penultimate features and source logits of an image model over a dataset, driven by Accelerate.

One forward pass per batch gives both: the logits are the model's output and the features are the input
of its final ``nn.Linear`` classifier, captured by a forward pre-hook. A headless backbone gives pooled
features and no logits (see :func:`lead_hf._models.load_model`). The same code runs in one process or
under ``accelerate launch`` / ``torchrun`` (the data are sharded, ``gather_for_metrics`` reassembles them in
dataset order), or, with ``shard_across_processes=False``, in each process on its own. Results are cached
on disk, keyed by model revision (for a local folder, its files' content), the images' bytes, the dataset
fingerprint (split and sampling included) and the image-processor settings, so a second run does not even
load the model.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _cache, _models
from ._logging import get_logger
from ._validation import check_count
from .data import ImageDataset, decode_rgb_image, load_image_dataset
from .errors import ExtractionError, InvalidInputError, first_line

if TYPE_CHECKING:
    import datasets
    import torch
    from accelerate import Accelerator

__all__ = ["Extraction", "concatenate", "extract"]

logger = get_logger(__name__)

# Placeholder size for undecodable images (their rows are dropped after the forward pass).
_PLACEHOLDER_SIZE = (32, 32)
# Below this many images, starting DataLoader worker processes costs more than it saves (measured ~1 s).
_MIN_ROWS_FOR_WORKERS = 256


@dataclass(frozen=True, eq=False)
class Extraction:
    """What :func:`extract` returns: features, source logits and labels of the same rows, in dataset order.

    Attributes:
        model_id (`str`): the model as it was given (Hub id or folder).
        features (`np.ndarray` of shape `(n_samples, n_features)`, float32): input of the final linear
            classifier. For distilled models with two heads (DeiT ``cls_classifier`` + ``distillation_classifier``)
            it is the concatenation ``[cls_input, distillation_input]`` (width ``2 * hidden_size``), so the
            logits stay an affine function of the features: ``logits = [W_cls, W_dist] @ f / 2 + (b_cls + b_dist) / 2``.
        logits (`np.ndarray` of shape `(n_samples, n_source_classes)`, float32, *optional*): the model's
            pre-softmax output; ``None`` for a checkpoint without a trained classification head.
        labels (`np.ndarray` of shape `(n_samples,)`, int64): target label of each row.
        n_params (`int`): number of model parameters.
        seconds (`float`): wall-clock seconds of the extraction (of the original run when ``from_cache``).
        from_cache (`bool`): whether the arrays were read from the on-disk cache.
        n_skipped (`int`): rows dropped because their image could not be decoded.
        revision (`str`, *optional*): the Hub commit sha, or ``"local-<hash>"`` for a local folder.
    """

    model_id: str
    features: np.ndarray
    logits: np.ndarray | None
    labels: np.ndarray
    n_params: int
    seconds: float
    from_cache: bool
    n_skipped: int
    revision: str | None

    def __len__(self) -> int:
        return len(self.labels)


def concatenate(parts: list[Extraction]) -> Extraction:
    """One model's extractions of several image sets, as one: rows stacked in order, seconds and skipped images
    summed, ``from_cache`` only when every part came from the cache.

    Raises:
        ValueError: no parts, or parts of different models.
    """
    if not parts or len({p.model_id for p in parts}) != 1:
        raise ValueError(f"concatenate needs extractions of one model, got {[p.model_id for p in parts]}.")
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    return Extraction(
        model_id=first.model_id, features=np.concatenate([p.features for p in parts]),
        logits=None if first.logits is None else np.concatenate([p.logits for p in parts]),
        labels=np.concatenate([p.labels for p in parts]), n_params=first.n_params,
        seconds=sum(p.seconds for p in parts), from_cache=all(p.from_cache for p in parts),
        n_skipped=sum(p.n_skipped for p in parts), revision=first.revision,
    )  # fmt: skip


def extract(
    model: str | Path,
    dataset: str | Path | datasets.Dataset | datasets.DatasetDict | ImageDataset,
    *,
    # data
    split: str = "train",
    image_column: str | None = None,
    label_column: str | None = None,
    max_samples_per_class: int | None = None,
    seed: int = 0,
    # execution
    batch_size: int = 32,
    num_workers: int | None = None,
    accelerator: Accelerator | None = None,
    shard_across_processes: bool = True,
    progress: bool = True,
    # cache and loading
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    revision: str | None = None,
    trust_remote_code: bool = False,
) -> Extraction:
    """Extract penultimate features and source logits of an image model over a dataset split.

    Args:
        model (`str` or `Path`): a Hub id or a local folder (``save_pretrained`` layout, or the Hub's timm
            layout) of an image classifier (transformers ``AutoModelForImageClassification``, timm through
            ``TimmWrapper``) or of a headless backbone (no source logits; see the README for its pooling).
        dataset: anything :func:`lead_hf.data.load_image_dataset` accepts (Hub id, imagefolder directory,
            `datasets.Dataset`/`DatasetDict`, `ImageDataset`).
        split, image_column, label_column, max_samples_per_class, seed: passed to ``load_image_dataset``.
        batch_size (`int`, *optional*, defaults to 32): images per forward pass (per process).
        num_workers (`int`, *optional*): DataLoader worker processes decoding and preprocessing images;
            default ``min(2, cpu count)``, or 0 (decode in the main process) below 256 images.
        accelerator (`accelerate.Accelerator`, *optional*): device, mixed precision and processes; a default
            ``Accelerator()`` is created when omitted. Mixed precision is used only if it enables it.
        shard_across_processes (`bool`, *optional*, defaults to `True`): split the batches between the
            accelerator's processes (all processes must call). ``False``: this process runs every image on
            its own device, so processes can extract different models at once (as :func:`lead_hf.rank_models` does).
        progress (`bool`, *optional*, defaults to `True`): show a progress bar (main process only).
        cache_dir (`str` or `Path`, *optional*): cache folder; default ``$LEAD_HF_CACHE`` or ``~/.cache/lead_hf``.
        use_cache (`bool`, *optional*, defaults to `True`): read and write the cache.
        revision (`str`, *optional*): Hub branch, tag or commit of the model.
        trust_remote_code (`bool`, *optional*, defaults to `False`): allow custom model code from the Hub.

    Returns:
        `Extraction`: ``features`` (N, D), ``logits`` (N, C_source) float32 (``None`` without a trained
        head) and ``labels`` (N,) int64, in dataset order; rows whose image cannot be decoded are dropped and counted in ``n_skipped``.

    Raises:
        InvalidInputError: bad options, dataset problems, or a cache directory that is not writable
            (raised before any work).
        ExtractionError: the model is missing, gated, not an image model, has corrupt weights, or
            runs out of memory.

    Example:
        >>> out = extract("google/vit-base-patch16-224", "path/to/imagefolder", max_samples_per_class=50)  # doctest: +SKIP
        >>> out.features.shape, out.logits.shape, out.labels.shape  # doctest: +SKIP
    """
    check_count(batch_size, name="batch_size")
    check_count(num_workers, name="num_workers", low=0, allow_none=True)
    folder = _cache.writable_cache_dir(cache_dir) if use_cache else None
    data = load_image_dataset(dataset, split=split, image_column=image_column, label_column=label_column,
                              max_samples_per_class=max_samples_per_class, seed=seed)
    spec = _models.resolve_model(model, revision=revision, trust_remote_code=trust_remote_code)
    path = None
    if folder is not None:
        path = _cache.cache_path(folder, model_ref=spec.ref, revision=spec.revision, data_fingerprint=data.fingerprint,
                                 images_digest=data.images_digest, preprocessing=spec.preprocessing)
        cached = _cache.load_cached(path)
        if cached is not None:
            logger.info("extract %s: cache hit %s", model, path)
            result = Extraction(model_id=str(model), from_cache=True, **cached)
            _warn_skipped(result, len(data))
            return result

    if accelerator is None:
        from accelerate import Accelerator

        accelerator = Accelerator()
    start = time.perf_counter()
    loaded = _models.load_model(spec, name=str(model), trust_remote_code=trust_remote_code)
    n_params = _models.count_parameters(loaded.network)
    features, logits, index, ok = _run(loaded, data, spec.processor, accelerator, batch_size=batch_size,
                                       num_workers=num_workers, progress=progress, name=str(model),
                                       shard=shard_across_processes)
    if not np.array_equal(index, np.arange(len(data))):
        raise ExtractionError(f"internal error: gathered {len(index)} rows out of order for {len(data)} images.")
    result = Extraction(
        model_id=str(model), features=features[ok], logits=logits[ok] if loaded.has_source_head else None,
        labels=data.labels[ok],
        n_params=n_params, seconds=time.perf_counter() - start, from_cache=False,
        n_skipped=int(np.count_nonzero(~ok)), revision=spec.revision,
    )
    _warn_skipped(result, len(data))
    bad = ~np.isfinite(result.features).all(axis=1)
    if bad.any():  # before caching: a broken model must not leave a cache entry
        raise ExtractionError(
            f"{str(model)!r} produced non-finite features (NaN or inf) for {int(bad.sum())} of {len(bad)} images: the "
            "model's weights or numerics are broken (e.g. NaN in the checkpoint), not the data; check or re-save it."
        )
    if path is not None:
        if shard_across_processes:
            accelerator.wait_for_everyone()
        if accelerator.is_main_process or not shard_across_processes:  # one writer per extraction
            _cache.save_cached(path, features=result.features, logits=result.logits, labels=result.labels,
                               n_params=n_params, n_skipped=result.n_skipped, seconds=result.seconds,
                               revision=result.revision)
        if shard_across_processes:
            accelerator.wait_for_everyone()
    return result


def _warn_skipped(result: Extraction, n_images: int) -> None:
    if result.n_skipped:
        cached = " (as when it was cached)" if result.from_cache else ""
        logger.warning("extract %s: skipped %d undecodable image(s) of %d%s.", result.model_id, result.n_skipped,
                       n_images, cached)


class _Rows:
    """Map-style torch dataset over the undecoded image cells; decoding happens in the collate function."""

    def __init__(self, rows: datasets.Dataset, image_column: str):
        import datasets

        self.rows = rows.select_columns([image_column]).cast_column(image_column, datasets.Image(decode=False))
        self.image_column = image_column

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> tuple[int, Any]:
        return index, self.rows[index][self.image_column]


class _Collate:
    """Decode to RGB and preprocess one batch (in the DataLoader workers); undecodable images are flagged."""

    def __init__(self, processor: Any):
        self.processor = processor

    def __call__(self, batch: list[tuple[int, Any]]) -> dict[str, torch.Tensor]:
        import torch
        from PIL import Image

        images = [decode_rgb_image(cell) for _, cell in batch]
        ok = [image is not None for image in images]
        size = next((image.size for image in images if image is not None), _PLACEHOLDER_SIZE)
        images = [image if image is not None else Image.new("RGB", size) for image in images]
        pixels = self.processor(images=images, return_tensors="pt")["pixel_values"]
        return {"pixel_values": pixels, "index": torch.tensor([i for i, _ in batch]), "ok": torch.tensor(ok, dtype=torch.int64)}


def _run(loaded: _models.LoadedModel, data: ImageDataset, processor: Any, accelerator: Accelerator, *,
         batch_size: int, num_workers: int | None, progress: bool, name: str, shard: bool) -> tuple[np.ndarray, ...]:
    """One pass over the data: (features, logits, row index, decodable flag) in dataset order.

    ``shard``: the batches are split between the processes and gathered back; otherwise this process runs them all.
    Logits are a (N, 0) placeholder when the model has no trained head.
    """
    import torch
    from accelerate.utils import tqdm

    if num_workers is None:
        num_workers = 0 if len(data) < _MIN_ROWS_FOR_WORKERS else min(2, os.cpu_count() or 1)
    loader = torch.utils.data.DataLoader(
        _Rows(data.dataset, data.image_column), batch_size=batch_size, shuffle=False,
        num_workers=num_workers, collate_fn=_Collate(processor),
    )
    if shard:
        network, loader = accelerator.prepare(loaded.network, loader)
    else:
        network = loaded.network.to(accelerator.device)
    network.eval()
    parts: dict[str, list[np.ndarray]] = {"features": [], "logits": [], "index": [], "ok": []}
    try:
        with loaded.reader.attached() as read:
            bar = tqdm(loader, main_process_only=shard, disable=not progress, desc=f"extract {name}")
            for batch in bar:
                with torch.no_grad(), (contextlib.nullcontext() if shard else accelerator.autocast()):
                    features, logits = read(network, batch["pixel_values"].to(accelerator.device), name=name)
                if logits is None:
                    logits = features.new_zeros((len(features), 0))
                values = (features.float(), logits.float(), batch["index"], batch["ok"])
                if shard:
                    values = accelerator.gather_for_metrics(values)
                for key, value in zip(parts, values, strict=True):
                    parts[key].append(value.cpu().numpy())
    except ExtractionError:
        raise
    except (torch.OutOfMemoryError, MemoryError) as err:
        raise ExtractionError(f"out of memory running {name!r} with batch_size={batch_size}: "
                              f"{first_line(err)}; lower batch_size.") from err
    except RuntimeError as err:
        raise ExtractionError(f"{name!r} failed on a batch ({first_line(err)}); check that its image processor "
                              "matches the model.") from err
    finally:
        if shard:
            _release(accelerator, network, loader)
    if not parts["index"]:
        raise InvalidInputError(f"the dataset {data.name!r} (split {data.split!r}) has no rows to extract.")
    features, logits, index, ok = (np.concatenate(parts[key]) for key in parts)
    return features, logits, index, ok.astype(bool)


def _release(accelerator: Accelerator, network: Any, loader: Any) -> None:
    """Drop the accelerator's references to our model and loader (a reused accelerator must not keep them alive)."""
    for attribute, prepared in (("_models", network), ("_dataloaders", loader)):
        registry = getattr(accelerator, attribute, None)
        if isinstance(registry, list):
            registry[:] = [item for item in registry if item is not prepared]


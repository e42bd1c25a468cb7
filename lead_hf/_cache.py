"""On-disk cache of extractions: one ``.npz`` per (model revision, dataset fingerprint, preprocessing).

Written atomically (temporary file + ``os.replace``) so that an interrupted run or a concurrent reader
never sees half a file. The key covers everything that changes the arrays: the model and its revision (for a local folder, a
digest of its files' content), the dataset fingerprint (split, columns and sampling), a digest of the
images' bytes, and the image processor.
"""

from __future__ import annotations

import os
import re
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ._digest import json_digest
from ._logging import get_logger
from .errors import InvalidInputError

logger = get_logger(__name__)

CACHE_ENV = "LEAD_HF_CACHE"
CACHE_FORMAT = 1  # bump when the stored arrays change meaning
ARRAYS = ("features", "logits", "labels")
SCALARS = ("n_params", "n_skipped", "seconds", "revision")


def default_cache_dir() -> Path:
    """``$LEAD_HF_CACHE`` if set, else ``~/.cache/lead_hf``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "lead_hf"


def writable_cache_dir(cache_dir: str | Path | None) -> Path:
    """Create the cache directory if needed and prove it writable; raise before any work if not."""
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as err:
        raise InvalidInputError(
            f"cache directory {str(folder)!r} is not writable ({err.strerror or err}); pass "
            f"cache_dir=<a writable folder> or set ${CACHE_ENV}."
        ) from err
    return folder


def cache_path(folder: Path, *, model_ref: str, revision: str | None, data_fingerprint: str, images_digest: str,
               preprocessing: dict[str, Any]) -> Path:
    """The cache file of one extraction: ``<folder>/<readable model name>--<16-hex key>.npz``."""
    payload = {"format": CACHE_FORMAT, "model": model_ref, "revision": revision, "data": data_fingerprint,
               "images": images_digest, "preprocessing": preprocessing}
    key = json_digest(payload)
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", model_ref.strip("/"))[-60:]
    return folder / f"{readable}--{key}.npz"


def load_cached(path: Path) -> dict[str, Any] | None:
    """The stored arrays and scalars, or ``None`` when there is no (readable) cache file."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            out: dict[str, Any] = {name: stored[name] for name in ARRAYS}
            out.update({name: stored[name].item() for name in SCALARS})
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):  # truncated, emptied or foreign file
        logger.warning("Cache file %s is unreadable (truncated or foreign): recomputing it.", path)
        return None
    out["revision"] = out["revision"] or None
    if out["logits"].ndim == 2 and out["logits"].shape[1] == 0:  # stored for a model without a trained head
        out["logits"] = None
    return out


def save_cached(path: Path, **values: Any) -> None:
    """Write the arrays and scalars atomically (``revision=None`` is stored as an empty string, ``logits=None`` as (N, 0))."""
    values = {**values, "revision": values.get("revision") or ""}
    if values["logits"] is None:  # no trained head: an empty (N, 0) array keeps one file layout
        values["logits"] = np.zeros((len(values["labels"]), 0), dtype=np.float32)
    write_atomically(path, lambda handle: np.savez(handle, **{name: np.asarray(values[name])
                                                              for name in (*ARRAYS, *SCALARS)}))


def write_atomically(path: Path, write: Callable[[BinaryIO], Any]) -> None:
    """Call ``write(handle)`` on a temporary file of this process beside ``path``, then move it over ``path``.

    A reader (or another process writing the same entry) never sees half a file; a failure leaves no temporary.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

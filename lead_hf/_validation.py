"""Input validation shared by every scorer, in the spirit of ``sklearn.utils.validation``.

Each check returns a fresh or read-only view the caller may not write into; errors are
:class:`~lead_hf.errors.InvalidInputError` (a ``ValueError``) that quote what was found and say
how to fix it.
"""

from __future__ import annotations

import functools
import inspect
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .errors import InvalidInputError

__all__ = [
    "check_features",
    "check_labels",
    "check_source_logits",
    "check_scorer_inputs",
    "check_number_option",
    "check_int_option",
    "check_choice_option",
    "check_bool_option",
    "is_int_value",
    "refuse_unknown_options",
]


def _prefix(scorer: str | None) -> str:
    return f"{scorer}: " if scorer else ""


def check_features(
    features: Any,
    *,
    name: str = "features",
    scorer: str | None = None,
    dtype: type = np.float64,
    min_samples: int = 1,
) -> np.ndarray:
    """Validate a 2-D finite float matrix and return it as ``dtype`` (never the caller's buffer when cast).

    Args:
        features (`array-like` of shape `(n_samples, n_features)`): the matrix to check.
        name (`str`): how the input is called in error messages.
        scorer (`str`, *optional*): the scorer's name, prefixed to error messages.
        dtype (`type`): the float type of the returned array.
        min_samples (`int`): the fewest rows accepted.

    Returns:
        `np.ndarray`: a C-contiguous array of `dtype`, read-only when it shares memory with the input.

    Raises:
        InvalidInputError: not 2-D, empty, non-numeric, or containing NaN/inf.
    """
    pre = _prefix(scorer)
    if features is None:
        raise InvalidInputError(f"{pre}{name} is None; pass an array of shape (n_samples, n_features).")
    if hasattr(features, "detach"):  # torch tensors: no autograd graph, host memory
        features = features.detach().cpu().numpy()
    arr = np.asarray(features)
    if arr.dtype.kind not in "biuf":
        raise InvalidInputError(
            f"{pre}{name} must be numeric, got dtype {arr.dtype}; convert with np.asarray(x, dtype=float)."
        )
    if arr.ndim != 2:
        hint = " Reshape with x.reshape(-1, 1) for a single feature or x.reshape(1, -1) for one sample." if arr.ndim == 1 else ""
        raise InvalidInputError(f"{pre}{name} must be 2-D (n_samples, n_features), got shape {arr.shape}.{hint}")
    if arr.shape[0] < min_samples or arr.shape[1] == 0:
        raise InvalidInputError(
            f"{pre}{name} has shape {arr.shape}; at least {min_samples} sample(s) and 1 feature are required."
        )
    out = np.ascontiguousarray(arr, dtype=dtype)
    if not np.isfinite(out.sum()):  # cheap test first, element-wise only for the message
        bad = ~np.isfinite(out)
        rows = np.flatnonzero(bad.any(axis=1))
        kind = "NaN" if np.isnan(out[bad]).any() else "inf"
        raise InvalidInputError(
            f"{pre}{name} contains {kind} values in {rows.size} row(s) (first: row {rows[0]}); "
            "drop or impute those samples before scoring."
        )
    if np.shares_memory(out, arr):
        out = out.view()
        out.flags.writeable = False
    return out


def check_labels(
    labels: Any,
    *,
    n_samples: int | None = None,
    scorer: str | None = None,
    min_classes: int = 2,
    min_samples_per_class: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Validate class labels and re-encode them as contiguous ints ``0..C-1``.

    Strings and non-contiguous integers are accepted and re-encoded in sorted order; float labels
    must hold whole numbers (a regression target is refused).

    Args:
        labels (`array-like` of shape `(n_samples,)`): class labels.
        n_samples (`int`, *optional*): the expected length (the number of feature rows).
        scorer (`str`, *optional*): the scorer's name, prefixed to error messages.
        min_classes (`int`): the fewest distinct classes accepted.
        min_samples_per_class (`int`): the fewest samples each class must have.

    Returns:
        `tuple[np.ndarray, np.ndarray]`: the encoded labels (int64, shape `(n_samples,)`) and the
        original class values (`classes[encoded] == labels`).

    Raises:
        InvalidInputError: wrong shape or length, NaN, a regression target, too few classes or samples.
    """
    pre = _prefix(scorer)
    if labels is None:
        raise InvalidInputError(f"{pre}labels is None; pass one class label per sample.")
    if hasattr(labels, "detach"):
        labels = labels.detach().cpu().numpy()
    arr = np.asarray(labels)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr.ravel()
    if arr.ndim != 1:
        raise InvalidInputError(
            f"{pre}labels must be 1-D (n_samples,), got shape {arr.shape}; "
            "pass class indices, not one-hot rows (use labels.argmax(axis=1))."
        )
    if arr.size == 0:
        raise InvalidInputError(f"{pre}labels is empty; at least {min_classes} classes are required.")
    if n_samples is not None and arr.shape[0] != n_samples:
        raise InvalidInputError(
            f"{pre}features have {n_samples} rows but labels have {arr.shape[0]} entries; "
            "pass exactly one label per feature row."
        )
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise InvalidInputError(f"{pre}labels contain NaN or inf; drop those samples or fix the labels.")
        if not np.array_equal(arr, np.round(arr)):
            raise InvalidInputError(
                f"{pre}labels look like a regression target (non-integer floats such as {arr[arr != np.round(arr)][0]!r}); "
                "transferability scores here need class labels."
            )
        arr = arr.astype(np.int64)
    elif arr.dtype.kind == "O":
        if any(v is None or (isinstance(v, float) and not np.isfinite(v)) for v in arr):
            raise InvalidInputError(f"{pre}labels contain None/NaN; drop those samples or fix the labels.")
        arr = arr.astype(str)
    classes, encoded = np.unique(arr, return_inverse=True)
    if classes.size < min_classes:
        raise InvalidInputError(
            f"{pre}labels have {classes.size} distinct class(es) ({classes[:5].tolist()}); "
            f"at least {min_classes} are required to rank models."
        )
    if min_samples_per_class > 1:
        counts = np.bincount(encoded, minlength=classes.size)
        small = np.flatnonzero(counts < min_samples_per_class)
        if small.size:
            raise InvalidInputError(
                f"{pre}class {classes[small[0]].item()!r} has {counts[small[0]]} sample(s) "
                f"({small.size} class(es) below the minimum); this score needs at least "
                f"{min_samples_per_class} per class: add samples or drop those classes."
            )
    return encoded.astype(np.int64, copy=False), classes


def check_source_logits(
    source_logits: Any, *, n_samples: int, scorer: str | None = None
) -> np.ndarray:
    """Validate the pre-trained head's logits ``(n_samples, n_source_classes)`` (float64).

    Raises:
        InvalidInputError: missing (the score needs the source head), wrong shape or non-finite.
    """
    if source_logits is None:
        raise InvalidInputError(
            f"{_prefix(scorer)}source_logits are required: this score uses the pre-trained classification "
            "head. Pass source_logits=(n_samples, n_source_classes) logits, or choose a feature-only score "
            "such as 'lead' or 'logme' for models without a head."
        )
    logits = check_features(source_logits, name="source_logits", scorer=scorer)
    if logits.shape[0] != n_samples:
        raise InvalidInputError(
            f"{_prefix(scorer)}source_logits have {logits.shape[0]} rows but there are {n_samples} samples; "
            "pass one row of logits per sample."
        )
    if logits.shape[1] < 2:
        raise InvalidInputError(f"{_prefix(scorer)}source_logits need at least 2 source classes, got {logits.shape[1]}.")
    return logits


def check_scorer_inputs(
    features: Any,
    labels: Any,
    *,
    scorer: str,
    min_samples_per_class: int = 1,
    dtype: type = np.float64,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Validate a ``(features, labels)`` pair for a scorer.

    Returns:
        `tuple`: features as `dtype` (N, D), encoded labels (N,), and the number of classes.
    """
    x = check_features(features, scorer=scorer, dtype=dtype)
    y, classes = check_labels(
        labels, n_samples=x.shape[0], scorer=scorer, min_samples_per_class=min_samples_per_class
    )
    return x, y, int(classes.size)


def _is_number(value: Any) -> bool:
    # numbers.Real covers Python and numpy scalars; bools are numbers to Python but never a valid option value.
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def is_int_value(value: Any) -> bool:
    """A Python or numpy integer, and not a bool (bools are ints to Python, never a valid count or seed)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def check_count(value: Any, *, name: str, low: int = 1, allow_none: bool = False) -> int | None:
    """Validate a count (Python or numpy integer >= ``low``, never a bool) and return it as a Python int.

    Raises:
        InvalidInputError: ``"<name> must be a positive integer (or None), got <value>"`` (non-negative for ``low=0``).
    """
    if value is None and allow_none:
        return None
    if not is_int_value(value) or value < low:
        kind = {0: "a non-negative integer", 1: "a positive integer"}.get(low, f"an integer >= {low}")
        raise InvalidInputError(f"{name} must be {kind}{' or None' if allow_none else ''}, got {value!r}.")
    return int(value)


def check_number_option(
    value: Any,
    *,
    name: str,
    scorer: str,
    low: float | None = None,
    low_inclusive: bool = False,
    high: float | None = None,
    allow_inf: bool = False,
    allow_none: bool = False,
) -> float | None:
    """Validate a real-valued option (Python or numpy scalar) and return it as a Python float.

    Raises:
        InvalidInputError: not a number, NaN, inf (unless ``allow_inf``) or outside the bounds.
    """
    if value is None and allow_none:
        return None
    bounds = "" if low is None else f" {'>=' if low_inclusive else '>'} {low:g}"
    bounds += "" if high is None else f"{' and' if bounds else ''} <= {high:g}"
    rule = f"a {'number' if allow_inf else 'finite number'}{bounds}{' or None' if allow_none else ''}"
    if not _is_number(value) or np.isnan(value) or (np.isinf(value) and not allow_inf):
        raise InvalidInputError(f"{scorer}: option {name!r} must be {rule}, got {value!r}.")
    number = float(value)
    if (low is not None and (number < low or (number == low and not low_inclusive))) or (high is not None and number > high):
        raise InvalidInputError(f"{scorer}: option {name!r} must be {rule}, got {value!r}.")
    return number


def check_int_option(value: Any, *, name: str, scorer: str, low: int | None = None, allow_none: bool = False) -> int | None:
    """Validate an integer option (Python or numpy integer, never a bool) and return it as a Python int.

    Raises:
        InvalidInputError: not an integer or below ``low``.
    """
    if value is None and allow_none:
        return None
    if not is_int_value(value) or (low is not None and value < low):
        rule = "an int" + ("" if low is None else f" >= {low}") + (" or None" if allow_none else "")
        raise InvalidInputError(f"{scorer}: option {name!r} must be {rule}, got {value!r}.")
    return int(value)


def check_choice_option(value: Any, *, name: str, scorer: str, choices: Sequence[str]) -> str:
    """Validate a string option against its valid values.

    Raises:
        InvalidInputError: ``value`` is not one of ``choices``.
    """
    if not isinstance(value, str) or value not in choices:
        raise InvalidInputError(f"{scorer}: option {name!r} must be one of {list(choices)}, got {value!r}.")
    return value


def check_bool_option(value: Any, *, name: str, scorer: str) -> bool:
    """Validate a boolean option (``True``/``False`` or a numpy bool).

    Raises:
        InvalidInputError: any other value.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidInputError(f"{scorer}: option {name!r} must be True or False, got {value!r}.")
    return bool(value)


def refuse_unknown_options(scorer: str) -> Callable[[Callable[..., float]], Callable[..., float]]:
    """Decorate a scorer ``fn(features, labels, *, source_logits=None, **keyword options)`` so that an unknown
    keyword raises :class:`InvalidInputError` listing the valid options (Python would raise a bare TypeError)."""

    def decorate(fn: Callable[..., float]) -> Callable[..., float]:
        params = inspect.signature(fn).parameters.values()
        valid = sorted(p.name for p in params if p.kind is p.KEYWORD_ONLY and p.name != "source_logits")

        @functools.wraps(fn)
        def checked(features: Any, labels: Any, **options: Any) -> float:
            unknown = sorted(set(options) - set(valid) - {"source_logits"})
            if unknown:
                raise InvalidInputError(f"{scorer}: unknown option(s) {unknown}; valid options are {valid}.")
            return fn(features, labels, **options)

        return checked

    return decorate

"""How well a transferability score ranks models: weighted Kendall tau and friends.

The field's headline metric is the weighted Kendall tau of ``scipy.stats.weightedtau`` with its
defaults (Vigna, WWW 2015): a pair of models ``(i, j)`` weighs ``1/(r_i+1) + 1/(r_j+1)``, ``r``
being the rank (0 = best) in decreasing order, so that mistakes among the best models cost most.
:func:`weighted_tau` recomputes it from that pairwise definition (no merge sort) so that the two
implementations cross-check each other in the tests.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import stats

from ._logging import get_logger
from ._validation import check_count
from .errors import InvalidInputError

__all__ = ["weighted_tau", "kendall_tau", "spearman", "pearson", "top_k_hit", "evaluate_ranking"]

logger = get_logger(__name__)

RANKING_METRICS = ("weighted_tau", "kendall_tau", "spearman", "pearson", "top1", "top3")


def _check_pair(scores: Any, truth: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate two equally long, finite, numeric 1-D arrays with at least 2 entries (float64 copies)."""
    arrays = []
    for name, values in (("scores", scores), ("truth", truth)):
        arr = np.asarray(values)
        if arr.dtype.kind not in "biuf":
            raise InvalidInputError(f"{name} must be numeric, got dtype {arr.dtype}; pass one number per model.")
        if arr.ndim != 1:
            raise InvalidInputError(f"{name} must be 1-D (one value per model), got shape {arr.shape}.")
        arr = arr.astype(np.float64)
        if not np.isfinite(arr).all():
            first = int(np.flatnonzero(~np.isfinite(arr))[0])
            raise InvalidInputError(
                f"{name} contains a non-finite value ({arr[first]!r} at position {first}); drop the failed "
                "models first (evaluate_ranking does this for you)."
            )
        arrays.append(arr)
    x, y = arrays
    if x.size != y.size:
        raise InvalidInputError(f"scores have {x.size} entries but truth has {y.size}; pass one of each per model.")
    if x.size < 2:
        raise InvalidInputError(f"at least 2 models are needed to compare rankings, got {x.size}.")
    return x, y


def _is_constant(x: np.ndarray) -> bool:
    return bool(np.all(x == x[0]))


def _sign_matrix(x: np.ndarray) -> np.ndarray:
    """``s[i, j] = sign(x_i - x_j)`` without computing differences (safe for huge values)."""
    return (x[:, None] > x[None, :]).astype(np.float64) - (x[:, None] < x[None, :])


def _one_sided_weighted_tau(x: np.ndarray, y: np.ndarray) -> float:
    """Weighted tau with ranks taken from ``x`` (ties broken by ``y``), from the pairwise definition."""
    n = x.size
    # rank 0 = the largest x, ties by the larger y, then by the later position (scipy's lexsort order;
    # the order inside a joint tie does not change the result, since those pairs count for nothing).
    descending = np.lexsort((np.arange(n), y, x))[::-1]
    rank = np.empty(n, dtype=np.float64)
    rank[descending] = np.arange(n)
    weight = 1.0 / (rank + 1.0)  # scipy's default hyperbolic weigher
    pair_weight = weight[:, None] + weight[None, :]  # additive pair weights
    sx, sy = _sign_matrix(x), _sign_matrix(y)
    # Each unordered pair appears twice in the full matrices; the factor cancels in the ratio.
    numerator = float(np.sum(pair_weight * sx * sy))
    untied_x = float(np.sum(pair_weight * (sx != 0)))
    untied_y = float(np.sum(pair_weight * (sy != 0)))
    if untied_x == 0.0 or untied_y == 0.0:  # a constant ranking: tau is undefined
        return math.nan
    return float(np.clip(numerator / math.sqrt(untied_x) / math.sqrt(untied_y), -1.0, 1.0))


def weighted_tau(scores: Any, truth: Any) -> float:
    """Weighted Kendall tau between predicted scores and ground truth, as ``scipy.stats.weightedtau``.

    Equal to ``scipy.stats.weightedtau(scores, truth)[0]`` (``rank=True``, hyperbolic weigher
    ``1/(r+1)``, additive weights): the tau computed with the ranking by ``scores`` (ties broken by
    ``truth``) and the one with the ranking by ``truth`` (ties broken by ``scores``) are averaged.
    It is recomputed from the pairwise definition in O(n²) time and memory, which is meant for
    rankings of models (up to a few thousand). Unlike scipy, NaN is refused instead of being ranked
    lowest.

    Args:
        scores (`array-like` of shape `(n_models,)`): predicted transferability scores (higher is better).
        truth (`array-like` of shape `(n_models,)`): ground truth, e.g. fine-tuned accuracies.

    Returns:
        `float`: tau in [-1, 1] (higher is better); NaN when either input is constant.

    Raises:
        InvalidInputError: non-numeric, non-1-D, non-finite or unequal-length inputs, or fewer than 2 models.

    Example:
        >>> round(weighted_tau([0.9, 0.5, 0.1, 0.3], [80.0, 70.0, 60.0, 65.0]), 6)
        1.0
    """
    x, y = _check_pair(scores, truth)
    return (_one_sided_weighted_tau(x, y) + _one_sided_weighted_tau(y, x)) / 2.0


def _correlation(fn: Any, scores: Any, truth: Any) -> float:
    x, y = _check_pair(scores, truth)
    if _is_constant(x) or _is_constant(y):  # undefined; scipy would warn and return NaN
        return math.nan
    return float(fn(x, y).statistic)


def kendall_tau(scores: Any, truth: Any) -> float:
    """Kendall's tau-b in [-1, 1] of ``scores`` against ``truth`` (``scipy.stats.kendalltau``).

    NaN when either input is constant; inputs and errors as in :func:`weighted_tau`.
    """
    return _correlation(stats.kendalltau, scores, truth)


def spearman(scores: Any, truth: Any) -> float:
    """Spearman's rank correlation in [-1, 1] of ``scores`` against ``truth`` (``scipy.stats.spearmanr``).

    NaN when either input is constant; inputs and errors as in :func:`weighted_tau`.
    """
    return _correlation(stats.spearmanr, scores, truth)


def pearson(scores: Any, truth: Any) -> float:
    """Pearson's linear correlation in [-1, 1] of ``scores`` against ``truth`` (``scipy.stats.pearsonr``).

    NaN when either input is constant; inputs and errors as in :func:`weighted_tau`.
    """
    return _correlation(stats.pearsonr, scores, truth)


def top_k_hit(scores: Any, truth: Any, k: int) -> bool:
    """Whether the truly best model is among the ``k`` best-scored ones.

    Ties count against the score: a model's predicted position is the number of *other* models
    scored at least as high, so a constant score never hits for ``k < n``. When several models
    share the best ground truth, finding any one of them is a hit.

    Args:
        scores (`array-like` of shape `(n_models,)`): predicted scores (higher is better).
        truth (`array-like` of shape `(n_models,)`): ground truth (higher is better).
        k (`int`): how many top-scored models to look at (>= 1).

    Returns:
        `bool`: True when a best model is in the predicted top ``k``.

    Raises:
        InvalidInputError: bad arrays (see :func:`weighted_tau`) or ``k`` not a positive integer.

    Example:
        >>> top_k_hit([0.2, 0.9, 0.5], [71.0, 60.0, 80.0], 2)
        True
    """
    check_count(k, name="k")
    x, y = _check_pair(scores, truth)
    best = np.flatnonzero(y == y.max())
    positions = [int(np.sum(x >= x[b])) - 1 for b in best]
    return min(positions) < k


def _as_float(model: str, value: Any, what: str) -> float:
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{what} of model {model!r} is not a number: {value!r}.") from exc


def evaluate_ranking(scores: Mapping[str, float], truth: Mapping[str, float]) -> dict[str, float]:
    """Compare a model ranking with the ground truth, matching models by name.

    Models without a finite score (failed scorers: NaN or None), without a ground truth, or with a
    non-finite ground truth are dropped with a logged warning.

    Args:
        scores (`Mapping[str, float]`): model name -> predicted score (higher is better).
        truth (`Mapping[str, float]`): model name -> ground truth, e.g. fine-tuned accuracy.

    Returns:
        `dict[str, float]`: ``weighted_tau``, ``kendall_tau``, ``spearman``, ``pearson`` and
        ``top1`` / ``top3`` (1.0 when the truly best model is in the predicted top 1 / top 3, else 0.0).

    Raises:
        InvalidInputError: a non-numeric value, or fewer than 2 models left to compare.

    Example:
        >>> evaluate_ranking({"a": 0.1, "b": 0.7, "c": 0.4}, {"a": 50.0, "b": 90.0, "c": 70.0})["top1"]
        1.0
    """
    score_values = {m: _as_float(m, v, "score") for m, v in scores.items()}
    truth_values = {m: _as_float(m, v, "ground truth") for m, v in truth.items()}
    dropped = {
        "no ground truth": sorted(set(score_values) - set(truth_values)),
        "no score": sorted(set(truth_values) - set(score_values)),
        "non-finite score (failed?)": sorted(m for m, v in score_values.items() if m in truth_values and not math.isfinite(v)),
        "non-finite ground truth": sorted(m for m, v in truth_values.items() if m in score_values and not math.isfinite(v)),
    }
    for reason, models in dropped.items():
        if models:
            logger.warning("evaluate_ranking: dropping %d model(s) with %s: %s", len(models), reason, models)
    models = sorted(
        m for m in set(score_values) & set(truth_values)
        if math.isfinite(score_values[m]) and math.isfinite(truth_values[m])
    )
    if len(models) < 2:
        raise InvalidInputError(
            f"evaluate_ranking needs at least 2 models with both a finite score and a ground truth, got "
            f"{len(models)} ({models}); scores cover {sorted(score_values)}, truth covers {sorted(truth_values)}."
        )
    x = np.array([score_values[m] for m in models])
    y = np.array([truth_values[m] for m in models])
    return {
        "weighted_tau": weighted_tau(x, y),
        "kendall_tau": kendall_tau(x, y),
        "spearman": spearman(x, y),
        "pearson": pearson(x, y),
        "top1": float(top_k_hit(x, y, 1)),
        "top3": float(top_k_hit(x, y, 3)),
    }

"""How sure a score is: its standard error over resampled images, intervals, and paired comparisons of models.

Two resampling schemes, both stratified by class and seeded by the labels alone, so that every model scored on
the same images gets the same replicates (a comparison of two models is then paired):

- LEAD: a bootstrap of its held-out evaluation (:func:`lead_hf.scoring.lead.reweighted_scores`). The probe's
  outputs are out-of-fold, so each replicate only reweights images: O(N) per replicate.
- every other score: half-sampling, the delete-d jackknife with d = N/2 (Shao and Wu, Annals of Statistics
  1989): the scorer runs on R random halves of each class. The spread of half-sample scores estimates the
  standard error of the full-sample score (for a mean, a half-sample without replacement has exactly the
  variance of the full mean), so it needs no model of the score. Each replicate costs about half a score.

Intervals are ``score +- z * standard_error``. A model "beats" another with probability ``Phi(diff / se_diff)``,
``se_diff`` from the paired replicates of the difference; two models are within noise when that probability
is below the confidence level.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import norm

from .._validation import check_labels
from ..errors import InvalidInputError

__all__ = ["ScoreSpread", "check_level", "score_with_spread", "bootstrap_weights", "half_samples", "prob_beats", "noise_groups"]

BOOTSTRAP_RESAMPLES = 200  # LEAD's replicates are O(N) each: enough for a stable standard error (~5 %)
HALF_SAMPLES = 20  # a full scorer run on half the images each: a standard error to ~16 %
DEFAULT_LEVEL = 0.9


@dataclass(frozen=True)
class ScoreSpread:
    """A score, its standard error over resampled images, and the replicates behind it.

    Attributes:
        score (`float`): the score on all the images.
        standard_error (`float`): the estimated standard deviation of the score over image samples (``nan``
            when the replicates could not be scored, e.g. a class too small to halve).
        replicates (`np.ndarray` of shape `(R,)`): the replicate scores; replicate r of two models scored on the
            same labels with the same seed used the same images, so differences of replicates are paired.
        method (`str`): ``"bootstrap"`` (LEAD) or ``"half-sample"``.
        variance_factor (`float`): the scale that turns the variance of the replicates into the variance of the
            full-sample score (1 for the bootstrap; ``m / (N - m)`` for halves of m images).
    """

    score: float
    standard_error: float
    replicates: np.ndarray = field(repr=False)
    method: str
    variance_factor: float = 1.0

    def interval(self, level: float = DEFAULT_LEVEL) -> tuple[float, float]:
        """The two-sided normal interval ``score +- z * standard_error`` at ``level`` (``nan`` ends without one)."""
        half = _z(level) * self.standard_error
        return self.score - half, self.score + half


def check_level(level: Any) -> float:
    """A confidence level as a float in (0, 1); anything else raises ``InvalidInputError`` saying what to pass."""
    if isinstance(level, bool) or not isinstance(level, (int, float, np.number)) or not 0.0 < float(level) < 1.0:
        raise InvalidInputError(f"confidence level must be a number in (0, 1), got {level!r}; e.g. 0.9 for 90 % "
                                "intervals, or None for scores without intervals.")
    return float(level)


def _z(level: float) -> float:
    return float(norm.ppf(0.5 + check_level(level) / 2.0))


def _class_members(labels: np.ndarray) -> list[np.ndarray]:
    return [np.flatnonzero(labels == k) for k in range(int(labels.max()) + 1)]


def bootstrap_weights(labels: np.ndarray, n_resamples: int, *, seed: int = 0) -> np.ndarray:
    """Stratified bootstrap counts (R, N): each class's images drawn with replacement, as many as it has.

    Args:
        labels (`np.ndarray` of shape `(N,)`): encoded classes ``0..K-1``.
        n_resamples (`int`): R.
        seed (`int`, *optional*): the same labels and seed give the same weights (paired across models).
    """
    rng = np.random.default_rng([seed, 3])
    weights = np.zeros((n_resamples, labels.shape[0]))
    for members in _class_members(labels):
        weights[:, members] = rng.multinomial(members.size, np.full(members.size, 1.0 / members.size), size=n_resamples)
    return weights


def half_samples(labels: np.ndarray, n_resamples: int, *, seed: int = 0) -> np.ndarray:
    """Row indices (R, m) of stratified half-samples: ``ceil(n_k / 2)`` random images of each class k, sorted.

    Args:
        labels (`np.ndarray` of shape `(N,)`): encoded classes ``0..K-1``.
        n_resamples (`int`): R.
        seed (`int`, *optional*): the same labels and seed give the same halves (paired across models).
    """
    rng = np.random.default_rng([seed, 4])
    classes = _class_members(labels)
    rows = [np.concatenate([rng.permutation(members)[: -(-members.size // 2)] for members in classes])
            for _ in range(n_resamples)]
    return np.sort(np.stack(rows), axis=1)


def score_with_spread(
    method: str,
    features: Any,
    labels: Any,
    *,
    source_logits: Any = None,
    seed: int = 0,
    options: Mapping[str, Any] | None = None,
) -> tuple[dict[str, float], ScoreSpread]:
    """One scorer's score, its diagnostics and its :class:`ScoreSpread` over resampled images.

    Args:
        method (`str`): a name from :func:`lead_hf.scoring.available_scorers`.
        features (`array-like` of shape `(n_samples, n_features)`): frozen features.
        labels (`array-like` of shape `(n_samples,)`): target labels.
        source_logits (`array-like`, *optional*): the pre-trained head's logits (LEEP, NCE).
        seed (`int`, *optional*, defaults to 0): seeds the resampling (not the scorer).
        options (`Mapping`, *optional*): the scorer's keyword options.

    Returns:
        `tuple[dict[str, float], ScoreSpread]`: ``{method: score, **diagnostics}`` (LEAD's ``energy0``, ...), and
        the spread. A replicate the scorer refuses (e.g. a class left with one image) makes the standard error
        ``nan``; the score itself is unaffected.

    Raises:
        Whatever the scorer raises on the full data (bad input, unknown option).
    """
    from . import get_scorer, score_with_details

    options = dict(options or {})
    values, details = score_with_details(method, features, labels, source_logits=source_logits, **options)
    encoded = check_labels(labels)[0]  # the scorer has validated them; the same sorted encoding
    if method == "lead":
        from .lead import reweighted_scores

        replicates = reweighted_scores(details, encoded, bootstrap_weights(encoded, BOOTSTRAP_RESAMPLES, seed=seed))
        factor, kind = 1.0, "bootstrap"
    else:
        fn, arrays = get_scorer(method), [np.asarray(a) for a in (features, labels)]  # converted once, not per half
        logits = None if source_logits is None else np.asarray(source_logits)
        halves = half_samples(encoded, HALF_SAMPLES, seed=seed)
        replicates = np.array([_score_rows(fn, *arrays, logits, rows, options) for rows in halves])
        kept = halves.shape[1]
        factor, kind = kept / max(encoded.shape[0] - kept, 1), "half-sample"
    spread = ScoreSpread(values[method], _standard_error(replicates, factor), replicates, kind, factor)
    return values, spread


def _score_rows(fn, features: np.ndarray, labels: np.ndarray, source_logits: np.ndarray | None, rows: np.ndarray,
                options: Mapping[str, Any]) -> float:
    """The score on a subset of rows, or ``nan`` when the scorer refuses the subset (the full score stands)."""
    subset_logits = None if source_logits is None else source_logits[rows]
    try:
        return float(fn(features[rows], labels[rows], source_logits=subset_logits, **options))
    except ValueError:
        return math.nan


def _standard_error(replicates: np.ndarray, factor: float) -> float:
    if replicates.size < 2 or not np.isfinite(replicates).all():
        return math.nan
    return float(np.sqrt(factor * replicates.var(ddof=1)))


def prob_beats(first: ScoreSpread, second: ScoreSpread) -> float:
    """The probability that ``first`` truly scores above ``second``: ``Phi(diff / se_diff)`` with ``se_diff`` from
    the paired replicates of the difference (both spreads must come from the same images and seed).

    Returns:
        `float` in [0, 1]; ``nan`` when either spread has no standard error or the replicates do not pair.
    """
    if first.method != second.method or first.replicates.shape != second.replicates.shape:
        return math.nan
    difference = first.score - second.score
    se = _standard_error(first.replicates - second.replicates, first.variance_factor)
    if math.isnan(se) or math.isnan(difference):
        return math.nan
    if se == 0.0:  # identical replicates: only the sign of the difference speaks
        return 0.5 if difference == 0.0 else float(difference > 0.0)
    return float(norm.cdf(difference / se))


def noise_groups(spreads: Sequence[ScoreSpread], *, level: float = DEFAULT_LEVEL) -> list[int]:
    """Group numbers (1 = best group) of spreads sorted best first: a model joins the group of its leader (the
    group's best model) unless the leader beats it with probability ``level`` or more; then it leads a new group.

    Returns:
        `list[int]`: one group number per spread, non-decreasing; a spread without a standard error starts a group.
    """
    check_level(level)
    groups: list[int] = []
    leader = None
    for spread in spreads:
        if leader is None or not prob_beats(leader, spread) < level:  # nan (no interval) also starts a group
            leader = spread
            groups.append(groups[-1] + 1 if groups else 1)
        else:
            groups.append(groups[-1])
    return groups

"""H-score and its Ledoit-Wolf shrinkage variant.

* H-score (Bao, Li, Huang, Liao and Zheng, "An Information-Theoretic Approach to Transferability in
  Task Transfer Learning", ICIP 2019): ``tr(pinv(cov(f)) cov(E[f | y]))``.
* Shrinkage H-score ("H-alpha"; Ibrahim, Ponomareva and Mazumder, "Newer is not always better:
  Rethinking transferability metrics, their peculiarities, stability and performance", ECML-PKDD
  2022, arXiv 2110.06893): ``tr(cov_a(f)^-1 (1 - a) cov(E[f | y]))`` with the Ledoit-Wolf shrunk
  covariance ``cov_a = (1 - a) S + a (tr(S)/D) I`` and its estimated intensity ``a``.

Both are sums over the eigenvalues ``l_i`` of the feature covariance S: with ``b_i = v_i^T cov(E[f|y])
v_i`` the between-class variance along eigenvector ``v_i``, H = ``sum b_i / l_i`` over the eigenvalues
pinv keeps, and H-alpha = ``(1 - a) sum b_i / ((1 - a) l_i + a tr(S)/D)``. Both covariances use 1/N
(tllib mixes 1/N for the Ledoit-Wolf covariance and 1/(N-1) for the between-class one, so its
H-alpha is N/(N-1) times ours; the plain H-score is scale-free). Plain H-score is unstable when D is
comparable to N (pinv of a near-singular covariance) and saturates at C - 1 when D >= N (the classes
are then separable in the covariance's range): use the shrinkage variant there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_number_option, check_scorer_inputs, refuse_unknown_options
from ..errors import InvalidInputError
from ._stats import class_means

__all__ = ["hscore", "shrinkage_hscore", "ledoit_wolf_shrinkage"]


def _covariance_spectrum(features: Any, labels: Any, scorer: str):
    """Centred features, eigenvalues of their 1/N covariance and the between-class variance along
    each eigenvector (``diag(V^T cov(E[f|y]) V)``)."""
    x, y, n_classes = check_scorer_inputs(features, labels, scorer=scorer)
    xc = x - x.mean(axis=0)
    n = xc.shape[0]
    evals, evecs = np.linalg.eigh(xc.T @ xc / n)
    means, counts = class_means(xc, y, n_classes)  # centred class means mu_c - mu
    between = np.sum(np.square((np.sqrt(counts / n)[:, None] * means) @ evecs), axis=0)
    return xc, evals, between


def ledoit_wolf_shrinkage(centred: np.ndarray, covariance_eigenvalues: np.ndarray) -> float:
    """Ledoit-Wolf intensity ``a`` for centred rows ``(N, D)`` with 1/N covariance eigenvalues given.

    ``a = min(b2, d2) / d2`` with ``d2 = |S - mu I|_F^2`` and ``b2 = (1/N^2) sum_i |x_i x_i^T - S|_F^2
    = (sum_i |x_i|^4 / N - |S|_F^2) / N`` (Ledoit and Wolf, J. Multivariate Anal. 2004).
    """
    n, d = centred.shape
    frob_sq = float(np.sum(np.square(covariance_eigenvalues)))
    mu = float(np.sum(covariance_eigenvalues)) / d
    d2 = frob_sq - d * mu**2
    if d2 <= 0:  # S is already a multiple of the identity
        return 0.0
    fourth = float(np.sum(np.square(np.einsum("ij,ij->i", centred, centred))))
    b2 = (fourth / n - frob_sq) / n
    return min(b2, d2) / d2


@refuse_unknown_options("hscore")
def hscore(features: Any, labels: Any, *, source_logits: Any = None, rcond: float | None = None) -> float:
    """H-score ``tr(pinv(cov(f)) cov(E[f|y]))`` (higher is better).

    Args:
        features (`array-like` of shape `(n_samples, n_features)`): frozen penultimate features.
        labels (`array-like` of shape `(n_samples,)`): target class labels.
        source_logits (*optional*): ignored.
        rcond (`float`, *optional*): pinv cut-off relative to the largest eigenvalue. ``None`` (default)
            is the numerical-rank tolerance ``D * machine epsilon`` of ``np.linalg.matrix_rank``;
            tllib's ``1e-15`` can keep (and invert) rounding-noise eigenvalues when D >= N.

    Returns:
        `float`: the H-score.

    Raises:
        InvalidInputError: bad inputs or a negative ``rcond``.
    """
    rcond = check_number_option(rcond, name="rcond", scorer="hscore", low=0.0, low_inclusive=True, allow_none=True)
    _, evals, between = _covariance_spectrum(features, labels, "hscore")
    if rcond is None:
        rcond = evals.size * np.finfo(np.float64).eps
    # np.linalg.pinv(hermitian=True) semantics: keep |l| above the cut-off, invert with its sign
    keep = np.abs(evals) > rcond * np.max(np.abs(evals))
    return float(np.sum(between[keep] / evals[keep]))


@refuse_unknown_options("shrinkage_hscore")
def shrinkage_hscore(features: Any, labels: Any, *, source_logits: Any = None) -> float:
    """H-score with the Ledoit-Wolf shrunk covariance ("H-alpha"; higher is better).

    Args:
        features (`array-like` of shape `(n_samples, n_features)`): frozen penultimate features.
        labels (`array-like` of shape `(n_samples,)`): target class labels.
        source_logits (*optional*): ignored.

    Returns:
        `float`: ``(1 - a) tr(cov_a(f)^-1 cov(E[f|y]))``.

    Raises:
        InvalidInputError: bad inputs, or features without any variance.
    """
    xc, evals, between = _covariance_spectrum(features, labels, "shrinkage_hscore")
    evals = np.clip(evals, 0.0, None)
    if not evals.max() > 0:
        raise InvalidInputError("shrinkage_hscore: every feature is constant (zero variance); nothing to score.")
    a = ledoit_wolf_shrinkage(xc, evals)
    shrunk = (1.0 - a) * evals + a * evals.mean()
    return float((1.0 - a) * np.sum(between / shrunk))

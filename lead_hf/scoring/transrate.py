"""TransRate: the coding-rate gain of the features from knowing the labels.

Huang, Huang, Rong, Yang and Wei, "Frustratingly Easy Transferability Estimation", ICML 2022.

With the features centred (global mean), ``TransRate = R(Z) - sum_c (n_c / n) R(Z_c)`` and the coding
rate of ``m`` rows in ``d`` dimensions at distortion ``eps``

    R(Z) = 1/2 logdet(I_d + d / (m eps^2) Z^T Z)

(the rate of Ma et al. / MCR^2 that the paper defines). Differences from tllib's
``transrate(features, labels, eps=1e-4)``: tllib scales by ``1 / (m eps)`` (no ``d``, ``eps`` not
squared) and averages the class rates with uniform weights ``1/C``; the paper weights them by the class
proportions. Numbers from the two therefore differ, and so may rankings on unbalanced data. The score
is sensitive to D and to the feature scale relative to ``eps``; it is meant for comparing models on
the same data. Each log-determinant is taken on the smaller side (Sylvester:
``det(I_d + a Z^T Z) = det(I_m + a Z Z^T)``) by a Cholesky factorisation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_number_option, check_scorer_inputs, refuse_unknown_options

__all__ = ["transrate_score", "coding_rate"]


def coding_rate(z: np.ndarray, eps: float) -> float:
    """``1/2 logdet(I + d/(m eps^2) Z^T Z)`` of ``z`` (m, d), on the cheaper of the d x d / m x m sides."""
    m, d = z.shape
    gram = z.T @ z if d <= m else z @ z.T
    system = np.eye(gram.shape[0]) + (d / (m * eps**2)) * gram
    return float(np.sum(np.log(np.diag(np.linalg.cholesky(system)))))  # 1/2 logdet = sum log diag(L)


@refuse_unknown_options("transrate")
def transrate_score(features: Any, labels: Any, *, source_logits: Any = None, eps: float = 1e-4) -> float:
    """TransRate score (higher is better).

    Args:
        features (`array-like` of shape `(n_samples, n_features)`): frozen penultimate features.
        labels (`array-like` of shape `(n_samples,)`): target class labels.
        source_logits (*optional*): ignored.
        eps (`float`): the distortion of the coding rate, in feature units.

    Returns:
        `float`: ``R(Z) - sum_c (n_c/n) R(Z_c)`` in nats.

    Raises:
        InvalidInputError: bad inputs, fewer than 2 samples in a class, or ``eps <= 0``.
    """
    eps = check_number_option(eps, name="eps", scorer="transrate", low=0.0)
    x, y, n_classes = check_scorer_inputs(features, labels, scorer="transrate", min_samples_per_class=2)
    z = x - x.mean(axis=0)
    n = z.shape[0]
    order = np.argsort(y, kind="stable")
    bounds = np.cumsum(np.bincount(y, minlength=n_classes))[:-1]
    class_rate = sum(part.shape[0] / n * coding_rate(part, eps) for part in np.split(z[order], bounds))
    return coding_rate(z, eps) - class_rate

"""GBC: Gaussian Bhattacharyya coefficient, the overlap of per-class Gaussians.

Pandy, Agostinelli, Uijlings, Ferrari and Mensink, "Transferability Estimation using Bhattacharyya
Class Separability", CVPR 2022.

Each class c is a Gaussian ``N(mu_c, Sigma_c)`` with a diagonal (per-dimension variances) or
spherical (their mean, times I) covariance, variances floored at ``min_variance``. With
``Sigma = (Sigma_c + Sigma_c') / 2`` the Bhattacharyya distance is

    D_B = 1/8 (mu_c - mu_c')^T Sigma^-1 (mu_c - mu_c') + 1/2 ln(det Sigma / sqrt(det Sigma_c det Sigma_c'))

and ``GBC = -sum_{c != c'} exp(-D_B(c, c'))`` (0 for perfectly separated classes). For the spherical
type the log-determinant term is the exact one, ``D/2 (ln s - ln s_c / 2 - ln s_c' / 2)``; the
google-research reference drops the factor D there (it sums the log of a scalar variance).

The features are first reduced by PCA to ``n_components`` dimensions (default 64, the paper's
setting). This is also what makes GBC comparable across models: D_B is a sum over dimensions, so
without a common dimension models with wider features look more separable for that reason alone.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from .._validation import check_scorer_inputs
from ..errors import InvalidInputError
from ._stats import class_means, one_hot, pca_project

__all__ = ["gbc_score"]

GAUSSIAN_TYPES = ("spherical", "diagonal")


def gbc_score(
    features: Any,
    labels: Any,
    *,
    source_logits: Any = None,
    gaussian_type: Literal["spherical", "diagonal"] = "spherical",
    n_components: int | None = 64,
    min_variance: float = 1e-4,
) -> float:
    """GBC score (higher is better, at most 0).

    Args:
        features (`array-like` of shape `(n_samples, n_features)`): frozen penultimate features.
        labels (`array-like` of shape `(n_samples,)`): target class labels.
        source_logits (*optional*): ignored.
        gaussian_type (`str`): ``"spherical"`` (default) or ``"diagonal"`` class covariances.
        n_components (`int`, *optional*): PCA dimensions to reduce the features to first; ``None``
            (or a value not below D) keeps the raw features.
        min_variance (`float`): floor of every variance (constant features would give log 0).

    Returns:
        `float`: ``-sum_{c != c'} exp(-D_B(c, c'))``.

    Raises:
        InvalidInputError: bad inputs or options, or fewer than 2 samples in a class.
    """
    if gaussian_type not in GAUSSIAN_TYPES:
        raise InvalidInputError(f"gbc: gaussian_type must be one of {GAUSSIAN_TYPES}, got {gaussian_type!r}.")
    if n_components is not None and (not isinstance(n_components, int) or n_components < 1):
        raise InvalidInputError(f"gbc: n_components must be a positive int or None, got {n_components!r}.")
    if not min_variance > 0:
        raise InvalidInputError(f"gbc: min_variance must be > 0, got {min_variance!r}.")
    x, y, n_classes = check_scorer_inputs(features, labels, scorer="gbc", min_samples_per_class=2)
    if n_components is not None and n_components < x.shape[1]:
        x = pca_project(x, n_components=n_components)
    means, counts = class_means(x, y, n_classes)
    variances = one_hot(y, n_classes).T @ np.square(x - means[y]) / counts[:, None]  # 1/n_c, as the paper
    variances = np.maximum(variances, min_variance)
    if gaussian_type == "spherical":
        variances = np.broadcast_to(variances.mean(axis=1, keepdims=True), variances.shape)
    log_var = np.log(variances)
    total = 0.0
    for c in range(n_classes):  # one row of the C x C distance matrix at a time: O(C D) memory
        avg = (variances[c] + variances) / 2
        distance = np.sum(np.square(means[c] - means) / avg, axis=1) / 8 + 0.5 * np.sum(
            np.log(avg) - 0.5 * (log_var[c] + log_var), axis=1
        )
        coefficient = np.exp(-distance)
        total += coefficient.sum() - coefficient[c]
    return float(-total)

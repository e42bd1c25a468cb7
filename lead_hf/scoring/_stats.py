"""Small statistics shared by the baseline scores: one-hot targets, class means and PCA.

Everything is float64 and vectorised; inputs are never written into.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InvalidInputError

__all__ = ["working_dtype", "one_hot", "class_means", "pca_project"]


def working_dtype(features: Any) -> type:
    """float32 for float32 input (no float64 copy of a large matrix), float64 for anything else."""
    return np.float32 if getattr(features, "dtype", None) == np.float32 else np.float64


def one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """``(N, n_classes)`` float64 indicator matrix of the encoded ``labels`` (ints in ``0..n_classes-1``)."""
    out = np.zeros((labels.shape[0], n_classes))
    out[np.arange(labels.shape[0]), labels] = 1.0
    return out


def class_means(x: np.ndarray, labels: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-class means ``(n_classes, D)`` and counts ``(n_classes,)`` of the rows of ``x``."""
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    sums = one_hot(labels, n_classes).T @ x
    return sums / counts[:, None], counts


def pca_project(
    x: np.ndarray, *, n_components: int | None = None, explained_variance: float | None = None
) -> np.ndarray:
    """Centre ``x`` (N, D) and project it on its leading principal axes.

    Exactly one of ``n_components`` (capped at the rank bound ``min(N, D)``) or ``explained_variance``
    (the smallest number of axes whose variance ratio reaches it) selects the axes. The
    eigendecomposition is of the smaller of the D x D scatter and the N x N Gram matrix, which share
    their non-zero spectrum.

    Returns:
        `np.ndarray`: the ``(N, k)`` float64 scores, axes by decreasing variance.
    """
    if (n_components is None) == (explained_variance is None):
        raise InvalidInputError("pca_project needs exactly one of n_components or explained_variance.")
    xc = np.asarray(x, dtype=np.float64) - np.mean(x, axis=0, dtype=np.float64)
    n, d = xc.shape
    if d <= n:
        evals, evecs = np.linalg.eigh(xc.T @ xc)
    else:
        evals, evecs = np.linalg.eigh(xc @ xc.T)
    evals, evecs = np.clip(evals[::-1], 0.0, None), evecs[:, ::-1]
    if n_components is not None:
        k = min(int(n_components), n, d)
    else:
        ratio = np.cumsum(evals) / max(evals.sum(), np.finfo(np.float64).tiny)
        k = int(np.searchsorted(ratio, explained_variance - 1e-12) + 1)
        k = min(k, n, d)
    if d <= n:
        return xc @ evecs[:, :k]
    # Gram route: scores are U * singular values.
    return evecs[:, :k] * np.sqrt(evals[:k])

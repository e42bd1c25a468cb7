"""Batched one-vs-rest least-squares SVM (ridge regression on +-1 targets) for LEAD's initial probe.

A least-squares SVM with a linear kernel and an unpenalised bias is ridge regression of the +-1
one-vs-rest targets on the features (Suykens and Vandewalle, "Least squares support vector machine
classifiers", Neural Processing Letters 1999). All K classes share the same D x D system, so one
Cholesky factorisation solves every class at once. Out-of-fold decision values need no refit on the
raw data: the training Gram of a fold is the full Gram minus the fold's Gram; exact leave-one-out
values come from the hat-matrix diagonal. The feature matrix is never copied whole: standardisation
is folded into the algebra and X^T X is accumulated in float64 over row chunks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import blas, cho_factor, cho_solve

__all__ = ["FeatureMoments", "feature_moments", "standardized_matvec", "ovr_targets", "stratified_folds", "ridge_ovr_decision"]

CHUNK_ROWS = 4096  # float64 chunk of 4096 x 2048 = 64 MiB: bounded extra memory at any N


@dataclass(frozen=True)
class FeatureMoments:
    """Column mean and scale used to standardise features without copying them."""

    mean: np.ndarray  # (D,) float64
    scale: np.ndarray  # (D,) float64, 1 for constant columns (they are 0 after centring)


def _chunks(n: int, size: int = CHUNK_ROWS):
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def feature_moments(x: np.ndarray, *, standardize: bool) -> FeatureMoments:
    """Column mean and (if ``standardize``) standard deviation of ``x`` (N, D), in float64 chunks."""
    n, d = x.shape
    total = np.zeros(d)
    for rows in _chunks(n):
        total += x[rows].sum(axis=0, dtype=np.float64)
    mean = total / n
    if not standardize:
        return FeatureMoments(mean, np.ones(d))
    sq = np.zeros(d)
    for rows in _chunks(n):
        sq += np.square(x[rows] - mean).sum(axis=0)
    std = np.sqrt(sq / n)
    # Dead units (constant columns) carry no information; scale 1 keeps them at exactly 0.
    return FeatureMoments(mean, np.where(std > 1e-12 * max(std.max(), 1.0), std, 1.0))


def standardized_matvec(x: np.ndarray, moments: FeatureMoments, vector: np.ndarray) -> np.ndarray:
    """``((x - mean) / scale) @ vector`` (N,) in float64 row chunks, without a standardised copy of x."""
    w = vector / moments.scale
    out = np.empty(x.shape[0])
    for rows in _chunks(x.shape[0]):
        out[rows] = x[rows].astype(np.float64) @ w
    return out - moments.mean @ w


def _standardized(x: np.ndarray, rows, moments: FeatureMoments) -> np.ndarray:
    """Standardised chunk in the input's float type: float32 input keeps fast single-precision GEMMs,
    whose per-chunk sums are then accumulated in float64."""
    z = x[rows] - moments.mean.astype(x.dtype)
    z /= moments.scale.astype(x.dtype)
    return z


def ovr_targets(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """One-vs-rest targets (N, K): +1 for the sample's class, -1 elsewhere."""
    y = -np.ones((labels.shape[0], n_classes))
    y[np.arange(labels.shape[0]), labels] = 1.0
    return y


def stratified_folds(order_key: np.ndarray, labels: np.ndarray, n_folds: int) -> np.ndarray:
    """Fold index (N,) per sample: within each class, samples sorted by ``order_key`` are dealt round-robin.

    The key is a function of the sample's content, so the folds do not depend on the row order of
    the input (LEAD is invariant to shuffling the dataset) and every fold is stratified.
    """
    folds = np.empty(labels.shape[0], dtype=np.int64)
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        members = members[np.lexsort((members, order_key[members]))]
        folds[members] = np.arange(members.size) % n_folds
    return folds


def _solve(gram_c: np.ndarray, cross_c: np.ndarray, reg: float) -> tuple[np.ndarray, tuple]:
    """Ridge weights (D, K) for a centred Gram and cross-product; the penalty is relative to trace/D."""
    d = gram_c.shape[0]
    alpha = reg * max(np.trace(gram_c) / d, np.finfo(float).tiny)
    factor = cho_factor(gram_c + alpha * np.eye(d), lower=True, check_finite=False)
    return cho_solve(factor, cross_c, check_finite=False), factor


def _group_stats(x, targets, index, moments):
    """Gram, column sums, X^T Y and target sums of the standardised rows ``index`` (float64)."""
    d = x.shape[1]
    gram, col_sum, cross = np.zeros((d, d)), np.zeros(d), np.zeros((d, targets.shape[1]))
    for part in _chunks(index.size):
        rows = index[part]
        z = _standardized(x, rows, moments)
        gram += _syrk(z)
        col_sum += z.sum(axis=0, dtype=np.float64)
        cross += z.T @ targets[rows].astype(z.dtype)
    gram = np.triu(gram) + np.triu(gram, 1).T  # syrk filled the upper triangle only
    return gram, col_sum, cross, targets[index].sum(axis=0), index.size


def _syrk(z: np.ndarray) -> np.ndarray:
    """Upper triangle of ``z^T z`` by BLAS syrk (half the flops of a GEMM), in z's float type."""
    syrk = blas.ssyrk if z.dtype == np.float32 else blas.dsyrk
    return syrk(1.0, z.T, trans=0)  # z.T of a C-ordered chunk is Fortran-ordered: no copy


def _fit(gram, col_sum, cross, y_sum, n, reg):
    """Ridge with an unpenalised bias from raw sums: centre the statistics, then solve."""
    mean = col_sum / n
    y_mean = y_sum / n
    gram_c = gram - n * np.outer(mean, mean)
    cross_c = cross - n * np.outer(mean, y_mean)
    weights, factor = _solve(gram_c, cross_c, reg)
    return weights, y_mean - mean @ weights, factor


def _predict(x, rows, moments, weights, bias):
    # (x - mu) / s @ W == x @ (W / s) - mu @ (W / s): no standardised copy of x is needed.
    w = weights / moments.scale[:, None]
    # In the input's float type: float32 features keep a single-precision GEMM (values are O(1)).
    return x[rows] @ w.astype(x.dtype) - (moments.mean @ w - bias)


def ridge_ovr_decision(
    x: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    *,
    cv: int | str,
    reg: float,
    moments: FeatureMoments,
    order_key: np.ndarray,
) -> np.ndarray:
    """Decision values (N, K) of a one-vs-rest least-squares SVM, in-sample or out-of-sample.

    Args:
        x (`np.ndarray` of shape `(N, D)`): features (float32 or float64; never copied whole).
        labels (`np.ndarray` of shape `(N,)`): classes ``0..K-1``.
        n_classes (`int`): K.
        cv (`int` or `"loo"`): 0 for in-sample values, ``k >= 2`` for stratified k-fold out-of-fold
            values, ``"loo"`` for exact leave-one-out values.
        reg (`float`): ridge penalty relative to the mean feature variance (alpha = reg * trace(C) / D).
        moments (`FeatureMoments`): column centring and scaling (from :func:`feature_moments`),
            folded into the algebra.
        order_key (`np.ndarray` of shape `(N,)`): content-based key that assigns the folds.

    Returns:
        `np.ndarray` of shape `(N, K)`, float64: decision values, +1-ish for the predicted class.
    """
    targets = ovr_targets(labels, n_classes)
    n = x.shape[0]
    out = np.empty((n, n_classes))
    if cv == 0 or cv == "loo":
        weights, bias, factor = _fit(*_group_stats(x, targets, np.arange(n), moments), reg)
        for rows in _chunks(n):
            out[rows] = _predict(x, rows, moments, weights, bias)
        if cv == "loo":
            # Exact LOO for ridge with an unpenalised bias: h_ii = 1/n + z_i^T (C + aI)^-1 z_i (centred z),
            # and the held-out prediction is (yhat_i - h_ii y_i) / (1 - h_ii).
            for rows in _chunks(n):
                z = _standardized(x, rows, moments).astype(np.float64)  # centred on the full-data mean
                h = 1.0 / n + np.einsum("ij,ij->i", z, cho_solve(factor, z.T, check_finite=False).T)
                out[rows] = (out[rows] - h[:, None] * targets[rows]) / (1.0 - h)[:, None]
        return out
    folds = stratified_folds(order_key, labels, cv)
    stats = [_group_stats(x, targets, np.flatnonzero(folds == f), moments) for f in range(cv)]
    total = [sum(s[i] for s in stats) for i in range(5)]
    for f, held_out in enumerate(stats):
        train = [t - h for t, h in zip(total, held_out, strict=True)]  # training Gram = full Gram - fold Gram
        weights, bias, _ = _fit(*train, reg)
        index = np.flatnonzero(folds == f)
        for part in _chunks(index.size):
            out[index[part]] = _predict(x, index[part], moments, weights, bias)
    return out

"""Batched one-vs-rest least-squares SVM (ridge regression on +-1 targets) for LEAD's initial probe.

A least-squares SVM with a linear kernel and an unpenalised bias is ridge regression of the +-1
one-vs-rest targets on the features (Suykens and Vandewalle, "Least squares support vector machine
classifiers", Neural Processing Letters 1999). All K classes share the same D x D system, so one
Cholesky factorisation solves every class at once. Out-of-fold decision values need no refit on the
raw data: the training Gram of a fold is the full Gram minus the fold's Gram; exact leave-one-out
values come from the hat-matrix diagonal. The feature matrix is never copied whole: each row chunk is
only centred, one BLAS syrk per chunk accumulates the Gram, the cross-product with the targets and the
column sums together (in the input's float type, flushed to float64 every few chunks), and the column
scaling is applied to those float64 sums.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import blas, cho_factor, cho_solve

__all__ = ["FeatureMoments", "feature_moments", "standardized_matvec", "ovr_targets", "stratified_folds", "ridge_ovr_decision"]

CHUNK_ROWS = 4096  # a chunk of 4096 x 2048 is 32 MiB in float32: bounded extra memory at any N
FLUSH_CHUNKS = 8  # chunks summed by BLAS in the input's float type before a float64 flush
MOMENT_ROWS = 256  # a block of the column-moment passes stays in cache


@dataclass(frozen=True)
class FeatureMoments:
    """Column mean and scale used to standardise features without copying them."""

    mean: np.ndarray  # (D,) float64
    scale: np.ndarray  # (D,) float64, 1 for constant columns (they are 0 after centring)


def _chunks(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` by scipy's BLAS (gemm in the inputs' common float type). The Cholesky solves use scipy's
    OpenBLAS; numpy ships its own copy, whose idle worker threads spin on the cores right after a numpy GEMM.
    Keeping every product of the probe in one library halves LEAD's time at the zoo's sizes on 2 cores."""
    dtype = np.result_type(a, b)
    gemm = blas.sgemm if dtype == np.float32 else blas.dgemm
    # BLAS takes Fortran order: the transposes of C-ordered operands are, so (b^T a^T)^T needs no copy.
    return gemm(1.0, b.astype(dtype, copy=False).T, a.astype(dtype, copy=False).T).T


def _column_sums(block: np.ndarray) -> np.ndarray:
    """Column sums of a float32/float64 block as a float64 vector (a BLAS GEMV, unlike ``sum(axis=0)``)."""
    return (np.ones(block.shape[0], dtype=block.dtype) @ block).astype(np.float64)


def feature_moments(x: np.ndarray) -> FeatureMoments:
    """Column mean and standard deviation of ``x`` (N, D).

    Corrected two-pass algorithm over cache-sized blocks in the input's float type, each block's sums
    accumulated in float64: a first mean, then the sums of the values centred on it, which both correct
    the mean and give the variance without cancellation (Chan, Golub and LeVeque, 1983).
    """
    n, d = x.shape
    shift = (sum(_column_sums(x[rows]) for rows in _chunks(n, MOMENT_ROWS)) / n).astype(x.dtype)
    deviation, sq = np.zeros(d), np.zeros(d)
    for rows in _chunks(n, MOMENT_ROWS):
        centred = np.subtract(x[rows], shift)
        deviation += _column_sums(centred)
        sq += _column_sums(np.square(centred, out=centred))
    correction = deviation / n
    std = np.sqrt(np.maximum(sq / n - correction**2, 0.0))
    # The mean is rounded to the input's float type, so chunks centred in that type are centred exactly on it.
    mean = (shift + correction).astype(x.dtype).astype(np.float64)
    # Dead units (constant columns) carry no information; scale 1 keeps them at exactly 0.
    return FeatureMoments(mean, np.where(std > 1e-12 * max(std.max(), 1.0), std, 1.0))


def standardized_matvec(x: np.ndarray, moments: FeatureMoments, vector: np.ndarray) -> np.ndarray:
    """``((x - mean) / scale) @ vector`` (N,) by one GEMV in the input's float type, without a standardised copy."""
    w = vector / moments.scale
    return (x @ w.astype(x.dtype)).astype(np.float64) - moments.mean @ w


def _standardized(x: np.ndarray, rows, moments: FeatureMoments) -> np.ndarray:
    """Standardised chunk in float64 (the exact leave-one-out path)."""
    return (x[rows] - moments.mean) / moments.scale


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
    """Ridge weights (D, K) from the upper triangle of a centred Gram (overwritten) and the cross-product;
    the penalty is relative to trace/D."""
    d = gram_c.shape[0]
    gram_c.flat[:: d + 1] += reg * max(np.trace(gram_c) / d, np.finfo(float).tiny)
    factor = cho_factor(gram_c, lower=False, overwrite_a=True, check_finite=False)  # reads the upper triangle
    return cho_solve(factor, cross_c, check_finite=False), factor


def _centred_chunks(x: np.ndarray, index: np.ndarray | None, shift: np.ndarray, spare_columns: int = 0):
    """Yield ``(part, block)`` over the rows ``index`` of x (all rows if None) by chunks: ``block[:, :D]`` holds
    ``x[rows] - shift`` in the input's float type, in one reused buffer with ``spare_columns`` more columns.

    Centring before any product keeps float32 exact enough when a column's mean is large against its spread.
    """
    n_rows, d = (x.shape[0] if index is None else index.size), x.shape[1]
    buffer = np.empty((min(CHUNK_ROWS, n_rows), d + spare_columns), dtype=x.dtype)
    # Gathering into a contiguous buffer, then centring, is twice as fast as gathering into a strided one.
    gathered = None if index is None else np.empty((buffer.shape[0], d), dtype=x.dtype)
    for part in _chunks(n_rows, CHUNK_ROWS):
        size = part.stop - part.start
        rows = x[part] if index is None else np.take(x, index[part], axis=0, out=gathered[:size], mode="clip")
        block = buffer[:size]
        np.subtract(rows, shift, out=block[:, :d])
        yield part, block


def _augmented_sums(x: np.ndarray, targets: np.ndarray, index: np.ndarray | None, shift: np.ndarray) -> np.ndarray:
    """Upper triangle of ``M = A^T A`` (float64) for ``A = [x - shift | targets | 1]`` over the rows ``index``
    (all rows if None): the Gram, the cross-product with the targets and the column sums in one matrix.

    One syrk per chunk accumulates it in place in the input's float type (float32 keeps single-precision
    BLAS); runs of ``FLUSH_CHUNKS`` chunks are summed in that type, then flushed to float64. Sums of row
    groups add up, so the sums of a training set are those of all rows minus those of the held-out fold.
    """
    d, k = x.shape[1], targets.shape[1]
    partial = np.zeros((d + k + 1,) * 2, dtype=x.dtype, order="F")
    total = np.zeros(partial.shape, order="F")  # Fortran order: its Gram block copies straight into LAPACK
    syrk = blas.ssyrk if x.dtype == np.float32 else blas.dsyrk
    for i, (part, block) in enumerate(_centred_chunks(x, index, shift, spare_columns=k + 1)):
        block[:, d:-1] = targets[part] if index is None else targets[index[part]]
        block[:, -1] = 1.0
        partial = syrk(1.0, block.T, beta=1.0, c=partial, trans=0, overwrite_c=1)  # block.T: no copy
        if (i + 1) % FLUSH_CHUNKS == 0:
            total += partial
            partial[:] = 0.0
    return total + partial


def _fit(sums: np.ndarray, n_rows: int, moments: FeatureMoments, reg: float):
    """Ridge with an unpenalised bias on the standardised features, from the augmented sums of a row group
    (see :func:`_augmented_sums`, shifted by ``moments.mean``): centre on the group's own mean, scale the
    columns (``Z^T Z = S^-1 Xc^T Xc S^-1``), solve. Returns weights (D, K) and bias (K,) in standardised
    units, and the Cholesky factor."""
    d = moments.mean.size
    inv_scale = 1.0 / moments.scale
    mean, y_mean = sums[:d, -1] / n_rows, sums[d:-1, -1] / n_rows
    # D x D work in place (Fortran order, as LAPACK wants it): copy, rank-1 centring (BLAS syr), scaling.
    gram_c = blas.dsyr(-float(n_rows), mean, a=np.asfortranarray(sums[:d, :d]), lower=0, overwrite_a=1)
    gram_c *= inv_scale[:, None]
    gram_c *= inv_scale[None, :]
    cross_c = (sums[:d, d:-1] - n_rows * np.outer(mean, y_mean)) * inv_scale[:, None]
    weights, factor = _solve(gram_c, cross_c, reg)
    return weights, y_mean - (mean * inv_scale) @ weights, factor


def _predict(x: np.ndarray, index: np.ndarray | None, shift: np.ndarray, moments: FeatureMoments, weights, bias):
    """Decision values (rows, K), float64, of the rows ``index`` (all rows if None) for weights and bias in
    standardised units: ``(x - mean) / s @ W + b == (x - mean) @ (W / s) + b``, one GEMM per centred chunk
    in the input's float type."""
    scaled = (weights / moments.scale[:, None]).astype(x.dtype)
    out = np.empty((x.shape[0] if index is None else index.size, weights.shape[1]))
    for part, block in _centred_chunks(x, index, shift):
        out[part] = _matmul(block, scaled)
    return out + bias


def _dual_fit_predict(gram: np.ndarray, targets: np.ndarray, train: np.ndarray, test: np.ndarray, reg: float, d: int):
    """Ridge with an unpenalised bias in kernel form, from the Gram ``Z Z^T`` of standardised rows: the
    training kernel centred on the training rows' mean, ``W = Zc^T (Kc + alpha I)^-1 (Y - mean)``; returns
    the decision values of ``test`` (rows of the Gram), the Cholesky factor of ``Kc + alpha I`` and ``alpha``."""
    system = gram[np.ix_(train, train)]  # a copy, centred in place: (z_i - mu) . (z_j - mu)
    row_mean = system.mean(axis=1)
    grand = row_mean.mean()
    system -= row_mean[:, None]
    system -= row_mean[None, :]
    system += grand
    alpha = reg * max(np.trace(system) / d, np.finfo(float).tiny)
    system.flat[:: train.size + 1] += alpha
    # The transpose of the symmetric system is the same matrix, in the Fortran order LAPACK takes without a copy.
    factor = cho_factor(system.T, lower=False, overwrite_a=True, check_finite=False)
    y_mean = targets[train].mean(axis=0)
    coef = cho_solve(factor, targets[train] - y_mean, check_finite=False)
    cross = gram[np.ix_(test, train)]
    cross_c = cross - cross.mean(axis=1)[:, None] - row_mean[None, :] + grand
    return _matmul(cross_c, coef) + y_mean, factor, alpha


def _standardized_gram(x: np.ndarray, moments: FeatureMoments) -> np.ndarray:
    """``Z Z^T`` (N, N), float64, of the standardised rows: one syrk in the input's float type (the mean is
    rounded to it, so the centring is exact), then mirrored from the upper triangle."""
    z = np.subtract(x, moments.mean.astype(x.dtype))
    z /= moments.scale.astype(x.dtype)
    syrk = blas.ssyrk if x.dtype == np.float32 else blas.dsyrk
    upper = syrk(1.0, z).astype(np.float64)  # C = Z Z^T, upper triangle filled
    return np.triu(upper) + np.triu(upper, 1).T


def _dual_decision(x, targets, labels, *, cv, reg, moments, order_key) -> np.ndarray:
    """:func:`ridge_ovr_decision` when D > N: the same ridge solved on the N x N Gram (O(N^2 D + N^3)
    instead of O(N D^2 + D^3)); the penalty ``reg * trace / D`` is the same, as ``trace(Zc^T Zc) = trace(Kc)``."""
    n, d = x.shape
    gram = _standardized_gram(x, moments)
    every = np.arange(n)
    if cv == 0 or cv == "loo":
        out, factor, alpha = _dual_fit_predict(gram, targets, every, every, reg, d)
        if cv == "loo":
            # Hat matrix of ridge with an unpenalised bias: 1/n + Kc (Kc + aI)^-1 = 1/n + I - a (Kc + aI)^-1.
            h = 1.0 / n + 1.0 - alpha * np.diag(cho_solve(factor, np.eye(n), check_finite=False))
            out = (out - h[:, None] * targets) / (1.0 - h)[:, None]
        return out
    out = np.empty((n, targets.shape[1]))
    folds = stratified_folds(order_key, labels, cv)
    for f in range(cv):
        test = np.flatnonzero(folds == f)
        out[test] = _dual_fit_predict(gram, targets, np.flatnonzero(folds != f), test, reg, d)[0]
    return out


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
        x (`np.ndarray` of shape `(N, D)`): features (float32 or float64; never copied whole when D <= N;
            when D > N the N x N Gram of a standardised float64 copy is the smaller system).
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
    solver = _dual_decision if x.shape[1] > x.shape[0] else _primal_decision  # the smaller system
    return solver(x, targets, labels, cv=cv, reg=reg, moments=moments, order_key=order_key)


def _primal_decision(x, targets, labels, *, cv, reg, moments, order_key) -> np.ndarray:
    """:func:`ridge_ovr_decision` on the D x D system, from chunked sums (never a copy of ``x``)."""
    n, n_classes = x.shape[0], targets.shape[1]
    shift = moments.mean.astype(x.dtype)  # exact: feature_moments rounds the mean to the input's float type
    if cv == 0 or cv == "loo":
        weights, bias, factor = _fit(_augmented_sums(x, targets, None, shift), n, moments, reg)
        out = _predict(x, None, shift, moments, weights, bias)
        if cv == "loo":
            # Exact LOO for ridge with an unpenalised bias: h_ii = 1/n + z_i^T (C + aI)^-1 z_i (centred z),
            # and the held-out prediction is (yhat_i - h_ii y_i) / (1 - h_ii).
            for rows in _chunks(n, CHUNK_ROWS):
                z = _standardized(x, rows, moments)  # centred on the full-data mean
                h = 1.0 / n + np.einsum("ij,ij->i", z, cho_solve(factor, z.T, check_finite=False).T)
                out[rows] = (out[rows] - h[:, None] * targets[rows]) / (1.0 - h)[:, None]
        return out
    out = np.empty((n, n_classes))
    folds = stratified_folds(order_key, labels, cv)
    fold_rows = [np.flatnonzero(folds == f) for f in range(cv)]
    fold_sums = [_augmented_sums(x, targets, rows, shift) for rows in fold_rows]
    all_sums = sum(fold_sums)
    for rows, held_out in zip(fold_rows, fold_sums, strict=True):
        # The training sums are all sums minus the held-out fold's: no pass over the training rows.
        weights, bias, _ = _fit(all_sums - held_out, n - rows.size, moments, reg)
        out[rows] = _predict(x, rows, shift, moments, weights, bias)
    return out

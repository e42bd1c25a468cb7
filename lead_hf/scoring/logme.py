"""LogME: the maximum log evidence of a Bayesian linear head on frozen features.

You, Liu, Wang and Long, "LogME: Practical Assessment of Pre-trained Models for Transfer Learning",
ICML 2021; "Ranking and Tuning Pre-trained Models", JMLR 2022.

For every class k, the one-vs-rest 0/1 target ``y_k`` is regressed on the features with the prior
``w ~ N(0, alpha^-1 I)`` and noise ``N(0, beta^-1)``. The log evidence of ``(alpha, beta)``,

    L = D/2 log alpha + N/2 log beta - 1/2 log det A - beta/2 |y - F m|^2 - alpha/2 |m|^2 - N/2 log 2 pi,
    A = alpha I + beta F^T F,   m = beta A^-1 F^T y,

is maximised by MacKay's fixed point ``gamma = sum beta s_i / (alpha + beta s_i)``,
``alpha = gamma / |m|^2``, ``beta = (N - gamma) / |y - F m|^2``. One eigendecomposition serves all
classes: of ``F^T F`` (D x D) when N > D, else of ``F F^T`` (N x N, same non-zero spectrum); in its
eigenbasis every quantity above is a sum over eigenvalues, so each class costs O(min(N, D)) per
iteration, and all classes iterate together as arrays. Unlike the reference code the iteration runs to
convergence (not 11 steps) and no epsilon is added to denominators.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.linalg.blas import dsyrk

from .._logging import get_logger
from .._validation import check_scorer_inputs
from ..errors import InvalidInputError
from ._stats import one_hot, working_dtype

__all__ = ["logme_score"]

logger = get_logger(__name__)

CHUNK_ROWS = 4096  # a float64 chunk of 4096 x 2048 is 64 MiB, whatever N is
T_RANGE = (1e-300, 1e300)  # alpha / beta stays a finite positive float


def _spectrum(x: np.ndarray, targets: np.ndarray, chunk_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues ``s`` (r,) of ``F^T F`` (non-zero part, r = min(N, D)) and the squared coordinates
    ``(V^T F^T y_k)^2`` (r, K) of every target in its eigenbasis."""
    n, d = x.shape
    if n > d:
        # F^T F and F^T Y accumulated in float64 by row chunks: no float64 copy of F.
        gram = np.zeros((d, d), order="F")
        cross = np.zeros((d, targets.shape[1]))
        for start in range(0, n, chunk_rows):
            block = np.asarray(x[start : start + chunk_rows], dtype=np.float64)
            # block.T is Fortran-ordered: BLAS reads it without a copy; only the upper triangle is filled
            gram = dsyrk(1.0, block.T, beta=1.0, c=gram, trans=0, overwrite_c=1)
            cross += block.T @ targets[start : start + chunk_rows]
        s, v = np.linalg.eigh(gram, UPLO="U")
        return np.clip(s, 0.0, None), np.square(v.T @ cross)
    x64 = np.asarray(x, dtype=np.float64)
    s, u = np.linalg.eigh(x64 @ x64.T)
    s = np.clip(s, 0.0, None)
    # right singular vector v_j = F^T u_j / sqrt(s_j), so (v_j^T F^T y)^2 = s_j (u_j^T y)^2
    return s, s[:, None] * np.square(u.T @ targets)


def _evidence_terms(t, beta, s, proj2, y_sq, n):
    """gamma, |m|^2, |y - F m|^2 and the log evidence L (each (K,)) at ``t = alpha / beta`` and ``beta``.

    Written in ``t`` so that the limit alpha -> inf (features that explain nothing) neither overflows
    nor cancels: ``beta / (alpha + beta s) = 1 / (t + s)``.
    """
    inv = 1.0 / (t + s[:, None])  # (r, K)
    gamma = np.sum(s[:, None] * inv, axis=0)
    m_sq = np.sum(proj2 * inv * inv, axis=0)
    # |y|^2 - 2 sum p/(t+s) + sum s p/(t+s)^2, written as one positive-weighted sum
    fit = np.sum(proj2 * inv * ((2.0 * t + s[:, None]) * inv), axis=0)
    residual = np.maximum(y_sq - fit, np.finfo(np.float64).tiny)
    # D/2 log alpha - 1/2 log det A = -1/2 sum_i log(1 + s_i/t): eigenvalues beyond min(N, D) add 0
    log_evidence = (
        -0.5 * np.sum(np.log1p(s[:, None] / t), axis=0)
        + 0.5 * n * np.log(beta)
        - 0.5 * beta * (residual + t * m_sq)
        - 0.5 * n * np.log(2.0 * np.pi)
    )
    return gamma, np.maximum(m_sq, np.finfo(np.float64).tiny), residual, log_evidence


def logme_score(
    features: Any,
    labels: Any,
    *,
    source_logits: Any = None,
    tol: float = 1e-10,
    max_iter: int = 1000,
    chunk_rows: int = CHUNK_ROWS,
) -> float:
    """LogME: mean over classes of the maximum log evidence per sample (higher is better).

    Args:
        features (`array-like` of shape `(n_samples, n_features)`): frozen penultimate features.
            float32 input is kept as is: ``F^T F`` is accumulated in float64 by row chunks.
        labels (`array-like` of shape `(n_samples,)`): target class labels.
        source_logits (*optional*): ignored (LogME uses features only).
        tol (`float`): stop when no class's evidence per sample changes by more than this.
        max_iter (`int`): the most fixed-point iterations (a warning is logged if reached).
        chunk_rows (`int`): rows per float64 chunk when accumulating ``F^T F``.

    Returns:
        `float`: ``(1/K) sum_k L_k / N``, the evidence of a linear head per sample.

    Raises:
        InvalidInputError: bad features or labels, or a non-positive option.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> y = np.repeat([0, 1, 2], 30)
        >>> good = rng.normal(size=(90, 16)) + 3 * np.eye(3, 16)[y]
        >>> logme_score(good, y) > logme_score(rng.normal(size=(90, 16)), y)
        True
    """
    if not tol > 0 or max_iter < 1 or chunk_rows < 1:
        raise InvalidInputError(
            f"logme: tol must be > 0 and max_iter, chunk_rows >= 1, got tol={tol!r}, "
            f"max_iter={max_iter!r}, chunk_rows={chunk_rows!r}."
        )
    x, y, n_classes = check_scorer_inputs(features, labels, scorer="logme", dtype=working_dtype(features))
    n = x.shape[0]
    targets = one_hot(y, n_classes)
    s, proj2 = _spectrum(x, targets, chunk_rows)
    y_sq = targets.sum(axis=0)  # |y_k|^2 of a 0/1 target is the class count

    t, beta = np.ones(n_classes), np.ones(n_classes)  # alpha = beta = 1, as the reference
    gamma, m_sq, residual, evidence = _evidence_terms(t, beta, s, proj2, y_sq, n)
    for _ in range(max_iter):
        alpha = gamma / m_sq
        beta = (n - gamma) / residual
        t = np.clip(alpha / beta, T_RANGE[0], T_RANGE[1])  # all-zero features: alpha = 0
        gamma, m_sq, residual, new_evidence = _evidence_terms(t, beta, s, proj2, y_sq, n)
        done = np.all(np.abs(new_evidence - evidence) <= tol * n)
        evidence = new_evidence
        if done:
            break
    else:
        logger.warning("logme: the evidence fixed point did not converge in %d iterations.", max_iter)
    return float(np.mean(evidence) / n)

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

When N < D the head can interpolate: the maximum may lie at beta -> inf, where the evidence tends to the
finite noise-free value as long as ``F F^T`` has full rank; the residual is therefore summed as positive
terms, never as ``|y|^2`` minus the fit. If ``F`` is rank deficient and a target lies in its column space
(duplicate rows of one class), the evidence grows without bound as beta -> inf; it is then taken on the
column space (r = rank dimensions, per dimension), which a warning reports.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.linalg.blas import dsyrk

from .._logging import get_logger
from .._validation import check_int_option, check_number_option, check_scorer_inputs, refuse_unknown_options
from ._stats import one_hot, working_dtype

__all__ = ["logme_score"]

logger = get_logger(__name__)

CHUNK_ROWS = 4096  # a float64 chunk of 4096 x 2048 is 64 MiB, whatever N is
T_RANGE = (1e-300, 1e300)  # alpha / beta stays a finite positive float


def _numerically_nonzero(s: np.ndarray, n: int, d: int) -> np.ndarray:
    """Mask of the ascending Gram eigenvalues ``s`` above the rounding noise of ``eigh``."""
    return s > max(n, d) * np.finfo(np.float64).eps * max(s[-1], 0.0)


def _spectrum(x: np.ndarray, targets: np.ndarray, chunk_rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The numerically non-zero eigenvalues ``s`` (r,) of ``F^T F``, the squared coordinates ``c2`` (r, K)
    of every target on the matching left singular vectors ``u_j = F v_j / sqrt(s_j)``, and ``null`` (K,),
    each target's squared norm outside the column space of ``F`` (``|y|^2 - sum_j c2_j``).

    Eigenvalues below ``max(N, D) * eps * s_max`` count as zero.
    """
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
        keep = _numerically_nonzero(s, n, d)
        c2 = np.square(v[:, keep].T @ cross) / s[keep, None]
        return s[keep], c2, np.maximum(targets.sum(axis=0) - c2.sum(axis=0), 0.0)  # |y|^2 = class count
    x64 = np.asarray(x, dtype=np.float64)
    s, u = np.linalg.eigh(x64 @ x64.T)
    keep = _numerically_nonzero(s, n, d)
    # u is a full orthonormal basis of R^N: the part of y outside the column space is summed, not subtracted
    coords2 = np.square(u.T @ targets)
    return s[keep], coords2[keep], coords2[~keep].sum(axis=0)


def _evidence_terms(t, beta, s, c2, null, n_eff):
    """gamma, |m|^2, |y - F m|^2 and the log evidence L (each (K,)) at ``t = alpha / beta`` and ``beta``.

    Written in ``t`` so that the limit alpha -> inf (features that explain nothing) neither overflows
    nor cancels: ``beta / (alpha + beta s) = 1 / (t + s)``. The residual is a sum of positive terms,
    ``null + sum c2 t^2 / (t + s)^2``, so it stays exact when the head interpolates (t -> 0, N < D).
    """
    inv = 1.0 / (t + s[:, None])  # (r, K)
    gamma = np.sum(s[:, None] * inv, axis=0)
    m_sq = np.sum(s[:, None] * c2 * inv * inv, axis=0)
    residual = np.maximum(null + np.sum(c2 * np.square(t * inv), axis=0), np.finfo(np.float64).tiny)
    # D/2 log alpha - 1/2 log det A = -1/2 sum_i log(1 + s_i/t): zero eigenvalues add 0
    log_evidence = (
        -0.5 * np.sum(np.log1p(s[:, None] / t), axis=0)
        + 0.5 * n_eff * np.log(beta)
        - 0.5 * beta * (residual + t * m_sq)
        - 0.5 * n_eff * np.log(2.0 * np.pi)
    )
    return gamma, np.maximum(m_sq, np.finfo(np.float64).tiny), residual, log_evidence


@refuse_unknown_options("logme")
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
        `float`: ``(1/K) sum_k L_k / N``, the evidence of a linear head per sample (per dimension of
        the column space, r instead of N, for a target whose evidence is unbounded; see above).

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
    tol = check_number_option(tol, name="tol", scorer="logme", low=0.0)
    max_iter = check_int_option(max_iter, name="max_iter", scorer="logme", low=1)
    chunk_rows = check_int_option(chunk_rows, name="chunk_rows", scorer="logme", low=1)
    x, y, n_classes = check_scorer_inputs(features, labels, scorer="logme", dtype=working_dtype(features))
    n = x.shape[0]
    targets = one_hot(y, n_classes)
    s, c2, null = _spectrum(x, targets, chunk_rows)
    # A target with no part outside the column space of a rank-deficient F (duplicate rows of one class,
    # N < D) has an unbounded evidence: noise 1/beta -> 0 on the N - r null directions. Those directions
    # carry no information, so the evidence is taken on the r-dimensional column space instead.
    degenerate = (s.size < n) & (null <= np.sqrt(np.finfo(np.float64).eps) * targets.sum(axis=0))
    if np.any(degenerate):
        logger.warning(
            "logme: the features span only %d of the %d sample dimensions and %d class target(s) lie in that "
            "span (e.g. duplicate rows of one class): their evidence is unbounded, so it is taken on the span.",
            s.size, n, int(degenerate.sum()),
        )
    null = np.where(degenerate, 0.0, null)
    n_eff = np.where(degenerate, float(s.size), float(n))

    t, beta = np.ones(n_classes), np.ones(n_classes)  # alpha = beta = 1, as the reference
    gamma, m_sq, residual, evidence = _evidence_terms(t, beta, s, c2, null, n_eff)
    for _ in range(max_iter):
        alpha = gamma / m_sq
        beta = (n_eff - gamma) / residual
        # all-zero features: alpha = 0; a head that interpolates (gamma = N, D >= N) gives beta = 0 for one step,
        # t = inf is clipped and the next step recovers, so the transient division by zero is expected
        with np.errstate(divide="ignore"):
            t = np.clip(alpha / beta, T_RANGE[0], T_RANGE[1])
            gamma, m_sq, residual, new_evidence = _evidence_terms(t, beta, s, c2, null, n_eff)
        done = np.all(np.abs(new_evidence - evidence) <= tol * n)
        evidence = new_evidence
        if done:
            break
    else:
        logger.warning("logme: the evidence fixed point did not converge in %d iterations.", max_iter)
    return float(np.mean(evidence / n_eff))

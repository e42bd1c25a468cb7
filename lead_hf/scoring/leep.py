"""LEEP: log expected empirical prediction of the pre-trained head.

Nguyen, Hassner, Seeger and Archambeau, "LEEP: A New Measure to Evaluate Transferability of Learned
Representations", ICML 2020.

With ``theta(x_i)`` the source head's softmax over C_s source classes, the empirical joint
``P(y, z) = (1/N) sum_i theta(x_i)_z [y_i = y]`` gives the conditional ``P(y | z) = P(y, z) / P(z)``;
LEEP is the mean log-likelihood of the "expected empirical predictor"
``sum_z P(y_i | z) theta(x_i)_z``. NLEEP reuses :func:`leep_from_probabilities` with Gaussian-mixture
posteriors in place of ``theta``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import softmax

from .._validation import check_scorer_inputs, check_source_logits, refuse_unknown_options
from ._stats import one_hot

__all__ = ["leep_score", "leep_from_probabilities"]


def leep_from_probabilities(probabilities: np.ndarray, labels: np.ndarray, n_classes: int) -> float:
    """LEEP of dummy-label probabilities ``(N, C_s)`` (rows sum to 1) for encoded ``labels`` (N,)."""
    n = labels.shape[0]
    joint = one_hot(labels, n_classes).T @ probabilities / n  # (C_t, C_s)
    marginal = joint.sum(axis=0)
    conditional = np.divide(joint, marginal, out=np.zeros_like(joint), where=marginal > 0)
    # (N, C_t) rather than conditional[labels] (N, C_s): 1,000 source classes stay cheap
    expected = (probabilities @ conditional.T)[np.arange(n), labels]
    return float(np.mean(np.log(expected)))


@refuse_unknown_options("leep")
def leep_score(features: Any, labels: Any, *, source_logits: Any = None) -> float:
    """LEEP score of the pre-trained head on the target labels (higher is better, at most 0).

    Args:
        features (`array-like` of shape `(n_samples, n_features)`): frozen features; only validated
            (LEEP uses the head's output), so the same call works for every scorer.
        labels (`array-like` of shape `(n_samples,)`): target class labels.
        source_logits (`array-like` of shape `(n_samples, n_source_classes)`): the pre-trained head's
            logits; the softmax is taken here.

    Returns:
        `float`: the mean log-likelihood of the expected empirical predictor.

    Raises:
        InvalidInputError: bad inputs, or ``source_logits`` missing (pass the head's logits, or use a
            feature-only score such as ``"logme"``).

    Example:
        >>> import numpy as np
        >>> y = np.array([0, 0, 1, 1])
        >>> logits = np.log([[3.0, 1.0], [1.0, 1.0], [1.0, 3.0], [1.0, 1.0]])
        >>> round(leep_score(np.zeros((4, 1)), y, source_logits=logits), 4)  # log(9/32) / 2
        -0.6343
    """
    _, y, n_classes = check_scorer_inputs(features, labels, scorer="leep")
    logits = check_source_logits(source_logits, n_samples=y.shape[0], scorer="leep")
    return leep_from_probabilities(softmax(logits, axis=1), y, n_classes)

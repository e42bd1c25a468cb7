"""NCE: negative conditional entropy of the target labels given the head's hard predictions.

Tran, Nguyen and Hassner, "Transferability and Hardness of Supervised Classification Tasks", ICCV 2019.

With ``z_i = argmax`` of the source logits as a dummy source label, ``NCE = -H(Y | Z) =
sum_{y,z} P(y, z) log P(y | z)`` from the empirical joint counts (``0 log 0 = 0``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_scorer_inputs, check_source_logits, refuse_unknown_options

__all__ = ["nce_score"]


@refuse_unknown_options("nce")
def nce_score(features: Any, labels: Any, *, source_logits: Any = None) -> float:
    """NCE score of the pre-trained head's hard predictions (higher is better, at most 0).

    Args:
        features (`array-like` of shape `(n_samples, n_features)`): frozen features; only validated.
        labels (`array-like` of shape `(n_samples,)`): target class labels.
        source_logits (`array-like` of shape `(n_samples, n_source_classes)`): the pre-trained head's
            logits; their argmax is the hard source label (ties go to the first class).

    Returns:
        `float`: ``-H(Y | Z)`` in nats.

    Raises:
        InvalidInputError: bad inputs, or ``source_logits`` missing.

    Example:
        >>> import numpy as np
        >>> y = np.array([0, 0, 1, 1])
        >>> logits = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        >>> round(nce_score(np.zeros((4, 1)), y, source_logits=logits), 4)  # -(3/4) H(2/3, 1/3)
        -0.4774
    """
    _, y, n_classes = check_scorer_inputs(features, labels, scorer="nce")
    logits = check_source_logits(source_logits, n_samples=y.shape[0], scorer="nce")
    n_source = logits.shape[1]
    z = np.argmax(logits, axis=1)
    counts = np.bincount(y * n_source + z, minlength=n_classes * n_source).reshape(n_classes, n_source)
    per_z = counts.sum(axis=0)
    y_idx, z_idx = np.nonzero(counts)
    joint = counts[y_idx, z_idx] / y.shape[0]
    return float(np.sum(joint * np.log(counts[y_idx, z_idx] / per_z[z_idx])))

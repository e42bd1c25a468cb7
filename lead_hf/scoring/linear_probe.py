"""Cross-validated accuracy of a logistic-regression probe on the frozen features.

Not a transferability method from the literature but the zoo's sanity baseline: the mean accuracy over
stratified K folds (shuffled, seeded) of ``StandardScaler + LogisticRegression(C=1, max_iter=1000)``.
The defaults reproduce ``linear_probe_cv_acc`` of the zoo's ``baselines.json``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_scorer_inputs
from ..errors import InvalidInputError
from ._stats import working_dtype

__all__ = ["linear_probe_score"]


def linear_probe_score(
    features: Any,
    labels: Any,
    *,
    source_logits: Any = None,
    n_splits: int = 5,
    C: float = 1.0,
    max_iter: int = 1000,
    seed: int = 0,
) -> float:
    """Mean K-fold accuracy of a standardised logistic-regression probe (higher is better, in [0, 1]).

    Args:
        features (`array-like` of shape `(n_samples, n_features)`): frozen penultimate features.
        labels (`array-like` of shape `(n_samples,)`): target class labels.
        source_logits (*optional*): ignored.
        n_splits (`int`): number of stratified folds; every class needs at least this many samples.
        C (`float`): inverse L2 strength of ``sklearn.linear_model.LogisticRegression``.
        max_iter (`int`): iteration budget of the solver.
        seed (`int`): seed of the fold shuffling.

    Returns:
        `float`: the mean held-out accuracy over the folds.

    Raises:
        InvalidInputError: bad inputs or options, or a class with fewer than ``n_splits`` samples.
    """
    from sklearn.linear_model import LogisticRegression  # lazy: a heavy import few scores need
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if not isinstance(n_splits, int) or n_splits < 2:
        raise InvalidInputError(f"linear_probe: n_splits must be an int >= 2, got {n_splits!r}.")
    if not C > 0 or max_iter < 1:
        raise InvalidInputError(f"linear_probe: C must be > 0 and max_iter >= 1, got C={C!r}, max_iter={max_iter!r}.")
    # float32 input stays float32, as in the zoo baseline (float64 moves some accuracies by 1/N)
    x, y, _ = check_scorer_inputs(
        features, labels, scorer="linear_probe", min_samples_per_class=n_splits, dtype=working_dtype(features)
    )
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return float(np.mean(cross_val_score(probe, x, y, cv=folds, scoring="accuracy")))

"""Cross-validated accuracy of a logistic-regression probe on the frozen features.

Not a transferability method from the literature but the zoo's sanity baseline: the mean accuracy over
stratified K folds (shuffled, seeded) of ``StandardScaler + LogisticRegression(C=1, max_iter=1000)``.
The defaults reproduce ``linear_probe_cv_acc`` of the zoo's ``baselines.json``. Identical rows are kept
in one fold (stratified group folds), so that duplicates cannot leak across folds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._logging import get_logger
from .._validation import check_int_option, check_number_option, check_scorer_inputs, refuse_unknown_options
from ._stats import working_dtype

__all__ = ["linear_probe_score"]

logger = get_logger(__name__)


@refuse_unknown_options("linear_probe")
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
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    n_splits = check_int_option(n_splits, name="n_splits", scorer="linear_probe", low=2)
    C = check_number_option(C, name="C", scorer="linear_probe", low=0.0)
    max_iter = check_int_option(max_iter, name="max_iter", scorer="linear_probe", low=1)
    seed = check_int_option(seed, name="seed", scorer="linear_probe")
    # float32 input stays float32, as in the zoo baseline (float64 moves some accuracies by 1/N)
    x, y, _ = check_scorer_inputs(
        features, labels, scorer="linear_probe", min_samples_per_class=n_splits, dtype=working_dtype(features)
    )
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
    # Identical rows in different folds leak the answer (a memorised training row is its own test row):
    # every group of identical rows goes to one fold. Without duplicates the folds are the zoo baseline's.
    _, groups, counts = np.unique(x, axis=0, return_inverse=True, return_counts=True)
    if counts.max() > 1:
        logger.warning("linear_probe: %d of %d rows repeat another row; each set of identical rows is kept in one "
                       "fold so that it cannot be both trained on and tested.", int(np.sum(counts[counts > 1])), len(x))
        folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        scores = cross_val_score(probe, x, y, groups=groups.ravel(), cv=folds, scoring="accuracy")
    else:
        folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        scores = cross_val_score(probe, x, y, cv=folds, scoring="accuracy")
    return float(np.mean(scores))

"""SFDA: self-challenging Fisher discriminant analysis.

Shao, Zhao, Zhang, Zhong, Yang, Chen and Luo, "Not All Models Are Equal: Predicting Model
Transferability in a Self-challenging Fisher Space", ECCV 2022.

1. Regularised Fisher LDA: within-class covariance ``S_w`` (class-prior weighted, 1/n_c), shrunk as
   ``(1 - l) S_w + l (tr(S_w)/D) I`` with ``l = max(exp(-5 a), 1e-10)``, ``a`` the largest eigenvalue
   of ``S_w``; class posteriors from the discriminants.
2. ConfMix: the posteriors are re-softened (a softmax of the probabilities) and each sample is pulled
   towards the mean of the *other* classes' means: ``x <- p x + (1 - p) m_other(y)`` with ``p`` its
   re-softened probability of its own class.
3. The LDA is refitted on the mixed features with the same ``l``; the score is ``mean_i p(y_i | x_i)``
   (no log).

The reference projects on all D generalised eigenvectors of ``(S_b, shrunk S_w)`` before predicting;
with every eigenvector kept that is exactly the LDA with the shrunk covariance, which is what is
solved here (one Cholesky per fit, no generalised eigenproblem). ``a`` is the exact largest eigenvalue
(the reference estimates it with 3 power iterations). Unlike the reference, the caller's features are
never written into.

Pitfall: with few samples per dimension the LDA separates the training data perfectly and the score
saturates at 1.0 (TencentARC/SFDA#5, 500 samples in 2048-D, fixed there by PCA to 32-D). The default
keeps the published method; ``n_components`` applies that PCA fix. On the public zoo tasks (N = 1,000,
D up to 1,280) PCA to 32-D moved the weighted tau per task from +0.287/+0.853/+0.654/+0.575 to
+0.925/+0.558/+0.565/+0.512 (cifar10, fashion_mnist, mnist, notmnist): no consistent gain, hence no
guard by default.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.linalg import cho_factor, cho_solve, eigh
from scipy.special import softmax

from .._validation import check_int_option, check_scorer_inputs, refuse_unknown_options
from ..errors import InvalidInputError
from ._stats import class_means, pca_project

__all__ = ["sfda_score"]

SHRINKAGE_DECAY = 5.0  # l = exp(-5 a), from the paper
MIN_SHRINKAGE = 1e-10


def _within_class_covariance(x: np.ndarray, labels: np.ndarray, means: np.ndarray) -> np.ndarray:
    """``sum_c (n_c/N) cov_c`` with 1/n_c class covariances, i.e. the pooled scatter over N."""
    residual = x - means[labels]
    return residual.T @ residual / x.shape[0]


def _lda_posteriors(x: np.ndarray, labels: np.ndarray, n_classes: int, shrinkage: float | None):
    """Posteriors ``(N, C)`` of the shrunk LDA fitted on ``x``, and the shrinkage used."""
    means, counts = class_means(x, labels, n_classes)
    within = _within_class_covariance(x, labels, means)
    d = within.shape[0]
    if shrinkage is None:
        largest = eigh(within, subset_by_index=[d - 1, d - 1], eigvals_only=True)[0]
        shrinkage = max(float(np.exp(-SHRINKAGE_DECAY * largest)), MIN_SHRINKAGE)
    scale = np.trace(within) / d
    if not scale > 0:
        raise InvalidInputError("sfda: every class is constant (zero within-class variance); nothing to score.")
    shrunk = (1.0 - shrinkage) * within
    shrunk.flat[:: d + 1] += shrinkage * scale
    coef = cho_solve(cho_factor(shrunk), means.T).T  # (C, D) = means S^-1
    logits = x @ coef.T - 0.5 * np.sum(means * coef, axis=1) + np.log(counts / x.shape[0])
    return softmax(logits, axis=1), shrinkage


@refuse_unknown_options("sfda")
def sfda_score(features: Any, labels: Any, *, source_logits: Any = None, n_components: int | None = None) -> float:
    """SFDA score (higher is better, in (0, 1]).

    Args:
        features (`array-like` of shape `(n_samples, n_features)`): frozen penultimate features.
        labels (`array-like` of shape `(n_samples,)`): target class labels.
        source_logits (*optional*): ignored.
        n_components (`int`, *optional*): reduce the features by PCA to this many dimensions first,
            against the saturation at 1.0 when samples are few for D (not in the paper; ``None`` keeps
            the published method).

    Returns:
        `float`: mean posterior of the true class after ConfMix.

    Raises:
        InvalidInputError: bad inputs or options, or fewer than 2 samples in a class.
    """
    n_components = check_int_option(n_components, name="n_components", scorer="sfda", low=1, allow_none=True)
    x, y, n_classes = check_scorer_inputs(features, labels, scorer="sfda", min_samples_per_class=2)
    if n_components is not None and n_components < x.shape[1]:
        x = pca_project(x, n_components=n_components)
    rows = np.arange(y.shape[0])
    posteriors, shrinkage = _lda_posteriors(x, y, n_classes, None)
    confidence = softmax(posteriors, axis=1)[rows, y][:, None]  # re-softened, as in the paper
    means, _ = class_means(x, y, n_classes)
    other_means = (means.sum(axis=0) - means) / (n_classes - 1)
    mixed = confidence * x + (1.0 - confidence) * other_means[y]  # a new array: x is left untouched
    posteriors, _ = _lda_posteriors(mixed, y, n_classes, shrinkage)
    return float(np.mean(posteriors[rows, y]))

"""NLEEP: LEEP with the posteriors of a Gaussian mixture fitted to the features.

Li, Jia, Wang, Chen, Zhang, Hu and Chang, "Ranking Neural Checkpoints", CVPR 2021.

The features are reduced by PCA to the axes holding ``explained_variance`` (80 %) of the variance, a
Gaussian mixture with ``component_ratio * C`` components is fitted (scikit-learn, seeded), and its
component posteriors replace the source-head probabilities of LEEP. This keeps the paper's log
(SFDA's re-implementation drops it "in case of instability"). A feature-only score: ``source_logits``
is ignored.
"""

from __future__ import annotations

from typing import Any, Literal

from .._validation import (
    check_choice_option,
    check_int_option,
    check_number_option,
    check_scorer_inputs,
    refuse_unknown_options,
)
from ..errors import InvalidInputError
from ._stats import pca_project
from .leep import leep_from_probabilities

__all__ = ["nleep_score"]

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


@refuse_unknown_options("nleep")
def nleep_score(
    features: Any,
    labels: Any,
    *,
    source_logits: Any = None,
    component_ratio: int = 5,
    explained_variance: float = 0.8,
    covariance_type: Literal["full", "tied", "diag", "spherical"] = "diag",
    seed: int = 0,
) -> float:
    """NLEEP score (higher is better, at most 0).

    Args:
        features (`array-like` of shape `(n_samples, n_features)`): frozen penultimate features.
        labels (`array-like` of shape `(n_samples,)`): target class labels.
        source_logits (*optional*): ignored.
        component_ratio (`int`): mixture components per target class (SFDA uses 1 for Food and Pets).
        explained_variance (`float`): fraction of the variance the PCA keeps, in (0, 1].
        covariance_type (`str`): covariance of each component, as in
            ``sklearn.mixture.GaussianMixture``.
        seed (`int`): seed of the mixture's k-means initialisation.

    Returns:
        `float`: LEEP of the mixture posteriors.

    Raises:
        InvalidInputError: bad inputs or options, or fewer samples than mixture components.
    """
    from sklearn.mixture import GaussianMixture  # lazy: a heavy import few scores need

    component_ratio = check_int_option(component_ratio, name="component_ratio", scorer="nleep", low=1)
    explained_variance = check_number_option(explained_variance, name="explained_variance", scorer="nleep", low=0.0, high=1.0)
    covariance_type = check_choice_option(covariance_type, name="covariance_type", scorer="nleep", choices=COVARIANCE_TYPES)
    seed = check_int_option(seed, name="seed", scorer="nleep")
    x, y, n_classes = check_scorer_inputs(features, labels, scorer="nleep")
    n_components = component_ratio * n_classes
    if n_components > x.shape[0]:
        raise InvalidInputError(
            f"nleep: {n_components} mixture components ({component_ratio} x {n_classes} classes) need at "
            f"least as many samples, got {x.shape[0]}; add samples or lower component_ratio."
        )
    z = pca_project(x, explained_variance=explained_variance)
    mixture = GaussianMixture(n_components, covariance_type=covariance_type, random_state=seed).fit(z)
    return leep_from_probabilities(mixture.predict_proba(z), y, n_classes)

"""Transferability scores: LEAD and the field's baselines, one pure function per module.

Every scorer has the signature ``fn(features, labels, *, source_logits=None, **options) -> float``
(higher is better). Scores that use the pre-trained head (LEEP, NCE) raise a ``ValueError`` without
``source_logits``; the others ignore it. Modules are imported on first use so that asking for one
score does not import the dependencies of all the others.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInputError

__all__ = [
    "ScorerInfo", "available_scorers", "get_scorer", "scorer_info", "score", "score_with_details", "lead_score",
    "diagnostics_of",
]


@dataclass(frozen=True)
class ScorerInfo:
    """Registry entry of one scorer."""

    name: str
    module: str
    function: str
    needs_source_logits: bool
    summary: str
    # Extra values reported next to the score: the function then accepts ``return_details=True`` and returns an
    # object whose ``as_dict()`` holds the score under ``name`` and these keys.
    diagnostics: tuple[str, ...] = ()


_REGISTRY: dict[str, ScorerInfo] = {
    info.name: info
    for info in (
        ScorerInfo("lead", "lead", "lead_score", False, "LEAD: logit-space evolution under the head's NTK (Hu et al., CVPR 2024)",
                   diagnostics=("energy0", "loss0", "acc0")),
        ScorerInfo("logme", "logme", "logme_score", False, "LogME: evidence of a Bayesian linear head (You et al., ICML 2021)"),
        ScorerInfo("leep", "leep", "leep_score", True, "LEEP: expected empirical prediction of the source head (Nguyen et al., ICML 2020)"),
        ScorerInfo("nce", "nce", "nce_score", True, "NCE: negative conditional entropy of source labels (Tran et al., ICCV 2019)"),
        ScorerInfo("nleep", "nleep", "nleep_score", False, "NLEEP: LEEP over a Gaussian mixture (Li et al., CVPR 2021)"),
        ScorerInfo("hscore", "hscore", "hscore", False, "H-score (Bao et al., ICIP 2019)"),
        ScorerInfo("shrinkage_hscore", "hscore", "shrinkage_hscore", False, "H-score with Ledoit-Wolf shrinkage (Ibrahim et al., 2022)"),
        ScorerInfo("transrate", "transrate", "transrate_score", False, "TransRate: coding-rate gain (Huang et al., ICML 2022)"),
        ScorerInfo("gbc", "gbc", "gbc_score", False, "GBC: Gaussian Bhattacharyya coefficient (Pandy et al., CVPR 2022)"),
        ScorerInfo("sfda", "sfda", "sfda_score", False, "SFDA: self-challenging Fisher discriminant (Shao et al., ECCV 2022)"),
        ScorerInfo("linear_probe", "linear_probe", "linear_probe_score", False, "Cross-validated logistic-regression accuracy"),
    )
}


def available_scorers() -> list[str]:
    """Names accepted by :func:`score`, in a stable order (LEAD first)."""
    return list(_REGISTRY)


def scorer_info(method: str) -> ScorerInfo:
    """Return the registry entry of ``method``; raise a ``ValueError`` listing valid names otherwise."""
    if not isinstance(method, str) or method.lower() not in _REGISTRY:
        raise InvalidInputError(f"Unknown scorer {method!r}; choose one of {available_scorers()}.")
    return _REGISTRY[method.lower()]


def diagnostics_of(scorers: Sequence[str]) -> tuple[str, ...]:
    """The diagnostic columns reported by ``scorers`` (e.g. LEAD's ``energy0``, ``loss0``, ``acc0``), in order."""
    return tuple(key for name in scorers for key in scorer_info(name).diagnostics)


def get_scorer(method: str) -> Callable[..., float]:
    """Return the scoring function registered as ``method`` (imported on first use)."""
    info = scorer_info(method)
    module = importlib.import_module(f"{__name__}.{info.module}")
    return getattr(module, info.function)


def score(method: str, features: Any, labels: Any, *, source_logits: Any = None, **options: Any) -> float:
    """Compute one transferability score (higher is better).

    Args:
        method (`str`): a name from :func:`available_scorers`, e.g. ``"lead"`` or ``"logme"``.
        features (`array-like` of shape `(n_samples, n_features)`): frozen penultimate features.
        labels (`array-like` of shape `(n_samples,)`): target labels (ints or strings; re-encoded).
        source_logits (`array-like` of shape `(n_samples, n_source_classes)`, *optional*): logits of the
            pre-trained head, required by ``"leep"`` and ``"nce"``.
        **options: keyword options of the chosen scorer.

    Returns:
        `float`: the score.

    Raises:
        ValueError: unknown method, bad input, or missing ``source_logits``.

    Example:
        >>> import numpy as np, lead_hf
        >>> rng = np.random.default_rng(0)
        >>> y = np.repeat([0, 1], 20); X = rng.normal(size=(40, 8)) + y[:, None]
        >>> isinstance(lead_hf.score("logme", X, y), float)
        True
    """
    fn = get_scorer(method)
    return float(fn(features, labels, source_logits=source_logits, **options))


def score_with_details(
    method: str, features: Any, labels: Any, *, source_logits: Any = None, **options: Any
) -> tuple[dict[str, float], Any]:
    """One scorer's score with its registered diagnostics, in one call.

    Returns:
        `tuple[dict[str, float], Any]`: ``{method: score, **diagnostics}`` as floats (e.g. LEAD's ``energy0``,
        ``loss0``, ``acc0``), and the scorer's details object (``None`` for a scorer without diagnostics).
    """
    info, fn = scorer_info(method), get_scorer(method)
    if not info.diagnostics:
        return {info.name: float(fn(features, labels, source_logits=source_logits, **options))}, None
    details = fn(features, labels, source_logits=source_logits, return_details=True, **options)
    values = details.as_dict()
    return {key: float(values[key]) for key in (info.name, *info.diagnostics)}, details


def __getattr__(name: str) -> Any:
    # lead_score is the function of lead.py itself (help() shows its options), imported on first use.
    if name == "lead_score":
        return get_scorer("lead")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""LEAD: logit-space evolution under the task head's neural tangent kernel.

Hu, Li, Tang, Liu, Hu and Duan, "LEAD: Exploring Logit Space Evolution for Model Selection",
CVPR 2024. A linear probe on the frozen features gives initial class probabilities ``P0``; a randomly
initialised MLP head defines an empirical NTK whose per-class mean eigenvalue ``lambda_k`` sets how
fast the outputs of class k relax from ``P0`` to the labels under gradient flow,
``F_t(x) = (1 - d_k) onehot(y) + d_k P0(x)`` with ``d_k = exp(-eta lambda_k t)``. The score is minus
the cross-entropy of ``F_t``. Every point the paper leaves open is a keyword option; the defaults and
the evidence behind them are in ``docs/LEAD_DEFAULTS.md``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import log_softmax

from .._logging import get_logger
from .._validation import check_scorer_inputs
from ..energy import PROB_FLOOR, initial_energy
from ..errors import InvalidInputError
from ._probe import decision_to_probabilities, initial_decision_values
from ._ridge import feature_moments, standardized_matvec

__all__ = ["LeadOptions", "LeadResult", "lead_score", "class_ntk_rates"]

logger = get_logger(__name__)

CHOICES = {
    "classifier": ("svm", "logistic"),
    "prob_norm": ("sigmoid", "softmax"),
    "rate_norm": ("reference", "per_model", "none"),
    "feature_scaling": ("standardize", "none", "l2"),
    "score_form": ("ce_direct", "ce_softmax"),
}


@dataclass(frozen=True)
class LeadOptions:
    """The LEAD configuration; see :func:`lead_score` for the meaning of each field."""

    classifier: str = "svm"
    cv: int | str = 0
    reg: float = 10.0
    prob_norm: str = "sigmoid"
    calibrate: bool = True
    rate_norm: str = "reference"
    eta: float = 1.0
    feature_scaling: str = "standardize"
    score_form: str = "ce_direct"
    t: float = 1.0
    samples_per_class: int = 64
    head_widths: tuple[int, ...] = (1024, 2048)
    seed: int = 0

    def __post_init__(self) -> None:
        for name, valid in CHOICES.items():
            value = getattr(self, name)
            if value not in valid:
                raise InvalidInputError(f"lead: option {name!r} must be one of {list(valid)}, got {value!r}.")
        if not (self.cv == "loo" or (isinstance(self.cv, (int, np.integer)) and not isinstance(self.cv, bool)
                                     and (self.cv == 0 or self.cv >= 2))):
            raise InvalidInputError(
                f"lead: option 'cv' must be 0 (in-sample), an int >= 2 (folds) or 'loo', got {self.cv!r}."
            )
        if self.cv == "loo" and self.classifier != "svm":
            raise InvalidInputError("lead: option 'cv'='loo' needs classifier='svm' (exact hat-matrix LOO); use cv=5.")
        for name in ("reg", "eta"):
            if not (isinstance(getattr(self, name), (int, float)) and np.isfinite(getattr(self, name))
                    and getattr(self, name) > 0):
                raise InvalidInputError(f"lead: option {name!r} must be a finite number > 0, got {getattr(self, name)!r}.")
        if not (isinstance(self.t, (int, float)) and self.t >= 0 and not np.isnan(self.t)):
            raise InvalidInputError(f"lead: option 't' must be a number >= 0 (inf allowed), got {self.t!r}.")
        if not isinstance(self.samples_per_class, (int, np.integer)) or self.samples_per_class < 1:
            raise InvalidInputError(f"lead: option 'samples_per_class' must be an int >= 1, got {self.samples_per_class!r}.")
        widths = tuple(self.head_widths)
        if any(not isinstance(w, (int, np.integer)) or w < 1 for w in widths):
            raise InvalidInputError(f"lead: option 'head_widths' must be a sequence of ints >= 1, got {self.head_widths!r}.")
        object.__setattr__(self, "head_widths", tuple(int(w) for w in widths))
        if not isinstance(self.calibrate, bool):
            raise InvalidInputError(f"lead: option 'calibrate' must be True or False, got {self.calibrate!r}.")
        if not isinstance(self.seed, (int, np.integer)):
            raise InvalidInputError(f"lead: option 'seed' must be an int, got {self.seed!r}.")


@dataclass(frozen=True)
class LeadResult:
    """LEAD score with the quantities behind it.

    Attributes:
        score (`float`): minus the cross-entropy of the evolved outputs (higher is better).
        energy0, loss0, acc0 (`float`): initial energy, cross-entropy and accuracy of ``P0``
            (Ren et al., ICLR 2023; see :func:`lead_hf.energy.initial_energy`).
        class_rates (`np.ndarray` of shape `(K,)`): raw per-class mean NTK eigenvalues ``lambda_k``.
        reference_rate (`float`): the same head's mean NTK eigenvalue on white inputs (the scale of
            ``rate_norm="reference"``).
        decay (`np.ndarray` of shape `(K,)`): ``d_k = exp(-eta * lambda_k / scale * t)``, the share of the
            initial residual left at time t.
        initial_probabilities (`np.ndarray` of shape `(N, K)`): ``P0`` (classes in sorted label order).
        options (`LeadOptions`): the configuration used.
    """

    score: float
    energy0: float
    loss0: float
    acc0: float
    class_rates: np.ndarray = field(repr=False)
    reference_rate: float
    decay: np.ndarray = field(repr=False)
    initial_probabilities: np.ndarray = field(repr=False)
    options: LeadOptions = field(default_factory=LeadOptions)

    def as_dict(self) -> dict[str, float]:
        """Plain floats for tables and JSON: ``lead``, ``energy0``, ``loss0``, ``acc0``, ``mean_rate``."""
        return {
            "lead": float(self.score),
            "energy0": float(self.energy0),
            "loss0": float(self.loss0),
            "acc0": float(self.acc0),
            "mean_rate": float(np.mean(self.class_rates)),
            "relative_rate": float(np.mean(self.class_rates) / self.reference_rate),
        }


def _head_parameters(d_in: int, widths: Sequence[int], n_out: int, rng: np.random.Generator):
    """Weights (fan_in, fan_out) and biases of an MLP head, PyTorch's default nn.Linear init, float32."""
    sizes = [d_in, *widths, n_out]
    params = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        bound = 1.0 / np.sqrt(fan_in)
        weight = rng.uniform(-bound, bound, size=(fan_in, fan_out)).astype(np.float32)
        params.append((weight, rng.uniform(-bound, bound, size=fan_out).astype(np.float32)))
    return params


def _row_sq_norms(a: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, a, dtype=np.float64)


def class_ntk_rates(inputs: np.ndarray, labels: np.ndarray, n_classes: int, params) -> np.ndarray:
    """Per-class mean eigenvalue of the summed-logit empirical NTK of a ReLU MLP head (trace identity).

    The mean eigenvalue of the Gram matrix ``G G^T`` of per-sample gradients is ``trace / S =
    mean_x ||g(x)||^2``; for a linear layer with input ``a`` and back-propagated signal ``delta``,
    ``||dW||^2 = ||a||^2 ||delta||^2`` and ``||db||^2 = ||delta||^2``. ``g`` is the gradient of
    ``sum_j F_j(x)`` (Mohamadi, Bae and Sutherland, ICML 2023), so the output signal is all ones.

    Args:
        inputs (`np.ndarray` of shape `(S, D)`): head inputs (the sampled, scaled features).
        labels (`np.ndarray` of shape `(S,)`): their classes in ``0..K-1``; every class present.
        n_classes (`int`): K, used for the per-class means.
        params (`list` of `(weight (fan_in, fan_out), bias (fan_out,))`): the head, last layer has width
            ``n_out``.

    Returns:
        `np.ndarray` of shape `(K,)`, float64: ``lambda_k``.
    """
    acts, pres = [np.asarray(inputs, dtype=np.float32)], []
    for weight, bias in params[:-1]:  # the output layer's forward pass is not needed
        pres.append(acts[-1] @ weight + bias)
        acts.append(np.maximum(pres[-1], 0.0))
    last_weight = params[-1][0]
    # The output signal is all ones: the output layer's ||delta||^2 is n_out, and the signal it sends back,
    # ones @ W^T, is the same row vector (W's row sums) for every sample, so it needs no GEMM.
    sq_norm = (_row_sq_norms(acts[-1]) + 1.0) * last_weight.shape[1]
    delta = np.broadcast_to(last_weight.sum(axis=1), acts[-1].shape)
    for layer in range(len(params) - 2, -1, -1):
        delta = delta * (pres[layer] > 0)
        sq_norm += (_row_sq_norms(acts[layer]) + 1.0) * _row_sq_norms(delta)  # weight and bias gradients
        if layer:
            delta = delta @ params[layer][0].T
    return np.bincount(labels, weights=sq_norm, minlength=n_classes) / np.bincount(labels, minlength=n_classes)


def _rate_sample(order_key: np.ndarray, labels: np.ndarray, per_class: int) -> np.ndarray:
    """Indices of ``per_class`` samples per class, evenly spaced along the content key (order-free)."""
    picks = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        members = members[np.lexsort((members, order_key[members]))]
        picks.append(members[np.unique(np.linspace(0, members.size - 1, min(per_class, members.size)).round().astype(int))])
    return np.concatenate(picks)


def _head_inputs(x_rows: np.ndarray, moments, scaling: str) -> np.ndarray:
    if scaling == "standardize":  # in the input's float type: the head runs in float32 anyway
        return (x_rows - moments.mean.astype(x_rows.dtype)) / moments.scale.astype(x_rows.dtype)
    if scaling == "l2":
        return x_rows / np.maximum(np.linalg.norm(x_rows, axis=1, keepdims=True), np.finfo(float).tiny)
    return np.asarray(x_rows, dtype=np.float64)


def _evolved_cross_entropy(p0: np.ndarray, labels: np.ndarray, decay: np.ndarray, score_form: str) -> float:
    rows = np.arange(labels.shape[0])
    d = decay[labels]
    if score_form == "ce_direct":
        # F_t[y] = (1 - d) + d P0[y]; F_t is a distribution, so its CE needs no softmax.
        return float(-np.log(np.maximum((1.0 - d) + d * p0[rows, labels], PROB_FLOOR)).mean())
    evolved = d[:, None] * p0
    evolved[rows, labels] += 1.0 - d
    return float(-log_softmax(evolved, axis=1)[rows, labels].mean())


def initial_probabilities(x, y, n_classes: int, opts: LeadOptions, *, moments, order_key) -> np.ndarray:
    """Step 1: ``P0`` (N, K) of the initial probe (validated inputs; see :func:`lead_score`)."""
    values = initial_decision_values(
        x, y, n_classes, classifier=opts.classifier, cv=opts.cv, reg=opts.reg, moments=moments, order_key=order_key
    )
    return decision_to_probabilities(values, y, prob_norm=opts.prob_norm, calibrate=opts.calibrate)


REFERENCE_SAMPLES = 256  # white-noise inputs for the reference rate: its Monte-Carlo error is ~1 %


def head_class_rates(x, y, n_classes: int, opts: LeadOptions, *, moments, order_key) -> tuple[np.ndarray, float]:
    """Step 2: raw per-class NTK rates (K,) of the seeded random head on ``samples_per_class`` samples, and
    the head's reference rate on white inputs (standard normal, or unit-norm for ``feature_scaling="l2"``)."""
    sample = _rate_sample(order_key, y, opts.samples_per_class)
    rng = np.random.default_rng([opts.seed, 1])
    params = _head_parameters(x.shape[1], opts.head_widths, n_classes, rng)
    rates = class_ntk_rates(_head_inputs(x[sample], moments, opts.feature_scaling), y[sample], n_classes, params)
    white = rng.standard_normal((REFERENCE_SAMPLES, x.shape[1]))
    if opts.feature_scaling == "l2":
        white /= np.linalg.norm(white, axis=1, keepdims=True)
    reference = class_ntk_rates(white, np.zeros(REFERENCE_SAMPLES, dtype=np.int64), 1, params)[0]
    return rates, float(reference)


def evolved_score(
    p0: np.ndarray, labels: np.ndarray, rates: np.ndarray, reference_rate: float, opts: LeadOptions
) -> tuple[float, np.ndarray]:
    """Score and per-class decay ``d_k`` from ``P0`` (N, K) and raw class rates (K,) under ``opts``."""
    scale = {"reference": reference_rate, "per_model": rates.mean(), "none": 1.0}[opts.rate_norm]
    decay = np.exp(-opts.eta * (rates / scale) * opts.t)  # rates > 0, so t = inf gives decay 0
    return -_evolved_cross_entropy(p0, labels, decay, opts.score_form), decay


def lead_score(
    features: Any,
    labels: Any,
    *,
    source_logits: Any = None,
    return_details: bool = False,
    **options: Any,
) -> float | LeadResult:
    """LEAD transferability score of one model's frozen features for a labelled target task.

    Hu et al., "LEAD: Exploring Logit Space Evolution for Model Selection", CVPR 2024. Steps: (1) an
    initial linear probe (one-vs-rest least-squares SVM, or logistic regression) gives decision values,
    in-sample by default (as in the paper), normalised into probabilities ``P0``; (2) a random ReLU MLP head on the
    (scaled) features gives per-class NTK rates ``lambda_k`` by the trace identity on
    ``samples_per_class`` samples per class; (3) outputs evolve as
    ``F_t = (1 - d_k) onehot(y) + d_k P0`` with ``d_k = exp(-eta * lambda_k / scale * t)``; (4) the
    score is ``-CE(F_t, y)``. ``source_logits`` is accepted for the common scorer signature and unused.

    Args:
        features (`array-like` of shape `(n_samples, n_features)`): frozen penultimate features. float32
            input stays float32 (no float64 copy of the matrix is made); statistics are float64.
        labels (`array-like` of shape `(n_samples,)`): target labels (ints or strings; re-encoded).
        source_logits (`array-like`, *optional*): ignored.
        return_details (`bool`, *optional*): return a :class:`LeadResult` instead of the float.
        classifier (`str`, *optional*, defaults to `"svm"`): ``"svm"`` (least-squares one-vs-rest SVM,
            batched over classes) or ``"logistic"`` (multinomial, L-BFGS; small inputs only).
        cv (`int` or `str`, *optional*, defaults to `0`): ``0`` fits and predicts in-sample (the paper:
            ``P0`` is where fine-tuning starts on the training samples), ``k >= 2`` gives stratified
            k-fold out-of-fold ``P0``, ``"loo"`` exact leave-one-out (svm).
        reg (`float`, *optional*, defaults to `10.0`): L2 penalty of the probe in mean-loss form
            (``alpha = reg * trace(Z^T Z) / D``, i.e. relative to the mean feature variance). For
            ``classifier="logistic"`` it weighs the mean cross-entropy (``+ reg / 2 ||W||^2``): pass about 1.
        prob_norm (`str`, *optional*, defaults to `"sigmoid"`): ``"sigmoid"`` (Platt-style: one sigmoid
            per decision value, with Platt's smoothed targets, rows then normalised) or ``"softmax"``.
        calibrate (`bool`, *optional*, defaults to `True`): fit the sigmoid's slope and offset or the
            softmax temperature to the labels (they rescale, never reorder, the decision values).
        rate_norm (`str`, *optional*, defaults to `"reference"`): ``"reference"`` divides the rates by the
            same head's rate on white inputs (standard normal; unit-norm for ``"l2"``), a scale that depends
            on D and the head only, so models stay comparable and the scorer stays a single-model function;
            ``"per_model"`` divides by the model's own mean class rate (only class differences remain);
            ``"none"`` uses ``eta * lambda_k`` as is.
        eta (`float`, *optional*, defaults to `1.0`): learning-rate scale of the gradient flow.
        feature_scaling (`str`, *optional*, defaults to `"standardize"`): head input ``"standardize"``,
            ``"none"`` or ``"l2"`` (row-normalised).
        score_form (`str`, *optional*, defaults to `"ce_direct"`): ``"ce_direct"`` (``-log F_t[y]``) or
            ``"ce_softmax"`` (``-log softmax(F_t)[y]``).
        t (`float`, *optional*, defaults to `1.0`): time coefficient (0: the probe's CE; inf: a floor
            shared by every model).
        samples_per_class (`int`, *optional*, defaults to `64`): samples per class for the NTK rates.
        head_widths (`Sequence[int]`, *optional*, defaults to `(1024, 2048)`): hidden widths of the head.
        seed (`int`, *optional*, defaults to `0`): seeds the head and the content-based fold assignment.

    Returns:
        `float` (higher is better), or :class:`LeadResult` when ``return_details``.

    Raises:
        InvalidInputError: bad features/labels (a ``ValueError``), or an unknown option or option value.

    Example:
        >>> import numpy as np
        >>> from lead_hf.scoring.lead import lead_score
        >>> rng = np.random.default_rng(0)
        >>> y = np.repeat([0, 1, 2], 30); X = rng.normal(size=(90, 16)) + y[:, None]
        >>> lead_score(X, y, head_widths=(64,)) < 0
        True
    """
    unknown = sorted(set(options) - set(LeadOptions.__dataclass_fields__))
    if unknown:
        raise InvalidInputError(
            f"lead: unknown option(s) {unknown}; valid options are {sorted(LeadOptions.__dataclass_fields__)}."
        )
    opts = LeadOptions(**options)
    raw = np.asarray(features) if not hasattr(features, "detach") else features
    dtype = np.float64 if getattr(raw, "dtype", None) == np.float64 else np.float32
    min_per_class = 1 if opts.cv == 0 else 2
    x, y, n_classes = check_scorer_inputs(raw, labels, scorer="lead", min_samples_per_class=min_per_class, dtype=dtype)

    # The probe always sees standardised features (folded into its algebra): its penalty is then scale-free.
    moments = feature_moments(x)
    # Content-based key: folds and rate samples do not depend on the row order of the input.
    order_key = standardized_matvec(x, moments, np.random.default_rng([opts.seed, 0]).standard_normal(x.shape[1]))
    p0 = initial_probabilities(x, y, n_classes, opts, moments=moments, order_key=order_key)
    rates, reference_rate = head_class_rates(x, y, n_classes, opts, moments=moments, order_key=order_key)
    score, decay = evolved_score(p0, y, rates, reference_rate, opts)
    logger.debug("lead: score %.4f, mean class rate %.4g", score, rates.mean())
    if not return_details:
        return score
    return LeadResult(
        score, **initial_energy(p0, y), class_rates=rates, reference_rate=reference_rate, decay=decay,
        initial_probabilities=p0, options=opts,
    )


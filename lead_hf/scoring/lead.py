"""LEAD: logit-space evolution, scored on held-out outputs.

Hu, Li, Tang, Liu, Hu and Duan, "LEAD: Exploring Logit Space Evolution for Model Selection",
CVPR 2024. A linear probe on the frozen features gives initial class probabilities ``P0``; the outputs of
class k then relax towards the labels, ``F_t(x) = (1 - d_k) onehot(y) + d_k P0(x)`` with
``d_k = exp(-eta r_k t)``, and the score is minus the cross-entropy of ``F_t``.

The paper evaluates this on the training samples, with ``P0`` fitted on them and ``r_k`` the mean
eigenvalue of a random head's NTK. Both parts reward capacity, not transfer: an in-sample probe memorises
the labels when N is near D, and on standardised features the NTK rate is the share of non-constant
feature columns (pure noise maximises it). The default therefore scores held-out outputs: ``P0`` is
out-of-fold, and a held-out output relaxes at the rate of what the features carry to unseen samples of
its class, the probe's held-out share of the label entropy. ``preset="paper"`` keeps the paper's
configuration. The options and the evidence behind the defaults are in ``docs/LEAD_DEFAULTS.md``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import log_softmax

from .._logging import get_logger
from .._validation import (
    check_bool_option,
    check_choice_option,
    check_int_option,
    check_number_option,
    check_scorer_inputs,
    is_int_value,
)
from ..energy import PROB_FLOOR, initial_energy
from ..errors import InvalidInputError
from ._probe import decision_to_probabilities, initial_decision_values
from ._ridge import feature_moments, standardized_matvec

__all__ = ["LeadOptions", "LeadResult", "PRESETS", "lead_score", "class_ntk_rates", "transfer_shares", "reweighted_scores"]

logger = get_logger(__name__)

CHOICES = {
    "classifier": ("svm", "logistic"),
    "prob_norm": ("sigmoid", "softmax"),
    "rate": ("transfer", "ntk", "ntk_transfer"),
    "rate_norm": ("reference", "per_model", "none"),
    "feature_scaling": ("standardize", "none", "l2"),
    "score_form": ("ce_direct", "ce_softmax"),
}

# Named configurations; explicit options override them. "paper" is the paper's: in-sample probe, NTK rate.
PRESETS: dict[str, dict[str, Any]] = {"default": {}, "paper": {"cv": 0, "rate": "ntk"}}


@dataclass(frozen=True)
class LeadOptions:
    """The LEAD configuration; see :func:`lead_score` for the meaning of each field."""

    classifier: str = "svm"
    cv: int | str = 5
    reg: float = 10.0
    prob_norm: str = "sigmoid"
    calibrate: bool = True
    rate: str = "transfer"
    rate_norm: str = "reference"
    eta: float = 1.0
    feature_scaling: str = "standardize"
    score_form: str = "ce_direct"
    t: float = 1.0
    samples_per_class: int = 64
    head_widths: tuple[int, ...] = (1024, 2048)
    seed: int = 0

    def __post_init__(self) -> None:
        def normalise(name: str, value: Any) -> None:  # numpy scalars in, Python values stored
            object.__setattr__(self, name, value)

        for name, valid in CHOICES.items():
            check_choice_option(getattr(self, name), name=name, scorer="lead", choices=valid)
        cv = self.cv
        folds = is_int_value(cv) and (cv == 0 or cv >= 2)
        if not (folds or (isinstance(cv, str) and cv == "loo")):
            raise InvalidInputError(f"lead: option 'cv' must be 0 (in-sample), an int >= 2 (folds) or 'loo', got {cv!r}.")
        normalise("cv", int(cv) if folds else cv)
        if self.cv == "loo" and self.classifier != "svm":
            raise InvalidInputError("lead: option 'cv'='loo' needs classifier='svm' (exact hat-matrix LOO); use cv=5.")
        normalise("reg", check_number_option(self.reg, name="reg", scorer="lead", low=0.0))
        normalise("eta", check_number_option(self.eta, name="eta", scorer="lead", low=0.0))
        normalise("t", check_number_option(self.t, name="t", scorer="lead", low=0.0, low_inclusive=True, allow_inf=True))
        normalise("samples_per_class", check_int_option(self.samples_per_class, name="samples_per_class", scorer="lead", low=1))
        normalise("calibrate", check_bool_option(self.calibrate, name="calibrate", scorer="lead"))
        normalise("seed", check_int_option(self.seed, name="seed", scorer="lead", low=0))
        widths = self.head_widths
        if is_int_value(widths):
            widths = (widths,)  # one hidden layer
        if isinstance(widths, (str, bytes)) or not isinstance(widths, Iterable):
            raise InvalidInputError(f"lead: option 'head_widths' must be an int or a sequence of ints >= 1, got {widths!r}.")
        normalise("head_widths", tuple(check_int_option(w, name="head_widths", scorer="lead", low=1) for w in widths))

    @classmethod
    def from_preset(cls, preset: str = "default", **options: Any) -> LeadOptions:
        """The options of a named preset (see :data:`PRESETS`), with ``options`` overriding them.

        Raises:
            InvalidInputError: an unknown preset or option, or a bad option value.
        """
        check_choice_option(preset, name="preset", scorer="lead", choices=tuple(PRESETS))
        unknown = sorted(set(options) - set(cls.__dataclass_fields__))
        if unknown:
            raise InvalidInputError(
                f"lead: unknown option(s) {unknown}; valid options are {sorted(cls.__dataclass_fields__)} and 'preset'."
            )
        return cls(**{**PRESETS[preset], **options})


@dataclass(frozen=True)
class LeadResult:
    """LEAD score with the quantities behind it.

    Attributes:
        score (`float`): minus the cross-entropy of the evolved outputs (higher is better).
        energy0, loss0, acc0 (`float`): initial energy, cross-entropy and accuracy of ``P0``
            (Ren et al., ICLR 2023; see :func:`lead_hf.energy.initial_energy`).
        class_rates (`np.ndarray` of shape `(K,)`): the per-class rates ``r_k`` before scaling: the
            held-out information shares ``U_k`` (``rate="transfer"``), the raw mean NTK eigenvalues
            ``lambda_k`` (``"ntk"``) or their product (``"ntk_transfer"``).
        reference_rate (`float`): the scale of the rates: 1 for ``"transfer"``, else the same head's mean
            NTK eigenvalue on white inputs (the scale of ``rate_norm="reference"``).
        decay (`np.ndarray` of shape `(K,)`): ``d_k = exp(-eta * r_k / scale * t)``, the share of the
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
        """Plain floats for tables and JSON: ``lead``, ``energy0``, ``loss0``, ``acc0``, ``mean_rate`` and
        ``relative_rate`` (the mean rate over its scale)."""
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


def _sample_cross_entropies(p0: np.ndarray, labels: np.ndarray, decay: np.ndarray, score_form: str) -> np.ndarray:
    """Per-sample cross-entropy (N,) of the evolved outputs ``F_t``; the score is minus their mean."""
    rows = np.arange(labels.shape[0])
    d = decay[labels]
    if score_form == "ce_direct":
        # F_t[y] = (1 - d) + d P0[y]; F_t is a distribution, so its CE needs no softmax.
        return -np.log(np.maximum((1.0 - d) + d * p0[rows, labels], PROB_FLOOR))
    evolved = d[:, None] * p0
    evolved[rows, labels] += 1.0 - d
    return -log_softmax(evolved, axis=1)[rows, labels]


def initial_probabilities(x, y, n_classes: int, opts: LeadOptions, *, moments, order_key) -> np.ndarray:
    """Step 1: ``P0`` (N, K) of the initial probe (validated inputs; see :func:`lead_score`)."""
    values = initial_decision_values(
        x, y, n_classes, classifier=opts.classifier, cv=opts.cv, reg=opts.reg, moments=moments, order_key=order_key
    )
    return decision_to_probabilities(values, y, prob_norm=opts.prob_norm, calibrate=opts.calibrate)


REFERENCE_SAMPLES = 256  # white-noise inputs for the reference rate: its Monte-Carlo error is ~1 %


def head_class_rates(x, y, n_classes: int, opts: LeadOptions, *, moments, order_key) -> tuple[np.ndarray, float]:
    """Raw per-class NTK rates (K,) of the seeded random head on ``samples_per_class`` samples, and the
    head's reference rate on white inputs (standard normal, or unit-norm for ``feature_scaling="l2"``)."""
    sample = _rate_sample(order_key, y, opts.samples_per_class)
    rng = np.random.default_rng([opts.seed, 1])
    params = _head_parameters(x.shape[1], opts.head_widths, n_classes, rng)
    rates = class_ntk_rates(_head_inputs(x[sample], moments, opts.feature_scaling), y[sample], n_classes, params)
    white = rng.standard_normal((REFERENCE_SAMPLES, x.shape[1]))
    if opts.feature_scaling == "l2":
        white /= np.linalg.norm(white, axis=1, keepdims=True)
    reference = class_ntk_rates(white, np.zeros(REFERENCE_SAMPLES, dtype=np.int64), 1, params)[0]
    return rates, float(reference)


SHARE_ROUNDING = 1e-12  # shares at rounding level are no information (they would relax fully at t = inf)


def transfer_shares(p0: np.ndarray, labels: np.ndarray, n_classes: int, *, weights: np.ndarray | None = None) -> np.ndarray:
    """Per-class share of the label entropy that the probe's outputs remove, ``U_k = 1 - CE_k / H_k``.

    ``CE_k`` is the mean cross-entropy of ``P0`` over the samples of class k and ``H_k = -log(prior_k)``
    what a prior-only prediction pays there. With out-of-fold ``P0`` this is Theil's uncertainty
    coefficient of the held-out predictions, per class: 0 when the features tell nothing about unseen
    samples of the class (clipped: worse than the prior is no information either), 1 when they tell all.

    Args:
        weights (`np.ndarray` of shape `(R, N)`, *optional*): sample weights of R replicates (e.g. bootstrap
            counts), every class with a positive total in each: the means and priors are then weighted.

    Returns:
        `np.ndarray` of shape `(K,)` (or `(R, K)` with ``weights``), float64, in [0, 1].
    """
    n = labels.shape[0]
    loss = -np.log(np.maximum(p0[np.arange(n), labels], PROB_FLOOR))
    if weights is None:  # one set of samples: O(N) class sums
        class_weight = np.bincount(labels, minlength=n_classes)[None, :].astype(np.float64)
        class_loss = np.bincount(labels, weights=loss, minlength=n_classes)[None, :]
    else:  # R replicates: two GEMMs with the class indicator (N, K) beat R bincounts
        members = np.zeros((n, n_classes))
        members[np.arange(n), labels] = 1.0
        class_weight, class_loss = weights @ members, (weights * loss) @ members
    prior = class_weight / class_weight.sum(axis=1, keepdims=True)
    shares = np.clip(1.0 - class_loss / class_weight / -np.log(prior), 0.0, 1.0)
    shares = np.where(shares > SHARE_ROUNDING, shares, 0.0)  # a prior-only P0 gives 0, not a rounding residue
    return shares[0] if weights is None else shares


def evolution_rates(p0, x, y, n_classes: int, opts: LeadOptions, *, moments, order_key) -> tuple[np.ndarray, float]:
    """Step 2: per-class rates ``r_k`` (K,) and their scale, for ``opts.rate`` (see :func:`lead_score`)."""
    if opts.rate == "transfer":
        return transfer_shares(p0, y, n_classes), 1.0
    rates, reference = head_class_rates(x, y, n_classes, opts, moments=moments, order_key=order_key)
    if opts.rate == "ntk_transfer":
        rates = rates * transfer_shares(p0, y, n_classes)
    return rates, reference


def _decay(relative: np.ndarray, opts: LeadOptions) -> np.ndarray:
    """``d = exp(-eta * t * relative)`` elementwise; a zero rate never relaxes, even at t = inf."""
    decay = np.ones_like(relative)
    moving = relative > 0
    decay[moving] = np.exp(-opts.eta * opts.t * relative[moving])
    return decay


def evolved_score(
    p0: np.ndarray, labels: np.ndarray, rates: np.ndarray, reference_rate: float, opts: LeadOptions
) -> tuple[float, np.ndarray]:
    """Step 3: score and per-class decay ``d_k`` from ``P0`` (N, K) and the rates (K,) under ``opts``."""
    if opts.rate == "transfer":
        scale = 1.0  # shares are already on the unit scale; rate_norm applies to NTK rates
    else:
        scale = {"reference": reference_rate, "per_model": rates.mean(), "none": 1.0}[opts.rate_norm]
    decay = _decay(rates / scale if scale > 0 else np.zeros_like(rates), opts)
    return -float(_sample_cross_entropies(p0, labels, decay, opts.score_form).mean()), decay


SAFE_EXPONENT = {np.dtype(np.float32): 24, np.dtype(np.float64): 256}  # |x| in 2^(+-e): squares and sums stay finite


def _working_features(x: np.ndarray) -> np.ndarray:
    """The features in LEAD's working form: in their own float type (float32 keeps single-precision BLAS: the
    probe's ridge system has a condition number of at most about D / reg, far from float32's limits), multiplied
    by a power of two, which is exact, when their magnitude would overflow or underflow a square in that
    precision (e.g. features x 1e18)."""
    peak = max(abs(float(x.max())), abs(float(x.min())))
    exponent = int(np.frexp(peak)[1]) if peak > 0 else 0
    if abs(exponent) > SAFE_EXPONENT[x.dtype]:
        x = np.ldexp(x, -exponent, dtype=x.dtype)  # one new array; the caller's is untouched
    return x


def lead_score(
    features: Any,
    labels: Any,
    *,
    source_logits: Any = None,
    return_details: bool = False,
    preset: str = "default",
    **options: Any,
) -> float | LeadResult:
    """LEAD transferability score of one model's frozen features for a labelled target task.

    Hu et al., "LEAD: Exploring Logit Space Evolution for Model Selection", CVPR 2024. Steps: (1) a linear
    probe (one-vs-rest least-squares SVM, or logistic regression) gives decision values, out-of-fold by
    default, turned into probabilities ``P0``; (2) each class gets a rate ``r_k``: by default the share of
    the label entropy that ``P0`` removes on held-out samples of the class (``rate="transfer"``), or the
    paper's mean eigenvalue of a random ReLU head's NTK (``"ntk"``); (3) outputs evolve as
    ``F_t = (1 - d_k) onehot(y) + d_k P0`` with ``d_k = exp(-eta * r_k / scale * t)``; (4) the score is
    ``-CE(F_t, y)``. Pure-noise features score as a prior-only guess, below any informative model.
    ``source_logits`` is accepted for the common scorer signature and unused.

    Args:
        features (`array-like` of shape `(n_samples, n_features)`): frozen penultimate features. float32 input
            stays float32 (no copy, single-precision BLAS), anything else is float64.
        labels (`array-like` of shape `(n_samples,)`): target labels (ints or strings; re-encoded).
        source_logits (`array-like`, *optional*): ignored.
        return_details (`bool`, *optional*): return a :class:`LeadResult` instead of the float.
        preset (`str`, *optional*, defaults to `"default"`): ``"default"`` (held-out LEAD) or ``"paper"``
            (the paper's configuration: ``cv=0``, ``rate="ntk"``); the options below override it.
        classifier (`str`, *optional*, defaults to `"svm"`): ``"svm"`` (least-squares one-vs-rest SVM,
            batched over classes) or ``"logistic"`` (multinomial, L-BFGS; small inputs only).
        cv (`int` or `str`, *optional*, defaults to `5`): ``k >= 2`` gives stratified k-fold out-of-fold
            ``P0`` (every class needs 2 samples), ``"loo"`` exact leave-one-out (svm), ``0`` fits and predicts
            in-sample (the paper; it rewards features that memorise, such as pure noise with N near D).
        reg (`float`, *optional*, defaults to `10.0`): L2 penalty of the probe in mean-loss form
            (``alpha = reg * trace(Z^T Z) / D``, i.e. relative to the mean feature variance). For
            ``classifier="logistic"`` it weighs the mean cross-entropy (``+ reg / 2 ||W||^2``): pass about 1.
        prob_norm (`str`, *optional*, defaults to `"sigmoid"`): ``"sigmoid"`` (Platt-style: one sigmoid
            per decision value, with Platt's smoothed targets, rows then normalised) or ``"softmax"``.
        calibrate (`bool`, *optional*, defaults to `True`): fit the sigmoid's slope (clipped at 0) and offset,
            or the softmax temperature, to the labels (they rescale, never reorder, the decision values).
        rate (`str`, *optional*, defaults to `"transfer"`): ``"transfer"``: ``r_k = U_k``, the held-out
            information share of class k (:func:`transfer_shares`); ``"ntk"``: the mean NTK eigenvalue of the
            head on ``samples_per_class`` samples of class k (trace identity); ``"ntk_transfer"``: their
            product.
        rate_norm (`str`, *optional*, defaults to `"reference"`): scale of NTK rates: ``"reference"`` divides
            by the same head's rate on white inputs (standard normal; unit-norm for ``"l2"``), ``"per_model"``
            by the model's own mean class rate, ``"none"`` uses them as is. Unused by ``rate="transfer"``.
        eta (`float`, *optional*, defaults to `1.0`): learning-rate scale of the gradient flow.
        feature_scaling (`str`, *optional*, defaults to `"standardize"`): head input ``"standardize"``,
            ``"none"`` or ``"l2"`` (row-normalised); NTK rates only.
        score_form (`str`, *optional*, defaults to `"ce_direct"`): ``"ce_direct"`` (``-log F_t[y]``) or
            ``"ce_softmax"`` (``-log softmax(F_t)[y]``).
        t (`float`, *optional*, defaults to `1.0`): time coefficient (0: the probe's CE; inf: every class
            with a positive rate reaches its label).
        samples_per_class (`int`, *optional*, defaults to `64`): samples per class for the NTK rates.
        head_widths (`int` or `Sequence[int]`, *optional*, defaults to `(1024, 2048)`): hidden widths of
            the head (NTK rates).
        seed (`int`, *optional*, defaults to `0`): seeds the head and the content-based fold assignment.

    Every number accepts Python and numpy scalars.

    Returns:
        `float` (higher is better), or :class:`LeadResult` when ``return_details``.

    Raises:
        InvalidInputError: bad features/labels (a ``ValueError``), or an unknown option or option value.

    Example:
        >>> import numpy as np
        >>> from lead_hf.scoring.lead import lead_score
        >>> rng = np.random.default_rng(0)
        >>> y = np.repeat([0, 1, 2], 30); X = rng.normal(size=(90, 16)) + y[:, None]
        >>> lead_score(X, y) > lead_score(rng.normal(size=(90, 16)), y)
        True
    """
    opts = LeadOptions.from_preset(preset, **options)
    raw = np.asarray(features) if not hasattr(features, "detach") else features
    dtype = np.float64 if getattr(raw, "dtype", None) == np.float64 else np.float32
    min_per_class = 1 if opts.cv == 0 else 2
    x, y, n_classes = check_scorer_inputs(raw, labels, scorer="lead", min_samples_per_class=min_per_class, dtype=dtype)
    x = _working_features(x)

    # The probe always sees standardised features (folded into its algebra): its penalty is then scale-free.
    moments = feature_moments(x)
    # Content-based key: folds and rate samples do not depend on the row order of the input.
    order_key = standardized_matvec(x, moments, np.random.default_rng([opts.seed, 0]).standard_normal(x.shape[1]))
    p0 = initial_probabilities(x, y, n_classes, opts, moments=moments, order_key=order_key)
    rates, reference_rate = evolution_rates(p0, x, y, n_classes, opts, moments=moments, order_key=order_key)
    score, decay = evolved_score(p0, y, rates, reference_rate, opts)
    logger.debug("lead: score %.4f, mean class rate %.4g", score, rates.mean())
    if not return_details:
        return score
    return LeadResult(
        score, **initial_energy(p0, y), class_rates=rates, reference_rate=reference_rate, decay=decay,
        initial_probabilities=p0, options=opts,
    )


def reweighted_scores(result: LeadResult, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """LEAD's score under sample weights, with the probe's held-out outputs ``P0`` held fixed: the cheap
    replicates of a bootstrap over images (a probe refit per replicate would cost R full scores).

    ``P0`` is out-of-fold, so each image's output is already a prediction for an unseen image; resampling the
    images resamples LEAD's evaluation. For ``rate="transfer"`` the class rates are recomputed from the
    weighted held-out losses, as the score does; NTK rates come from a fixed seeded sample and stay fixed.
    Each replicate costs O(N), against O(N D^2) for the score.

    Args:
        result (`LeadResult`): the details of :func:`lead_score` on these samples.
        labels (`np.ndarray` of shape `(N,)`): the samples' classes encoded ``0..K-1`` (sorted label order).
        weights (`np.ndarray` of shape `(R, N)`): non-negative weights per replicate (e.g. bootstrap counts);
            every class needs a positive total weight in every replicate.

    Returns:
        `np.ndarray` of shape `(R,)`, float64: the score of each replicate (all-ones weights give the score).
    """
    p0, opts = result.initial_probabilities, result.options
    totals = weights.sum(axis=1)
    if opts.rate != "transfer":  # fixed rates: fixed per-sample losses, which the replicates reweight
        return -(weights @ _sample_cross_entropies(p0, labels, result.decay, opts.score_form)) / totals
    decays = _decay(transfer_shares(p0, labels, p0.shape[1], weights=weights), opts)  # (R, K)
    return np.array([-(w @ _sample_cross_entropies(p0, labels, d, opts.score_form)) / total
                     for w, d, total in zip(weights, decays, totals, strict=True)])

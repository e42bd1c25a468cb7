"""LEAD scorer: NTK trace identity, batched probe vs naive refits, limits, invariances, options."""

import numpy as np
import pytest
import torch

from lead_hf.energy import initial_energy
from lead_hf.errors import InvalidInputError
from lead_hf.scoring import _ridge
from lead_hf.scoring._ridge import (
    _dual_decision,
    _primal_decision,
    feature_moments,
    ovr_targets,
    ridge_ovr_decision,
    standardized_matvec,
    stratified_folds,
)
from lead_hf.scoring.lead import CHOICES, LeadResult, _head_parameters, class_ntk_rates, lead_score

SMALL_HEAD = {"head_widths": (32, 48)}
NTK = {"rate": "ntk", **SMALL_HEAD}  # the paper's NTK rates on a small head


def _blobs(n_per_class=12, n_classes=3, dim=6, seed=0, shift=1.5):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), n_per_class)
    x = rng.normal(size=(y.size, dim)) + shift * np.eye(n_classes, dim)[y]
    return x, y


# ---------------------------------------------------------------- NTK rates: trace identity vs explicit Gram


def _explicit_class_rates(inputs, labels, n_classes, params):
    """Mean eigenvalue of the explicit per-class NTK Gram of per-sample gradients of sum_j F_j(x)."""
    theta = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for layer in params for a in layer]

    def summed_output(x):
        h = x
        for i in range(len(params)):
            h = h @ theta[2 * i] + theta[2 * i + 1]
            if i < len(params) - 1:
                h = torch.relu(h)
        return h.sum()

    rows = [
        torch.cat([g.reshape(-1) for g in torch.autograd.grad(summed_output(torch.tensor(x_i, dtype=torch.float64)), theta)])
        for x_i in inputs
    ]
    jac = torch.stack(rows).numpy()  # (S, P): explicit per-sample gradients
    rates = []
    for k in range(n_classes):
        j = jac[labels == k]
        rates.append(np.linalg.eigvalsh(j @ j.T).mean())
    return np.array(rates)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("widths", [(), (7,), (9, 5)])
def test_trace_identity_rates_equal_explicit_gram_mean_eigenvalue(seed, widths):
    rng = np.random.default_rng(seed)
    inputs = rng.normal(size=(15, 4)).astype(np.float32)
    labels = np.arange(15) % 3
    params = _head_parameters(4, widths, 3, rng)
    fast = class_ntk_rates(inputs, labels, 3, params)
    assert fast == pytest.approx(_explicit_class_rates(inputs, labels, 3, params), rel=1e-5)


# ---------------------------------------------------------------- batched OvR LS-SVM vs naive refits


def _relative_penalty(z_train, reg):
    return reg * np.square(z_train - z_train.mean(axis=0)).sum() / z_train.shape[1]


def _naive_ridge(z_train, t_train, z_test, alpha):
    """Per-class ridge with an unpenalised bias via the augmented normal equations (independent form)."""
    d = z_train.shape[1]
    design = np.hstack([z_train, np.ones((len(z_train), 1))])
    penalty = alpha * np.diag(np.r_[np.ones(d), 0.0])
    out = []
    for k in range(t_train.shape[1]):  # one class at a time
        coef = np.linalg.solve(design.T @ design + penalty, design.T @ t_train[:, k])
        out.append(np.hstack([z_test, np.ones((len(z_test), 1))]) @ coef)
    return np.stack(out, axis=1)


def _probe_inputs(seed=0):
    x, y = _blobs(n_per_class=10, n_classes=3, dim=5, seed=seed)
    x = x * np.array([1.0, 3.0, 0.5, 2.0, 1.0]) + 4.0  # unequal scales and a mean offset
    moments = feature_moments(x)
    key = standardized_matvec(x, moments, np.random.default_rng(seed).standard_normal(x.shape[1]))
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    targets = np.where(np.eye(3)[y] > 0, 1.0, -1.0)
    return x, y, moments, key, z, targets


@pytest.mark.parametrize("reg", [1e-3, 0.5])
def test_batched_ridge_in_sample_equals_per_class_fit(reg):
    x, y, moments, key, z, targets = _probe_inputs()
    fast = ridge_ovr_decision(x, y, 3, cv=0, reg=reg, moments=moments, order_key=key)
    assert fast == pytest.approx(_naive_ridge(z, targets, z, _relative_penalty(z, reg)), abs=1e-8)


@pytest.mark.parametrize("seed", [0, 1])
def test_batched_ridge_out_of_fold_equals_per_fold_refit(seed):
    x, y, moments, key, z, targets = _probe_inputs(seed)
    folds = stratified_folds(key, y, 4)
    # 10 per class dealt round-robin into 4 folds: 3, 3, 2, 2 of each class.
    assert [np.bincount(y[folds == f], minlength=3).tolist() for f in range(4)] == [[3] * 3, [3] * 3, [2] * 3, [2] * 3]
    naive = np.empty_like(targets)
    for f in range(4):
        test = folds == f
        naive[test] = _naive_ridge(z[~test], targets[~test], z[test], _relative_penalty(z[~test], 0.1))
    fast = ridge_ovr_decision(x, y, 3, cv=4, reg=0.1, moments=moments, order_key=key)
    assert fast == pytest.approx(naive, abs=1e-8)


@pytest.mark.parametrize("cv", [0, 3, "loo"])
@pytest.mark.parametrize(("n_per_class", "dim"), [(13, 60), (10, 31), (20, 200)])
def test_dual_gram_solution_equals_the_primal_one(cv, n_per_class, dim):
    """D > N takes the N x N system: the same ridge, so the same decision values as the D x D one."""
    x, y = _blobs(n_per_class=n_per_class, dim=dim, shift=2.0)
    x = x + 5.0  # an offset the centring must remove
    moments = feature_moments(x)
    key = standardized_matvec(x, moments, np.random.default_rng(1).normal(size=dim))
    args = (x, ovr_targets(y, 3), y)
    dual = _dual_decision(*args, cv=cv, reg=3.0, moments=moments, order_key=key)
    primal = _primal_decision(*args, cv=cv, reg=3.0, moments=moments, order_key=key)
    np.testing.assert_allclose(dual, primal, atol=1e-10)


def test_hat_matrix_leave_one_out_equals_refits():
    x, y, moments, key, z, targets = _probe_inputs()
    # Exact LOO of ridge at the full-data penalty and standardisation: N refits without row i.
    alpha = _relative_penalty(z, 0.2)
    naive = np.stack([
        _naive_ridge(np.delete(z, i, 0), np.delete(targets, i, 0), z[i : i + 1], alpha)[0] for i in range(len(y))
    ])
    fast = ridge_ovr_decision(x, y, 3, cv="loo", reg=0.2, moments=moments, order_key=key)
    assert fast == pytest.approx(naive, abs=1e-8)
    assert not np.allclose(fast, ridge_ovr_decision(x, y, 3, cv=0, reg=0.2, moments=moments, order_key=key))


@pytest.mark.parametrize("cv", [0, 3, "loo"])
def test_chunked_float32_statistics_match_float64_refits(monkeypatch, cv):
    # Tiny chunks and flushes exercise the chunk loop, the reused buffer and the float64 flushes;
    # a large mean offset checks that centring before the single-precision syrk avoids cancellation.
    monkeypatch.setattr(_ridge, "CHUNK_ROWS", 7)
    monkeypatch.setattr(_ridge, "FLUSH_CHUNKS", 2)
    monkeypatch.setattr(_ridge, "MOMENT_ROWS", 5)
    x, y = _blobs(n_per_class=20, n_classes=3, dim=5, seed=4)
    x = (x * np.array([1.0, 30.0, 0.5, 2.0, 1.0]) + 1000.0).astype(np.float32)
    x64 = x.astype(np.float64)
    moments = feature_moments(x)
    assert moments.mean == pytest.approx(x64.mean(axis=0), rel=1e-7)  # rounded to float32: centring is exact
    assert np.array_equal(moments.mean.astype(np.float32), moments.mean)
    assert moments.scale == pytest.approx(x64.std(axis=0), rel=1e-5)
    key = standardized_matvec(x64, feature_moments(x64), np.ones(5))
    fast = ridge_ovr_decision(x, y, 3, cv=cv, reg=0.3, moments=moments, order_key=key)
    exact = ridge_ovr_decision(x64, y, 3, cv=cv, reg=0.3, moments=feature_moments(x64), order_key=key)
    z = (x64 - x64.mean(axis=0)) / x64.std(axis=0)
    targets = np.where(np.eye(3)[y] > 0, 1.0, -1.0)
    if cv == 0:  # the float64 path itself against the independent per-class formulation
        assert exact == pytest.approx(_naive_ridge(z, targets, z, _relative_penalty(z, 0.3)), abs=1e-8)
    assert fast == pytest.approx(exact, abs=1e-5)


# ---------------------------------------------------------------- limits in t


def test_t_zero_gives_initial_probe_cross_entropy():
    x, y = _blobs()
    details = lead_score(x, y, t=0.0, return_details=True, **SMALL_HEAD)
    assert details.score == pytest.approx(-details.loss0, rel=1e-12)
    assert np.all(details.decay == 1.0)


def test_t_infinity_gives_the_same_floor_for_every_model_with_ntk_rates():
    x, y = _blobs()
    noise = np.random.default_rng(5).normal(size=(y.size, 9))  # a useless model
    for form, floor in [("ce_direct", 0.0), ("ce_softmax", -np.log(np.e / (np.e + 2)))]:
        good = lead_score(x, y, t=np.inf, score_form=form, **NTK)
        bad = lead_score(noise, y, t=np.inf, score_form=form, **NTK)
        assert good == pytest.approx(-floor, abs=1e-12) and bad == pytest.approx(-floor, abs=1e-12)


def test_t_infinity_with_transfer_rates_moves_only_what_the_features_carry():
    x, y = _blobs()
    assert lead_score(x, y, t=np.inf) == pytest.approx(0.0, abs=1e-12)  # every class carries information
    # Features identical across classes carry none: every share is 0, P0 stays the prior, at any t.
    constant = lead_score(np.ones((y.size, 4)), y, t=np.inf, return_details=True)
    assert np.all(constant.class_rates == 0.0) and np.all(constant.decay == 1.0)
    assert constant.score == pytest.approx(-np.log(3), rel=1e-9)


def test_score_moves_monotonically_from_probe_to_labels_in_t():
    x, y = _blobs(shift=0.5)
    scores = [lead_score(x, y, t=t, **SMALL_HEAD) for t in (0.0, 0.5, 1.0, 4.0)]
    assert scores == sorted(scores) and scores[0] < scores[-1] < 0


def test_evolved_outputs_follow_the_closed_form():
    x, y = _blobs(n_classes=4, dim=8)
    d = lead_score(x, y, return_details=True, **NTK)
    decay = np.exp(-d.class_rates / d.reference_rate)  # rate_norm="reference", eta = t = 1
    assert d.decay == pytest.approx(decay)
    per_model = lead_score(x, y, rate_norm="per_model", return_details=True, **NTK)
    assert per_model.decay == pytest.approx(np.exp(-d.class_rates / d.class_rates.mean()))
    p_true = d.initial_probabilities[np.arange(y.size), y]
    assert d.score == pytest.approx(np.mean(np.log((1 - decay[y]) + decay[y] * p_true)))
    both = lead_score(x, y, rate="ntk_transfer", return_details=True, **SMALL_HEAD)
    shares = lead_score(x, y, return_details=True)
    assert both.class_rates == pytest.approx(d.class_rates * shares.class_rates)


def test_transfer_rates_are_the_held_out_uncertainty_coefficients():
    """U_k = 1 - CE_k / H_k, checked against a direct per-class loop on out-of-fold P0, unbalanced classes."""
    x, y = _blobs(n_per_class=30, n_classes=3, dim=6, shift=1.0)
    keep = np.r_[0:30, 30:50, 60:72]  # 30 / 20 / 12 samples
    x, y = x[keep], y[keep]
    d = lead_score(x, y, return_details=True)
    assert d.reference_rate == 1.0 and d.options.cv == 5
    expected = []
    for k in range(3):
        members = y == k
        loss = -np.log(d.initial_probabilities[members, k]).mean()
        expected.append(max(0.0, 1.0 - loss / -np.log(members.mean())))
    assert d.class_rates == pytest.approx(expected, rel=1e-12)
    assert d.decay == pytest.approx(np.exp(-np.array(expected)), rel=1e-12)
    p_true = d.initial_probabilities[np.arange(y.size), y]
    assert d.score == pytest.approx(np.mean(np.log((1 - d.decay[y]) + d.decay[y] * p_true)), rel=1e-12)


# ---------------------------------------------------------------- invariances and determinism


def test_invariant_to_renaming_classes():
    x, y = _blobs(n_classes=4, dim=8)
    names = np.array(["cat", "dog", "ant", "bee"])[y]
    assert lead_score(x, names, **SMALL_HEAD) == pytest.approx(lead_score(x, y, **SMALL_HEAD), rel=1e-12)
    permuted = np.array([2, 0, 3, 1])[y]
    assert lead_score(x, permuted, **SMALL_HEAD) == pytest.approx(lead_score(x, y, **SMALL_HEAD), rel=1e-7)


@pytest.mark.parametrize("options", [{}, {"cv": 5}, {"cv": "loo"}, {"classifier": "logistic", "cv": 3}])
def test_invariant_to_sample_order(options):
    x, y = _blobs(n_per_class=15, n_classes=3, dim=6, shift=1.0)
    order = np.random.default_rng(3).permutation(y.size)
    a = lead_score(x, y, **SMALL_HEAD, **options)
    assert lead_score(x[order], y[order], **SMALL_HEAD, **options) == pytest.approx(a, rel=1e-6)


def test_deterministic_given_seed_and_seed_matters():
    x, y = _blobs(n_per_class=15, dim=6, shift=0.8)
    a = lead_score(x, y, seed=1, **NTK)
    assert lead_score(x, y, seed=1, **NTK) == a
    rates = [lead_score(x, y, seed=s, return_details=True, **NTK).class_rates for s in (1, 2)]
    assert not np.allclose(rates[0], rates[1])


def test_inputs_are_not_mutated_and_float32_matches_float64():
    x, y = _blobs(n_per_class=20, dim=6)
    x_copy, y_copy = x.copy(), y.copy()
    a = lead_score(x, y, **SMALL_HEAD)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(y, y_copy)
    assert lead_score(x.astype(np.float32), y, **SMALL_HEAD) == pytest.approx(a, rel=1e-4)


def test_better_features_score_higher():
    x, y = _blobs(n_per_class=20, shift=2.5)
    noisy = x + np.random.default_rng(1).normal(scale=3.0, size=x.shape)
    assert lead_score(x, y, **SMALL_HEAD) > lead_score(noisy, y, **SMALL_HEAD)


# ---------------------------------------------------------------- options and details


ALL_VALUES = [(name, value) for name, values in CHOICES.items() for value in values] + [
    ("cv", 0), ("cv", 3), ("cv", "loo"), ("calibrate", False), ("eta", 0.3), ("t", 2.0),
    ("samples_per_class", 2), ("head_widths", ()), ("head_widths", [16]), ("reg", 1.0),
]


@pytest.mark.parametrize(("name", "value"), ALL_VALUES)
def test_every_option_value_gives_a_finite_score(name, value):
    x, y = _blobs()
    options = {**NTK, name: value}
    assert np.isfinite(lead_score(x, y, **options))


BAD_VALUES = [
    ("classifier", "rbf", r"'classifier' must be one of \['svm', 'logistic'\]"),
    ("prob_norm", "platt", r"'prob_norm' must be one of \['sigmoid', 'softmax'\]"),
    ("rate_norm", "global", r"'rate_norm' must be one of \['reference', 'per_model', 'none'\]"),
    ("feature_scaling", "minmax", r"'feature_scaling' must be one of"),
    ("score_form", "mse", r"'score_form' must be one of \['ce_direct', 'ce_softmax'\]"),
    ("cv", 1, r"'cv' must be 0 \(in-sample\), an int >= 2"),
    ("cv", True, r"'cv' must be 0"),
    ("t", -1.0, r"'t' must be a number >= 0"),
    ("eta", 0.0, r"'eta' must be a finite number > 0"),
    ("reg", float("nan"), r"'reg' must be a finite number > 0"),
    ("samples_per_class", 0, r"'samples_per_class' must be an int >= 1"),
    ("head_widths", (8, 0), r"'head_widths' must be an int >= 1"),
    ("head_widths", "wide", r"'head_widths' must be an int or a sequence of ints >= 1"),
    ("reg", "x", r"'reg' must be a finite number > 0, got 'x'"),
    ("rate", "fast", r"'rate' must be one of \['transfer', 'ntk', 'ntk_transfer'\]"),
    ("preset", "fast", r"'preset' must be one of \['default', 'paper'\]"),
    ("seed", -1, r"'seed' must be an int >= 0"),
    ("calibrate", "yes", r"'calibrate' must be True or False"),
    ("seed", 1.5, r"'seed' must be an int"),
    ("temperature", 2.0, r"unknown option\(s\) \['temperature'\]"),
]


@pytest.mark.parametrize(("name", "value", "match"), BAD_VALUES)
def test_bad_option_values_raise_naming_the_option(name, value, match):
    x, y = _blobs()
    with pytest.raises(ValueError, match=match):
        lead_score(x, y, **{name: value})


def test_loo_needs_the_svm_probe_and_bad_inputs_raise():
    x, y = _blobs()
    with pytest.raises(InvalidInputError, match="'loo' needs classifier='svm'"):
        lead_score(x, y, cv="loo", classifier="logistic")
    with pytest.raises(InvalidInputError, match="NaN"):
        lead_score(np.where(np.eye(*x.shape) > 0, np.nan, x), y)
    with pytest.raises(InvalidInputError, match="at least 2 per class"):
        lead_score(x[:25], y[:25], cv=5)  # the last class keeps a single sample; 5-fold needs two


NUMPY_SCALARS = {"reg": np.float32(3.0), "eta": np.float64(0.5), "t": np.float32(2.0), "cv": np.int64(3),
                 "seed": np.int64(1), "samples_per_class": np.int32(4), "calibrate": np.bool_(True)}


def test_numpy_scalars_are_accepted_as_their_python_values():
    x, y = _blobs()
    python = {name: value.item() for name, value in NUMPY_SCALARS.items()}
    assert lead_score(x, y, **NUMPY_SCALARS, **NTK) == lead_score(x, y, **python, **NTK)
    assert lead_score(x, y, head_widths=np.int64(16), rate="ntk") == lead_score(x, y, head_widths=(16,), rate="ntk")
    assert lead_score(x, y, head_widths=5, rate="ntk") == lead_score(x, y, head_widths=[5], rate="ntk")


def test_paper_preset_is_the_in_sample_probe_with_ntk_rates_and_options_override_it():
    x, y = _blobs()
    paper = lead_score(x, y, preset="paper", return_details=True, **SMALL_HEAD)
    assert (paper.options.cv, paper.options.rate) == (0, "ntk")
    assert paper.score == lead_score(x, y, cv=0, rate="ntk", **SMALL_HEAD)
    assert lead_score(x, y, preset="paper", cv=5, **SMALL_HEAD) == lead_score(x, y, rate="ntk", **SMALL_HEAD)


def test_return_details_agree_with_initial_energy_and_as_dict():
    x, y = _blobs(n_classes=4, dim=8)
    details = lead_score(x, y, return_details=True, **SMALL_HEAD)
    assert isinstance(details, LeadResult)
    energy = initial_energy(details.initial_probabilities, y)
    assert (details.energy0, details.loss0, details.acc0) == pytest.approx(
        (energy["energy0"], energy["loss0"], energy["acc0"])
    )
    flat = details.as_dict()
    assert {"lead", "energy0", "loss0", "acc0"} <= set(flat) and all(type(v) is float for v in flat.values())
    assert flat["lead"] == lead_score(x, y, **SMALL_HEAD)
    assert details.class_rates.shape == (4,) and details.options.head_widths == (32, 48)


def test_the_public_name_is_the_documented_function():
    import lead_hf

    assert lead_hf.lead_score is lead_score
    assert all(f"{option} (`" in lead_hf.lead_score.__doc__ for option in ("preset", "cv", "rate", "head_widths"))

"""LEAD's Platt calibration: the one-pass Newton fit against a direct minimisation of the same objective."""

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import expit

from lead_hf.scoring import _probe


def _smoothed_targets(labels, n_classes):
    """Platt's targets written out per value: (N+ + 1) / (N+ + 2) for the true class, 1 / (N- + 2) elsewhere."""
    n = labels.size
    targets = np.full((n, n_classes), 1.0 / (n * (n_classes - 1) + 2))
    targets[np.arange(n), labels] = (n + 1) / (n + 2)
    return targets


def _direct_fit(values, labels):
    """Independent formulation: the mean binary cross-entropy over every value, minimised by BFGS."""
    targets = _smoothed_targets(labels, values.shape[1])

    def loss(params):
        z = params[0] * values + params[1]
        return np.mean(np.logaddexp(0.0, z) - targets * z)

    def grad(params):
        residual = expit(params[0] * values + params[1]) - targets
        return np.array([np.mean(residual * values), np.mean(residual)])

    return minimize(loss, np.array([1.0, 0.0]), jac=grad, method="BFGS", options={"gtol": 1e-12}).x


def _decision_values(separable, seed=0, n=300, n_classes=4):
    """+-1-ish least-squares SVM outputs; ``separable``: every true-class value above every other value."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % n_classes
    values = -np.ones((n, n_classes)) + (0.1 if separable else 0.5) * rng.standard_normal((n, n_classes))
    values[np.arange(n), labels] += 2.0 if separable else 0.8
    return values, labels


def _true_class_mask(values, labels):
    mask = np.zeros(values.shape, dtype=bool)
    mask[np.arange(labels.size), labels] = True
    return mask


def test_pass_sums_equal_their_definitions():
    values, _ = _decision_values(separable=False)
    f = values.ravel()
    z = 1.7 * f - 0.4
    q = expit(z)
    w = q * (1 - q)
    expected = [np.logaddexp(0, z).sum(), q @ f, q.sum(), w @ f**2, w @ f, w.sum()]
    assert _probe._platt_sums(f, 1.7, -0.4) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("separable", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_newton_fit_equals_direct_minimisation(separable, seed):
    values, labels = _decision_values(separable, seed)
    fitted = _probe._platt_parameters(values, labels)
    assert fitted == pytest.approx(_direct_fit(values, labels), rel=1e-5)


def test_smoothed_targets_keep_the_fit_finite_when_values_separate_the_classes():
    values, labels = _decision_values(separable=True)
    mask = _true_class_mask(values, labels)
    assert values[mask].min() > values[~mask].max()  # plain 0/1 targets: the slope would grow without bound
    slope, offset = _probe._platt_parameters(values, labels)
    assert np.isfinite([slope, offset]).all() and 0 < slope < 100
    p0 = _probe.decision_to_probabilities(values, labels, prob_norm="sigmoid", calibrate=True)
    assert p0[mask].min() > 0.95 and p0[mask].max() < 1.0


def test_warm_start_on_a_subsample_reaches_the_same_optimum(monkeypatch):
    values, labels = _decision_values(separable=False, n=2000)
    cold = _probe._platt_parameters(values, labels)
    newton, sizes = _probe._platt_newton, []

    def recording_newton(f, *args, **kwargs):
        sizes.append(f.size)
        return newton(f, *args, **kwargs)

    monkeypatch.setattr(_probe, "_platt_newton", recording_newton)
    monkeypatch.setattr(_probe, "PLATT_WARM_START_VALUES", 500)
    warm = _probe._platt_parameters(values, labels)
    assert sizes == [values.size // 16, values.size]  # every 16th row first, then all values
    assert warm == pytest.approx(cold, rel=1e-9)

"""LogME against an independent brute-force maximisation of the Bayesian linear-regression evidence."""

import numpy as np
import pytest
from scipy.optimize import minimize

from lead_hf.errors import InvalidInputError
from lead_hf.scoring.logme import logme_score


def _log_evidence(log_alpha, log_beta, features, target):
    """log N(y | 0, F F^T / alpha + I / beta), with the explicit N x N covariance."""
    n = target.size
    cov = features @ features.T / np.exp(log_alpha) + np.eye(n) / np.exp(log_beta)
    _, log_det = np.linalg.slogdet(cov)
    return -0.5 * target @ np.linalg.solve(cov, target) - 0.5 * log_det - 0.5 * n * np.log(2 * np.pi)


def _max_log_evidence(features, target):
    """max over (alpha, beta) of the evidence per sample: log-grid start, then Nelder-Mead."""
    grid = np.linspace(-8, 8, 17)

    def negative(p):
        return -_log_evidence(p[0], p[1], features, target)

    start = min(((a, b) for a in grid for b in grid), key=negative)
    result = minimize(
        negative,
        start,
        method="Nelder-Mead",
        options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 4000},
    )
    return -result.fun / target.size


def _brute_force_logme(features, labels, *, per_target=False):
    """Mean over classes of the maximum evidence per sample; ``per_target``: ``labels`` is one target."""
    if per_target:
        return _max_log_evidence(features, np.asarray(labels, dtype=float))
    return float(np.mean([_max_log_evidence(features, (labels == k).astype(float)) for k in np.unique(labels)]))


def _problem(n, d, n_classes, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % n_classes
    features = rng.normal(size=(n, d)) + 2.0 * rng.normal(size=(n_classes, d))[labels]
    return features, labels


@pytest.mark.parametrize(("n", "d"), [(60, 8), (24, 40)], ids=["N>D (D x D route)", "N<D (N x N route)"])
def test_matches_brute_force_evidence_maximisation(n, d):
    features, labels = _problem(n, d, 3)
    assert logme_score(features, labels) == pytest.approx(_brute_force_logme(features, labels), rel=1e-8, abs=1e-9)


def test_rank_deficient_features_match_brute_force():
    # dead units (constant zero columns) as in ReLU nets: F^T F is singular
    features, labels = _problem(50, 10, 2, seed=1)
    features[:, 6:] = 0.0
    assert logme_score(features, labels) == pytest.approx(_brute_force_logme(features, labels), rel=1e-7)


def _real_like(n, d, n_classes, seed, duplicates=0):
    """Low-rank, non-negative, float16-rounded features (as a pooled CNN layer), N < D; the last
    ``duplicates`` rows repeat row 0 and its label (duplicate images, as in notMNIST)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % n_classes
    latent = rng.normal(size=(n, 6)) + 1.5 * rng.normal(size=(n_classes, 6))[labels]
    features = np.maximum(latent @ rng.normal(size=(6, d)), 0.0) + 0.05 * rng.normal(size=(n, d)) ** 2
    features = features.astype(np.float16).astype(np.float64)
    if duplicates:
        features[n - duplicates :], labels[n - duplicates :] = features[0], labels[0]
    return features, labels


@pytest.mark.parametrize("seed", [0, 2])
def test_real_like_features_below_d_match_brute_force(seed):
    features, labels = _real_like(30, 80, 3, seed)
    assert logme_score(features.astype(np.float32), labels) == pytest.approx(
        _brute_force_logme(features, labels), rel=1e-8
    )


@pytest.mark.parametrize("seed", [0, 2])
def test_duplicate_rows_below_d_take_the_evidence_on_the_feature_span(seed, caplog):
    # Regression: the residual |y - F m|^2 was |y|^2 minus the fit, which cancelled to rounding noise as
    # beta grew, and the score blew up to about -1.7e4 per sample.
    features, labels = _real_like(30, 80, 3, seed, duplicates=3)
    # The exact evidence is unbounded: the 3 null directions hold no target, noise 1/beta -> 0 pays.
    target = (labels == labels[0]).astype(float)
    assert _log_evidence(0.0, 20.0, features, target) > _log_evidence(0.0, 10.0, features, target) + 12.0
    # What logme reports instead: the evidence of the targets' coordinates on the 27-dimensional span
    # (row 0 and its 3 copies are 4 equal rows).
    basis = np.linalg.svd(features, full_matrices=False)[0][:, :27]
    spanned = basis.T @ features
    expected = np.mean([_brute_force_logme(spanned, basis.T @ (labels == k), per_target=True) for k in range(3)])
    with caplog.at_level("WARNING", logger="lead_hf"):
        value = logme_score(features.astype(np.float32), labels)
    assert value == pytest.approx(expected, rel=1e-7)
    assert "span only 27 of the 30 sample dimensions and 3 class target(s)" in caplog.text


def test_float32_chunked_accumulation_matches_float64():
    features, labels = _problem(300, 16, 4, seed=2)
    exact = logme_score(features, labels)
    f32 = features.astype(np.float32)
    # 7-row chunks: many partial X^T X updates, and a ragged last chunk
    assert logme_score(f32, labels, chunk_rows=7) == pytest.approx(logme_score(f32.astype(np.float64), labels), rel=1e-12)
    assert logme_score(f32, labels, chunk_rows=7) == pytest.approx(exact, rel=1e-5)


def test_label_names_and_order_do_not_matter():
    features, labels = _problem(90, 6, 3, seed=3)
    names = np.array(["cat", "dog", "emu"])[labels]
    perm = np.random.default_rng(0).permutation(labels.size)
    assert logme_score(features, names) == pytest.approx(logme_score(features, labels), rel=1e-12)
    assert logme_score(features[perm], labels[perm]) == pytest.approx(logme_score(features, labels), rel=1e-10)


def test_more_separable_features_score_higher():
    rng = np.random.default_rng(4)
    labels = np.repeat(np.arange(4), 40)
    noise = rng.normal(size=(160, 12))
    scores = [logme_score(noise + s * np.eye(4, 12)[labels], labels) for s in (0.0, 1.0, 3.0)]
    assert scores[0] < scores[1] < scores[2]


def test_input_is_not_written_and_source_logits_ignored():
    features, labels = _problem(40, 5, 2)
    f32 = features.astype(np.float32)
    before = f32.copy()
    value = logme_score(f32, labels, source_logits=np.zeros((3, 3)))
    np.testing.assert_array_equal(f32, before)
    assert value == logme_score(f32, labels)


@pytest.mark.parametrize(
    "options",
    [{"tol": 0.0}, {"max_iter": 0}, {"chunk_rows": 0}],
)
def test_bad_options_are_refused(options):
    features, labels = _problem(20, 3, 2)
    (name,) = options
    with pytest.raises(InvalidInputError, match=rf"logme: option '{name}' must be"):
        logme_score(features, labels, **options)


def test_non_convergence_is_logged(caplog):
    features, labels = _problem(40, 5, 2)
    with caplog.at_level("WARNING", logger="lead_hf"):
        logme_score(features, labels, max_iter=1)
    assert "did not converge in 1 iterations" in caplog.text

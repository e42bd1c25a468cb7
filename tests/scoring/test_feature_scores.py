"""Feature-only baselines against independent formulations (textbook formulas, scikit-learn)."""

import numpy as np
import pytest
from sklearn.covariance import ledoit_wolf
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

from lead_hf.errors import InvalidInputError
from lead_hf.scoring._stats import pca_project
from lead_hf.scoring.gbc import gbc_score
from lead_hf.scoring.hscore import hscore, ledoit_wolf_shrinkage, shrinkage_hscore
from lead_hf.scoring.leep import leep_from_probabilities
from lead_hf.scoring.linear_probe import linear_probe_score
from lead_hf.scoring.nleep import nleep_score
from lead_hf.scoring.sfda import sfda_score
from lead_hf.scoring.transrate import coding_rate, transrate_score
from lead_hf.zoo import default_zoo_dir, load_zoo_task


def _problem(counts=(40, 30, 50), d=6, separation=1.5, seed=0):
    """Unbalanced classes with shifted, anisotropic Gaussians."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(counts)), counts)
    centres = separation * rng.normal(size=(len(counts), d))
    scales = rng.uniform(0.5, 2.0, size=d)
    return centres[labels] + rng.normal(size=(labels.size, d)) * scales, labels


def _class_mean_rows(features, labels):
    """g_i = E[f | y = y_i], row by row, as the textbook defines it."""
    g = np.empty_like(features)
    for c in np.unique(labels):
        g[labels == c] = features[labels == c].mean(axis=0)
    return g


# ---------------------------------------------------------------- PCA helper


@pytest.mark.parametrize("shape", [(80, 10), (12, 30)], ids=["scatter route", "Gram route"])
def test_pca_project_matches_sklearn(shape):
    x = np.random.default_rng(1).normal(size=shape) @ np.diag(np.linspace(3, 0.2, shape[1]))
    ours = pca_project(x, explained_variance=0.8)
    reference = PCA(n_components=0.8, svd_solver="full").fit(x)
    assert ours.shape[1] == reference.n_components_
    np.testing.assert_allclose(np.abs(ours), np.abs(reference.transform(x)), atol=1e-9)
    np.testing.assert_allclose(np.abs(pca_project(x, n_components=3)), np.abs(reference.transform(x)[:, :3]), atol=1e-9)


# ---------------------------------------------------------------- H-scores


def test_hscore_matches_textbook_formula():
    x, y = _problem()
    f = x - x.mean(axis=0)
    textbook = np.trace(np.linalg.pinv(np.cov(f, rowvar=False), rcond=1e-15) @ np.cov(_class_mean_rows(f, y), rowvar=False))
    assert hscore(x, y) == pytest.approx(textbook, rel=1e-10)
    assert hscore(x, y, rcond=1e-15) == pytest.approx(textbook, rel=1e-10)


def test_hscore_ignores_rounding_noise_eigenvalues_when_d_exceeds_n():
    # rank(cov) <= N - 1 < D: the classes are linearly separable in the covariance's range, and the
    # pinv H-score is then exactly C - 1; tllib's rcond=1e-15 would also invert rounding noise
    rng = np.random.default_rng(15)
    y = np.repeat(np.arange(3), 8)
    x = rng.normal(size=(24, 40))
    assert hscore(x, y) == pytest.approx(2.0, rel=1e-8)


def test_ledoit_wolf_intensity_matches_sklearn():
    x, _ = _problem(d=12, seed=2)
    xc = x - x.mean(axis=0)
    _, shrinkage = ledoit_wolf(xc)
    assert ledoit_wolf_shrinkage(xc, np.linalg.eigvalsh(xc.T @ xc / len(xc))) == pytest.approx(shrinkage, rel=1e-10)


@pytest.mark.parametrize("d", [6, 150], ids=["N>D", "N<D"])
def test_shrinkage_hscore_matches_sklearn_ledoit_wolf(d):
    x, y = _problem(d=d, seed=3)
    f = x - x.mean(axis=0)
    cov_alpha, alpha = ledoit_wolf(f)
    between = np.cov(_class_mean_rows(f, y), rowvar=False, bias=True)  # 1/N, as the Ledoit-Wolf covariance
    expected = np.trace(np.linalg.solve(cov_alpha, (1 - alpha) * between))
    assert shrinkage_hscore(x, y) == pytest.approx(expected, rel=1e-8)


def test_constant_features_are_refused_by_shrinkage_hscore():
    with pytest.raises(InvalidInputError, match="every feature is constant"):
        shrinkage_hscore(np.ones((10, 3)), np.repeat([0, 1], 5))


# ---------------------------------------------------------------- TransRate


def _explicit_rate(z, eps):
    m, d = z.shape
    return 0.5 * np.linalg.slogdet(np.eye(d) + d / (m * eps**2) * z.T @ z)[1]


@pytest.mark.parametrize("shape", [(50, 8), (8, 50)], ids=["d x d side", "m x m side (Sylvester)"])
def test_coding_rate_is_the_d_by_d_log_det_on_either_side(shape):
    z = np.random.default_rng(4).normal(size=shape)
    assert coding_rate(z, 0.5) == pytest.approx(_explicit_rate(z, 0.5), rel=1e-10)


@pytest.mark.parametrize("d", [5, 60])
def test_transrate_matches_paper_formula_with_class_proportional_weights(d):
    x, y = _problem(d=d, seed=5)
    z = x - x.mean(axis=0)
    weights = np.bincount(y) / y.size
    expected = _explicit_rate(z, 0.1) - sum(w * _explicit_rate(z[y == c], 0.1) for c, w in enumerate(weights))
    assert transrate_score(x, y, eps=0.1) == pytest.approx(expected, rel=1e-9)


# ---------------------------------------------------------------- GBC


def _bhattacharyya(mu1, mu2, cov1, cov2):
    cov = (cov1 + cov2) / 2
    diff = mu1 - mu2
    log_det = lambda m: np.linalg.slogdet(m)[1]  # noqa: E731
    return diff @ np.linalg.solve(cov, diff) / 8 + 0.5 * (log_det(cov) - 0.5 * log_det(cov1) - 0.5 * log_det(cov2))


@pytest.mark.parametrize("gaussian_type", ["spherical", "diagonal"])
def test_gbc_matches_full_matrix_bhattacharyya(gaussian_type):
    x, y = _problem(seed=6)
    gaussians = []
    for c in np.unique(y):
        variance = x[y == c].var(axis=0)
        if gaussian_type == "spherical":
            variance = np.full_like(variance, variance.mean())
        gaussians.append((x[y == c].mean(axis=0), np.diag(variance)))
    expected = -sum(
        np.exp(-_bhattacharyya(m1, m2, c1, c2))
        for a, (m1, c1) in enumerate(gaussians)
        for b, (m2, c2) in enumerate(gaussians)
        if a != b
    )
    assert gbc_score(x, y, gaussian_type=gaussian_type, n_components=None) == pytest.approx(expected, rel=1e-10)


def test_gbc_pca_option_equals_scoring_the_sklearn_projection():
    x, y = _problem(d=20, seed=7)
    projected = PCA(n_components=4, svd_solver="full").fit_transform(x)
    for kind in ("spherical", "diagonal"):  # both are invariant to the sign of each principal axis
        ours = gbc_score(x, y, gaussian_type=kind, n_components=4)
        assert ours == pytest.approx(gbc_score(projected, y, gaussian_type=kind, n_components=None), rel=1e-9)


def test_gbc_floors_variances_of_constant_features():
    x, y = _problem(seed=8)
    x[:, 0] = 1.0
    assert np.isfinite(gbc_score(x, y, gaussian_type="diagonal", n_components=None))
    with pytest.raises(InvalidInputError, match="option 'gaussian_type' must be one of"):
        gbc_score(x, y, gaussian_type="full")


# ---------------------------------------------------------------- SFDA


def _sfda_reference(x, y):
    """The paper's three steps, written with scikit-learn's shrunk LDA and a per-sample ConfMix loop."""
    classes = np.unique(y)
    priors = np.bincount(y) / y.size
    within = sum(p * np.cov(x[y == c], rowvar=False, bias=True) for c, p in zip(classes, priors, strict=True))
    shrinkage = max(np.exp(-5 * np.linalg.eigvalsh(within)[-1]), 1e-10)
    first = LinearDiscriminantAnalysis(solver="lsqr", shrinkage=shrinkage).fit(x, y).predict_proba(x)
    soft = np.exp(first) / np.exp(first).sum(axis=1, keepdims=True)
    means = np.stack([x[y == c].mean(axis=0) for c in classes])
    mixed = np.empty_like(x)
    for i, (row, label) in enumerate(zip(x, y, strict=True)):
        other = np.mean([means[c] for c in classes if c != label], axis=0)
        mixed[i] = soft[i, label] * row + (1 - soft[i, label]) * other
    second = LinearDiscriminantAnalysis(solver="lsqr", shrinkage=shrinkage).fit(mixed, y).predict_proba(mixed)
    return second[np.arange(y.size), y].mean(), shrinkage


def test_sfda_matches_sklearn_shrunk_lda_pipeline_and_leaves_input_untouched():
    x, y = _problem(d=5, separation=0.4, seed=9)
    x = 0.2 * x  # small within-class variance: a visible shrinkage exp(-5 a)
    before = x.copy()
    expected, shrinkage = _sfda_reference(x, y)
    assert shrinkage > 0.05
    assert sfda_score(x, y) == pytest.approx(expected, rel=1e-9)
    np.testing.assert_array_equal(x, before)  # the reference implementation writes ConfMix into X


def test_sfda_pca_option_and_saturation():
    rng = np.random.default_rng(10)
    y = np.repeat(np.arange(3), 10)
    x = rng.normal(size=(30, 60))  # pure noise, N < D: the shrunk LDA separates the training set
    assert sfda_score(x, y) == pytest.approx(1.0, abs=1e-6)
    projected = PCA(n_components=4, svd_solver="full").fit_transform(x)
    assert sfda_score(x, y, n_components=4) == pytest.approx(sfda_score(projected, y), rel=1e-9)
    assert sfda_score(x, y, n_components=4) < 0.9


# ---------------------------------------------------------------- NLEEP


def test_nleep_equals_leep_of_sklearn_pca_and_mixture_posteriors():
    x, y = _problem(d=10, seed=11)
    reduced = PCA(n_components=0.8, svd_solver="full").fit_transform(x)
    mixture = GaussianMixture(2 * 3, covariance_type="diag", random_state=3).fit(reduced)
    expected = leep_from_probabilities(mixture.predict_proba(reduced), y, 3)
    assert nleep_score(x, y, component_ratio=2, seed=3) == pytest.approx(expected, rel=1e-6)


def test_nleep_needs_as_many_samples_as_components():
    x, y = _problem(counts=(4, 4), seed=12)
    with pytest.raises(InvalidInputError, match=r"10 mixture components .* lower component_ratio"):
        nleep_score(x, y)


# ---------------------------------------------------------------- linear probe


def test_linear_probe_is_the_mean_accuracy_over_seeded_stratified_folds():
    x, y = _problem(d=4, separation=0.8, seed=13)
    folds = StratifiedKFold(n_splits=4, shuffle=True, random_state=5).split(x, y)
    accuracies = []
    for train, test in folds:
        scaler = StandardScaler().fit(x[train])
        probe = LogisticRegression(C=0.5, max_iter=1000).fit(scaler.transform(x[train]), y[train])
        accuracies.append(np.mean(probe.predict(scaler.transform(x[test])) == y[test]))
    assert linear_probe_score(x, y, n_splits=4, C=0.5, seed=5) == pytest.approx(np.mean(accuracies), abs=1e-12)


def test_linear_probe_keeps_duplicate_rows_in_one_fold(caplog):
    """Label noise repeated 4 times: folds that split the copies would test on memorised rows (accuracy 1.0)."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(40, 60)), np.repeat([0, 1], 20)  # D > N: the probe can memorise every row
    x4, y4 = np.repeat(x, 4, axis=0), np.repeat(y, 4)
    leaky = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    leaked = np.mean([LogisticRegression(max_iter=1000).fit(StandardScaler().fit_transform(x4[tr]), y4[tr])
                      .score(StandardScaler().fit(x4[tr]).transform(x4[te]), y4[te])
                      for tr, te in leaky.split(x4, y4)])
    with caplog.at_level("WARNING", logger="lead_hf"):
        grouped = linear_probe_score(x4, y4)
    assert leaked > 0.95 and grouped < 0.75  # chance is 0.5: the copies no longer leak
    assert "160 of 160 rows repeat another row" in caplog.text


def test_linear_probe_needs_n_splits_samples_per_class():
    x, y = _problem(counts=(4, 10), seed=14)
    with pytest.raises(InvalidInputError, match="needs at least 5 per class"):
        linear_probe_score(x, y)


@pytest.mark.skipif(default_zoo_dir() is None, reason="zoo benchmark not available")
def test_linear_probe_defaults_reproduce_the_zoo_baseline():
    import json

    baseline = json.loads((default_zoo_dir() / "baselines.json").read_text())["cifar10"]
    task = load_zoo_task("cifar10")
    model = "resnet20_cifar10"  # a fast probe (64-D), and one where float64 features would give 0.856
    expected = baseline["linear_probe_cv_acc"][baseline["models"].index(model)]
    assert linear_probe_score(task.features[model], task.labels) == pytest.approx(expected, abs=1e-9)

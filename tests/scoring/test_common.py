"""Checks every registered scorer must pass (the scikit-learn ``test_common`` idea), on small synthetic data."""

import functools
import inspect

import numpy as np
import pytest

import lead_hf
from lead_hf.scoring import available_scorers, get_scorer, score, scorer_info

SCORERS = available_scorers()
NEEDS_SOURCE_LOGITS = [name for name in SCORERS if scorer_info(name).needs_source_logits]
# Scorers that estimate per-class statistics (a variance, a covariance, a held-out fold) and therefore
# refuse a class with a single sample (found by running them); every other scorer must return a finite score.
# LEAD's default out-of-fold probe needs two samples per class (its in-sample cv=0 fits a class of one).
NEEDS_TWO_PER_CLASS = {"lead", "transrate", "gbc", "sfda", "linear_probe"}

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")  # overflow or 0/0 inside a scorer is a bug

N_PER_CLASS, N_FEATURES, N_CLASSES, N_SOURCE = 30, 12, 3, 5


def _data(seed: int = 0, *, separation: float = 1.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features with class-dependent means, labels 0..K-1 and source logits that carry the class signal."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(N_CLASSES), N_PER_CLASS)
    centers = rng.normal(size=(N_CLASSES, N_FEATURES)) * separation
    features = centers[labels] + rng.normal(size=(labels.size, N_FEATURES))
    mixing = rng.normal(size=(N_FEATURES, N_SOURCE))
    source_logits = features @ mixing + 0.5 * rng.normal(size=(labels.size, N_SOURCE))
    return features, labels, source_logits


def _score(name, features, labels, source_logits, **options):
    return score(name, features, labels, source_logits=source_logits, **options)


@functools.cache
def _reference_score(name: str) -> float:
    """The score of the default data, computed once per scorer (the slow ones cost seconds per call)."""
    return _score(name, *_data())


def test_every_registered_scorer_is_importable_with_the_common_signature():
    for name in SCORERS:
        fn = get_scorer(name)
        params = list(inspect.signature(fn).parameters.values())
        assert [p.name for p in params[:2]] == ["features", "labels"], name
        assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params[:2]), name
        options = {p.name: p for p in params[2:]}
        assert "source_logits" in options and options["source_logits"].default is None, name
        # options are keyword-only; a **options catch-all must validate names (test_unknown_option_is_refused)
        kinds = {inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.VAR_KEYWORD}
        assert all(p.kind in kinds for p in options.values()), name
        if "seed" in options:
            assert options["seed"].default == 0, name


@pytest.mark.parametrize("name", SCORERS)
def test_returns_finite_float_and_is_deterministic(name):
    first = _reference_score(name)
    assert isinstance(first, float)
    assert np.isfinite(first)
    assert _score(name, *_data()) == first


@pytest.mark.parametrize("name", SCORERS)
def test_does_not_mutate_inputs(name):
    features, labels, logits = _data()
    f32 = features.astype(np.float32)  # a dtype the scorer may cast from: still no writes into the caller's array
    copies = (features.copy(), labels.copy(), logits.copy(), f32.copy())
    _score(name, features, labels, logits)
    _score(name, f32, labels, logits)
    for original, copy in zip((features, labels, logits, f32), copies, strict=True):
        np.testing.assert_array_equal(original, copy)
        assert original.dtype == copy.dtype and original.flags.writeable


@pytest.mark.parametrize("name", SCORERS)
@pytest.mark.parametrize(
    "encode",
    [
        lambda y: np.array(["ant", "bee", "cat"])[y],  # strings (sorted like 0..K-1)
        lambda y: np.array([3, 7, 20])[y],  # non-contiguous ints
        lambda y: y.astype(np.float64),  # whole-number floats
        lambda y: [f"class_{v}" for v in y],  # a plain list
    ],
    ids=["strings", "non_contiguous", "float", "list"],
)
def test_label_encodings_give_the_same_score(name, encode):
    features, labels, logits = _data()
    expected = _reference_score(name)
    assert _score(name, features, encode(labels), logits) == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", SCORERS)
def test_prefers_separable_features(name):
    good = _data(1, separation=3.0)
    noise = _data(1, separation=0.0)
    assert _score(name, *good) > _score(name, *noise)


def _with_nan(features, labels, logits):
    features = features.copy()
    features[4, 2] = np.nan
    return features, labels, logits


def _with_inf(features, labels, logits):
    features = features.copy()
    features[7, 0] = np.inf
    return features, labels, logits


NOT_VALID_INPUTS = [
    # (id, how to break the data, expected message)
    ("mismatched_lengths", lambda f, y, s: (f, y[:-1], s), "rows but labels have"),
    ("nan", _with_nan, "NaN"),
    ("inf", _with_inf, "inf"),
    ("1d_features", lambda f, y, s: (f[:, 0], y, s), "2-D"),
    ("single_class", lambda f, y, s: (f, np.zeros_like(y), s), "1 distinct class"),
    ("empty", lambda f, y, s: (f[:0], y[:0], s[:0]), r"\(0, 12\)|empty"),
    ("one_hot_labels", lambda f, y, s: (f, np.eye(N_CLASSES)[y], s), "1-D"),
    ("regression_target", lambda f, y, s: (f, y + 0.5, s), "regression"),
]


@pytest.mark.parametrize("name", SCORERS)
@pytest.mark.parametrize(("break_data", "match"), [c[1:] for c in NOT_VALID_INPUTS], ids=[c[0] for c in NOT_VALID_INPUTS])
def test_refuses_bad_input(name, break_data, match):
    with pytest.raises(ValueError, match=match):
        _score(name, *break_data(*_data()))


@pytest.mark.parametrize("name", SCORERS)
def test_error_messages_name_the_scorer(name):
    with pytest.raises(ValueError, match=f"^{name}: "):
        _score(name, *_with_nan(*_data()))


@pytest.mark.parametrize("name", NEEDS_SOURCE_LOGITS)
def test_source_logits_are_required_and_checked(name):
    features, labels, logits = _data()
    with pytest.raises(ValueError, match="source_logits are required"):
        score(name, features, labels)
    with pytest.raises(ValueError, match="source_logits have 89 rows but there are 90 samples"):
        _score(name, features, labels, logits[:-1])


@pytest.mark.parametrize("name", [n for n in SCORERS if n not in NEEDS_SOURCE_LOGITS])
def test_feature_only_scorers_ignore_missing_source_logits(name):
    features, labels, _ = _data()
    assert score(name, features, labels) == pytest.approx(_reference_score(name), rel=1e-12)


@pytest.mark.parametrize("name", SCORERS)
def test_a_class_with_one_sample(name):
    features, labels, logits = _data()
    keep = np.r_[0 : 2 * N_PER_CLASS, 2 * N_PER_CLASS]  # class 2 keeps a single sample
    args = (features[keep], labels[keep], logits[keep])
    if name in NEEDS_TWO_PER_CLASS:
        with pytest.raises(ValueError, match=r"class 2 has 1 sample\(s\).*at least \d+ per class"):
            _score(name, *args)
    else:
        assert np.isfinite(_score(name, *args))


@pytest.mark.parametrize("name", SCORERS)
def test_unknown_option_is_refused(name):
    with pytest.raises(lead_hf.InvalidInputError, match=rf"{name}: unknown option\(s\) \['bogus_option'\]; valid options are"):
        score(name, *_data()[:2], source_logits=_data()[2], bogus_option=1)
    with pytest.raises(lead_hf.InvalidInputError, match="bogus_option"):  # the function itself, not only score()
        get_scorer(name)(*_data()[:2], source_logits=_data()[2], bogus_option=1)


def test_unknown_scorer_lists_the_valid_ones():
    features, labels, _ = _data()
    with pytest.raises(ValueError, match="Unknown scorer 'leadd'; choose one of") as info:
        score("leadd", features, labels)
    assert all(repr(name) in str(info.value) for name in SCORERS)


def test_every_public_name_resolves():
    for name in lead_hf.__all__:
        assert getattr(lead_hf, name) is not None, name


# Every option of every baseline: a numpy scalar works as its Python value; a wrong type is a clear error.
NUMERIC_OPTIONS = {
    "logme": {"tol": 1e-9, "max_iter": 500},
    "nleep": {"component_ratio": 2, "explained_variance": 0.9, "seed": 1},
    "hscore": {"rcond": 1e-10},
    "transrate": {"eps": 1e-3},
    "gbc": {"n_components": 3, "min_variance": 1e-3},
    "sfda": {"n_components": 3},
    "linear_probe": {"n_splits": 3, "C": 0.5, "max_iter": 200, "seed": 1},
    "lead": {"reg": 3.0, "eta": 0.5, "t": 2.0, "cv": 3, "seed": 1, "samples_per_class": 4},
}


@pytest.mark.parametrize("name", sorted(NUMERIC_OPTIONS))
def test_numpy_scalar_options_give_the_python_result(name):
    options = NUMERIC_OPTIONS[name]
    as_numpy = {k: (np.int64(v) if isinstance(v, int) else np.float32(v) if k != "tol" else np.float64(v))
                for k, v in options.items()}
    python = {k: v.item() for k, v in as_numpy.items()}  # float32(1e-3) is not 1e-3: compare like with like
    assert _score(name, *_data(), **as_numpy) == _score(name, *_data(), **python)


@pytest.mark.parametrize(("name", "option"), [(n, o) for n, opts in NUMERIC_OPTIONS.items() for o in opts])
def test_a_string_option_value_is_a_clear_error(name, option):
    with pytest.raises(lead_hf.InvalidInputError, match=rf"{name}: option '{option}' must be .*, got 'x'"):
        _score(name, *_data(), **{option: "x"})

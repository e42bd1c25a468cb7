"""LEAD's robustness controls: features whose right answer is known without fine-tuning.

Noise carries no information, so it must rank below every informative model; appending noise columns to a
model adds none, so it must not raise its score; rescaling features changes nothing a model can learn, so it
must not move the score. Synthetic cases always run; the same controls on the real zoo models run when the
shared zoo is present (the full table for every scorer: ``python -m benchmarks.robustness``).
"""

import numpy as np
import pytest

from lead_hf.scoring import available_scorers, get_scorer
from lead_hf.scoring.lead import lead_score
from lead_hf.zoo import default_zoo_dir, first_per_class, list_zoo_tasks, load_zoo_task, merge_zoo_tasks

NOISE_DIMS = (256, 1280, 4096)


def _weak_model(n_per_class=20, n_classes=10, dim=64, signal=0.15, seed=0):
    """Low-dimensional features with a weak class signal: far from separable, but informative."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), n_per_class)
    return rng.normal(size=(y.size, dim)) + signal * rng.normal(size=(n_classes, dim))[y], y


def _noise(n_rows, dim, seed=1):
    return np.random.default_rng([seed, dim]).standard_normal((n_rows, dim)).astype(np.float32)


@pytest.mark.parametrize("n_per_class", [10, 20, 50])
def test_noise_ranks_below_a_weak_model_and_scores_as_the_prior(n_per_class):
    x, y = _weak_model(n_per_class=n_per_class)
    weak = lead_score(x, y)
    assert weak < -0.5  # far from separable
    for dim in NOISE_DIMS:
        noise = lead_score(_noise(y.size, dim), y)
        assert noise < weak, dim
        # A prior-only guess (-log 10), give or take what 5-fold sampling finds by chance in 10 x n samples.
        assert -np.log(10) - 1e-9 <= noise <= -np.log(10) + 3.0 / np.sqrt(y.size), dim


def test_the_paper_preset_ranks_high_dimensional_noise_first():
    """The control the default exists for: in-sample probe and NTK rates reward memorisation."""
    x, y = _weak_model(n_per_class=20)
    assert lead_score(_noise(y.size, 4096), y, preset="paper") > lead_score(x, y, preset="paper")


@pytest.mark.parametrize("seed", range(4))
def test_appending_noise_columns_never_raises_the_score(seed):
    x, y = _weak_model(n_per_class=20, dim=32 + 16 * seed, signal=0.1 + 0.05 * seed, seed=seed)
    padded = np.hstack([x, _noise(y.size, 1000, seed=seed + 10)])
    assert lead_score(padded, y) <= lead_score(x, y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("preset", ["default", "paper"])
def test_rescaling_moves_no_score_beyond_1e_6(dtype, preset):
    x, y = _weak_model(n_per_class=15, dim=48)
    x = x.astype(dtype)
    base = lead_score(x, y, preset=preset, head_widths=(64,))
    for scale in (1e-6, 1e6, 1e18):
        scaled = lead_score(x * dtype(scale), y, preset=preset, head_widths=(64,))
        assert np.isfinite(scaled) and abs(scaled - base) <= 1e-6, scale


@pytest.mark.parametrize("name", available_scorers())
def test_every_scorer_stays_finite_on_features_scaled_by_1e18(name):
    x, y = _weak_model(n_per_class=15, dim=16)
    logits = np.random.default_rng(2).normal(size=(y.size, 5))
    assert np.isfinite(get_scorer(name)(x * 1e18, y, source_logits=logits))


# ---------------------------------------------------------------- the same controls on the real zoo models


def _pools():
    first, second = default_zoo_dir(), default_zoo_dir("zoo2")
    if first is None:
        pytest.skip("the shared zoo is not available")
    for task in list_zoo_tasks(first):
        parts = [load_zoo_task(task, first)] + ([load_zoo_task(task, second)] if second else [])
        yield merge_zoo_tasks(parts)


def test_noise_ranks_below_every_pretrained_zoo_model_on_every_task_and_size():
    failures = []
    for pool in _pools():
        pretrained = [m for m in pool.models if m != "resnet20_random"]  # the random-init control is not one
        noise_full = {dim: _noise(pool.labels.size, dim, seed=7) for dim in NOISE_DIMS}
        for n in (10, 20, 50, 100):
            rows = first_per_class(pool.labels, n)
            y = pool.labels[rows]
            worst_real = min(lead_score(pool.features[m][rows], y) for m in pretrained)
            best_noise = max(lead_score(noise_full[dim][rows], y) for dim in NOISE_DIMS)
            if best_noise >= worst_real:
                failures.append((pool.name, n, best_noise, worst_real))
    assert not failures


def test_padding_zoo_features_with_noise_never_raises_their_score():
    # At 100 images per class. With fewer it sometimes does (docs/LEAD_DEFAULTS.md, counted per size by
    # benchmarks.robustness): 1,000 noise columns act as extra ridge on a high-D model with few samples.
    raised = []
    for pool in _pools():
        for n in (100,):
            rows = first_per_class(pool.labels, n)
            y = pool.labels[rows]
            pad = np.random.default_rng([7, n]).standard_normal((rows.size, 1000)).astype(np.float32)
            for model in pool.models:
                x = pool.features[model][rows]
                if lead_score(np.hstack([x, pad]), y) > lead_score(x, y):
                    raised.append((pool.name, n, model))
    assert not raised

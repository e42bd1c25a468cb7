"""Ranking orchestration: the Ranking result, scoring several scorers, and rank_models on tiny real models."""

from __future__ import annotations

import importlib
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from _rank_helpers import tiny_ranking_assets
from _tiny import make_imagefolder
from scipy.stats import weightedtau

import lead_hf
from lead_hf.errors import InvalidInputError
from lead_hf.hub import CandidateModel
from lead_hf.rank import compute_scores, rank_hub_models, rank_models
from lead_hf.ranking import SPREADS, Ranking

# ---- Ranking, from hand-made rows ----------------------------------------------------------------


def _row(model, lead, logme, error=None):
    return {"model": model, "lead": lead, "logme": logme, "energy0": 0.5, "loss0": 1.0, "acc0": 0.4,
            "n_params": 1_500_000, "extract_seconds": 1.25, "score_seconds": 0.5, "from_cache": False, "error": error}  # fmt: skip


ROWS = [
    _row("org/b", 0.2, -1.0),
    _row("org/broken", math.nan, math.nan, error="ExtractionError: 404 not found"),
    _row("org/a", 0.9, -2.0),
    _row("local/dir/c", 0.5, math.nan, error="logme: singular"),
]
TRUTH = {"org/a": 80.0, "org/b": 60.0, "c": 70.0, "org/broken": 10.0}  # "c" matches the folder name


@pytest.fixture
def ranking():
    return Ranking(ROWS, scorers=("lead", "logme"), dataset="tiny", ground_truth=TRUTH)


def test_rows_sorted_best_first_failed_last(ranking):
    assert [r["model"] for r in ranking.rows] == ["org/a", "local/dir/c", "org/b", "org/broken"]
    assert ranking.best_model == "org/a"
    assert ranking.primary == "lead"
    assert ranking.failed == {"local/dir/c": "logme: singular", "org/broken": "ExtractionError: 404 not found"}
    assert ROWS[0]["model"] == "org/b"  # the caller's rows are not reordered


def test_secondary_scorer_order():
    by_logme = Ranking(ROWS, scorers=("logme", "lead"))
    assert [r["model"] for r in by_logme.rows] == ["org/b", "org/a", "org/broken", "local/dir/c"]  # stable among failures


def test_no_scored_model_has_no_best():
    assert Ranking([_row("x", math.nan, math.nan, error="boom")], scorers=("lead",)).best_model is None


def test_to_json_round_trip_with_nulls(ranking, tmp_path):
    path = tmp_path / "r.json"
    text = ranking.to_json(path)
    assert path.read_text().strip() == text
    payload = json.loads(text)
    assert payload["lead_hf_version"] == lead_hf.__version__ and payload["scorers"] == ["lead", "logme"]
    rows = payload["rows"]
    assert [r["model"] for r in rows] == ["org/a", "local/dir/c", "org/b", "org/broken"]
    assert rows[1]["logme"] is None and rows[3]["lead"] is None  # NaN -> null
    assert rows[0] == {"model": "org/a", "lead": 0.9, "logme": -2.0, "energy0": 0.5, "loss0": 1.0, "acc0": 0.4,
                       "n_params": 1_500_000, "extract_seconds": 1.25, "score_seconds": 0.5, "from_cache": False,
                       "source_head": None, "n_skipped": None, "error": None}  # fmt: skip


def test_tables(ranking):
    markdown = ranking.to_markdown().splitlines()
    assert markdown[0] == "| rank | model | lead | logme | energy0 | loss0 | acc0 | n_params | extract_seconds | error |"
    assert markdown[2] == "| 1 | org/a | 0.9 | -2 | 0.5 | 1 | 0.4 | 1.50M | 1.2s | - |"
    assert markdown[5].endswith("| ExtractionError: 404 not found |")
    text = str(ranking)
    assert text.splitlines()[0] == "Ranking of 4 models on tiny by lead"
    assert text.splitlines()[2].split() == ["1", "org/a", "0.9", "-2", "0.5", "1", "0.4", "1.50M", "1.2s", "-"]


def test_to_pandas(ranking):
    frame = ranking.to_pandas()
    assert list(frame.index) == [1, 2, 3, 4]
    assert frame.loc[1, "model"] == "org/a"
    assert np.isnan(frame.loc[4, "lead"])


def test_evaluate_matches_scipy_and_folder_names(ranking):
    result = ranking.evaluate()
    # org/broken has no score: dropped; "c" is matched through the folder name of local/dir/c
    expected = weightedtau([0.9, 0.5, 0.2], [80.0, 70.0, 60.0])[0]
    assert result["lead"]["weighted_tau"] == pytest.approx(expected)
    assert result["lead"]["weighted_tau"] == pytest.approx(1.0)
    assert result["logme"]["weighted_tau"] == pytest.approx(weightedtau([-2.0, -1.0], [80.0, 60.0])[0])


def test_evaluate_needs_ground_truth():
    with pytest.raises(InvalidInputError, match="No ground truth"):
        Ranking(ROWS, scorers=("lead",)).evaluate()
    with pytest.raises(InvalidInputError, match="covers 1 of the ranked models"):
        Ranking(ROWS, scorers=("lead",)).evaluate({"org/a": 1.0, "elsewhere": 2.0})


def test_scores_of_unknown_scorer(ranking):
    assert list(ranking.scores()) == ["org/a", "local/dir/c", "org/b", "org/broken"]
    with pytest.raises(InvalidInputError, match=r"'leep' was not run.*\['lead', 'logme'\]"):
        ranking.scores("leep")


def test_plot_bars_and_scatter(ranking, tmp_path):
    pytest.importorskip("matplotlib")
    plain = Ranking(ROWS, scorers=("lead", "logme"))
    assert plain.plot(tmp_path / "bars.png").stat().st_size > 1000
    assert ranking.plot(tmp_path / "scatter.png").stat().st_size > 1000
    assert (tmp_path / "bars.png").read_bytes()[:4] == b"\x89PNG"
    assert plain.plot(tmp_path / "no-suffix") == tmp_path / "no-suffix.png"  # the file really written
    assert (tmp_path / "no-suffix.png").is_file() and not (tmp_path / "no-suffix").exists()


def _spread_rows(scores=(1.0, 0.98, 0.5, 0.49)):
    """Four models with replicate noise 0.1 (by default two pairs within noise: 1.0/0.98 and 0.5/0.49)."""
    from lead_hf.scoring.intervals import ScoreSpread

    noise = np.random.default_rng(0).normal(scale=0.1, size=(4, 200))
    rows = []
    for i, (score, replicate_noise) in enumerate(zip(scores, noise, strict=True)):
        spread = ScoreSpread(score, 0.1, score + replicate_noise, "half-sample")
        rows.append({"model": f"org/m{i}", "logme": score, "error": None, SPREADS: {"logme": spread}})
    return rows


def test_intervals_groups_and_comparison_in_every_output():
    ranking = Ranking(_spread_rows(), scorers=("logme",), confidence=0.9)
    assert [r["logme_group"] for r in ranking.rows] == [1, 1, 2, 2]
    low, high = ranking.rows[0]["logme_ci"]
    assert low == pytest.approx(1.0 - 1.6449 * 0.1, abs=1e-4) and high == pytest.approx(1.0 + 1.6449 * 0.1, abs=1e-4)
    found = ranking.comparison()
    assert found["first"] == "org/m0" and found["runner_up"] == "org/m1" and 0.5 < found["p_first_beats_runner_up"] < 0.9
    assert found["groups"] == [["org/m0", "org/m1"], ["org/m2", "org/m3"]]
    payload = json.loads(ranking.to_json())
    assert payload["rows"][0]["logme_ci"] == pytest.approx([low, high]) and payload["rows"][0]["logme_group"] == 1
    assert payload["comparisons"]["logme"]["groups"] == found["groups"] and SPREADS not in payload["rows"][0]
    assert list(ranking.to_pandas().columns[:4]) == ["model", "logme", "logme_ci", "logme_group"]
    text = str(ranking)
    assert f"[{low:.4g}, {high:.4g}]" in text
    assert "By logme, org/m0 beats org/m1 with probability" in text
    assert "Within noise of each other (90% level): org/m0, org/m1; org/m2, org/m3." in text
    assert Ranking(_spread_rows(), scorers=("logme",)).comparison() is None  # no level, no intervals
    assert "logme_ci" not in Ranking(_spread_rows(), scorers=("logme",)).to_pandas().columns


def _band_pixels(path):
    """Pixels of the noise-group band colour (tab:orange at alpha 0.15 over white)."""
    from PIL import Image

    pixels = np.asarray(Image.open(path).convert("RGB")).astype(int)
    return int((np.abs(pixels - np.array([255, 235, 219])).max(axis=2) <= 3).sum())


def test_dot_plot_draws_whiskers_and_noise_groups(tmp_path):
    pytest.importorskip("matplotlib")
    with_groups = Ranking(_spread_rows(), scorers=("logme",), confidence=0.9).plot(tmp_path / "groups.png")
    without = Ranking(_spread_rows(), scorers=("logme",)).plot(tmp_path / "plain.png")
    assert _band_pixels(with_groups) > 10_000 and _band_pixels(without) == 0
    apart = _spread_rows(scores=(1.0, 0.5, 0.0, -0.5))  # no two models within noise: no band
    assert _band_pixels(Ranking(apart, scorers=("logme",), confidence=0.9).plot(tmp_path / "apart.png")) == 0


def test_diagnostics_columns_come_from_the_scorer_registry():
    from lead_hf.scoring import diagnostics_of, scorer_info

    features, labels = _blobs()
    assert scorer_info("lead").diagnostics == ("energy0", "loss0", "acc0") and diagnostics_of(("logme", "sfda")) == ()
    assert set(compute_scores(features, labels, scorers=("logme",))[0]) == {"logme"}
    with_lead, _ = compute_scores(features, labels, scorers=("logme", "lead"))
    assert set(with_lead) == {"logme", "lead", "energy0", "loss0", "acc0"}
    details = lead_hf.lead_score(features, labels, return_details=True).as_dict()
    assert all(with_lead[key] == details[key] for key in ("lead", "energy0", "loss0", "acc0"))


def test_dot_plot_puts_the_best_negative_score_on_top():
    """All LEAD scores are negative: bars from 0 would draw the best model shortest; dots do not."""
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ranking = Ranking([_row("org/x", -0.2, 0.0), _row("/models/y", -1.5, 0.0), _row("org/z", -0.9, 0.0)],
                      scorers=("lead",))
    fig, ax = plt.subplots()
    ranking._dots(ax, "lead", ranking.scores("lead"))
    labels = [t.get_text() for t in ax.get_yticklabels()]
    positions = list(ax.get_yticks())
    plt.close(fig)
    assert labels == ["1. org/x", "2. org/z", "3. y"]  # rank numbers, a local folder by its name
    assert positions == sorted(positions, reverse=True)  # rank 1 at the top


def test_failed_scorer_is_named_once():
    features, labels = _blobs()
    _, errors = compute_scores(features, labels, scorers=("logme", "leep"))
    (message,) = errors
    assert message.startswith("leep: ") and not message.startswith("leep: leep")


# ---- compute_scores ----------------------------------------------------------------------------


def _blobs(n_per_class=20, n_classes=3, dim=6, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_classes), n_per_class)
    features = rng.normal(size=(labels.size, dim)) + 2.0 * np.eye(n_classes, dim)[labels]
    return features, labels


def test_compute_scores_matches_single_scorers():
    features, labels = _blobs()
    before = features.copy()
    values, errors = compute_scores(features, labels, scorers=("logme", "lead"))
    assert errors == []
    assert values["logme"] == pytest.approx(lead_hf.score("logme", features, labels))
    details = lead_hf.lead_score(features, labels, return_details=True).as_dict()
    assert values["lead"] == pytest.approx(details["lead"])
    assert {k: values[k] for k in ("energy0", "loss0", "acc0")} == pytest.approx({k: details[k] for k in ("energy0", "loss0", "acc0")})
    np.testing.assert_array_equal(features, before)


def test_compute_scores_keeps_going_after_a_scorer_error():
    features, labels = _blobs()
    values, errors = compute_scores(features, labels, scorers=("logme", "leep"))  # LEEP needs source logits
    assert math.isnan(values["leep"]) and np.isfinite(values["logme"])
    assert len(errors) == 1 and errors[0].startswith("leep: ")


INVALID_SCORER_ARGS = [
    ({"scorers": ("lead", "nope")}, r"Unknown scorer 'nope'"),
    ({"scorers": ()}, r"scorers is empty"),
    ({"scorers": ("logme", "logme")}, r"lists a scorer twice"),
    ({"scorers": ("logme",), "scorer_options": {"lead": {}}}, r"scorer_options names \['lead'\]"),
]


@pytest.mark.parametrize(("kwargs", "match"), INVALID_SCORER_ARGS)
def test_compute_scores_validation(kwargs, match):
    features, labels = _blobs()
    with pytest.raises(InvalidInputError, match=match):
        compute_scores(features, labels, **kwargs)


def test_scorer_options_are_not_mutated():
    features, labels = _blobs()
    options = {"lead": {"seed": 1}}
    compute_scores(features, labels, scorers=("lead",), scorer_options=options)
    assert options == {"lead": {"seed": 1}}


# ---- rank_models on tiny models and images ------------------------------------------------------


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return tiny_ranking_assets(tmp_path_factory)


def test_imports_are_paid_before_the_first_model_is_timed(assets, tmp_path, monkeypatch):
    """transformers' auto classes cost ~3 s to import once: charged to no model's extract_seconds."""
    from lead_hf import _models

    events = []
    real_import, real_resolve = _models.import_backends, _models.resolve_model
    monkeypatch.setattr(_models, "import_backends", lambda: events.append("imports") or real_import())
    monkeypatch.setattr(_models, "resolve_model", lambda *a, **k: events.append("model") or real_resolve(*a, **k))
    rank_models([assets["resnet"], assets["vit"]], assets["data"], scorers=("logme",), cache_dir=tmp_path, progress=False)
    assert events == ["imports", "model", "model"]


def test_on_model_reports_each_model_and_the_time_limit_leaves_the_rest_out(assets, tmp_path):
    seen = []
    ranking = rank_models([assets["resnet"], assets["vit"]], assets["data"], scorers=("logme",), cache_dir=tmp_path,
                          progress=False, on_model=lambda i, n, m: seen.append((i, n, m)))
    assert seen == [(0, 2, str(assets["resnet"])), (1, 2, str(assets["vit"]))] and not ranking.failed
    late = rank_models([assets["resnet"], assets["vit"]], assets["data"], scorers=("logme",), cache_dir=tmp_path,
                       progress=False, time_limit_s=1e-9)
    assert all("not ranked: the time limit of 1e-09 s was reached first" in e for e in late.failed.values())
    assert len(late.failed) == 2


def test_a_folder_named_twice_is_one_model(assets):
    folder = str(assets["resnet"])
    with pytest.raises(InvalidInputError, match="are the same model"):
        rank_models([folder, folder + "/"], assets["data"], progress=False)


def test_skipped_images_and_run_metadata_are_in_the_json(tmp_path, assets):
    images = make_imagefolder(tmp_path, n_classes=3, per_class=4, corrupt=2)
    runs = [rank_models([assets["resnet"]], images, scorers=("logme",), cache_dir=tmp_path / "cache", progress=False)
            for _ in range(2)]
    for ranking in runs:  # the second run comes from the cache and still says what was left out
        payload = json.loads(ranking.to_json())
        assert payload["rows"][0]["n_skipped"] == 2 and payload["n_images"] == 14 and payload["n_classes"] == 3
    assert runs[1].rows[0]["from_cache"]


def test_rank_models_end_to_end_with_failures(assets, tmp_path):
    models = [assets["resnet"], str(assets["vit"]), assets["not_a_classifier"], tmp_path / "missing-model"]
    ranking = rank_models(models, assets["data"], scorers=("logme", "lead", "leep"), cache_dir=tmp_path / "cache",
                          batch_size=8, progress=False)  # fmt: skip
    by_model = {row["model"]: row for row in ranking.rows}
    assert set(by_model) == {str(m) for m in models}
    good = [by_model[str(assets["resnet"])], by_model[str(assets["vit"])]]
    for row in good:
        assert row["error"] is None
        assert all(np.isfinite(row[k]) for k in ("logme", "lead", "leep", "energy0", "loss0", "acc0"))
        assert row["n_params"] > 0 and row["from_cache"] is False
    assert "ExtractionError" in by_model[str(assets["not_a_classifier"])]["error"]
    assert "not an image model" in by_model[str(assets["not_a_classifier"])]["error"]
    assert "does not exist" in by_model[str(tmp_path / "missing-model")]["error"]
    for bad in (str(assets["not_a_classifier"]), str(tmp_path / "missing-model")):
        assert math.isnan(by_model[bad]["logme"]) and by_model[bad]["from_cache"] is None
    assert {r["model"] for r in ranking.rows[:2]} == {str(assets["resnet"]), str(assets["vit"])}  # failures last
    assert ranking.rows[0]["logme"] >= ranking.rows[1]["logme"]
    for row in good:  # every scorer's 90 % interval over resampled images holds its score
        for scorer in ("logme", "lead", "leep"):
            low, high = row[f"{scorer}_ci"]
            assert low <= row[scorer] <= high and row[f"{scorer}_group"] >= 1
    assert by_model[str(tmp_path / "missing-model")]["logme_ci"] is None
    comparisons = json.loads(ranking.to_json())["comparisons"]
    assert 0.0 <= comparisons["logme"]["p_first_beats_runner_up"] <= 1.0 and comparisons["logme"]["level"] == 0.9
    # the scores equal the registry's on the extracted features
    extraction = importlib.import_module("lead_hf.extraction").extract(assets["resnet"], assets["data"], cache_dir=tmp_path / "cache", progress=False)
    assert extraction.from_cache
    assert by_model[str(assets["resnet"])]["logme"] == pytest.approx(lead_hf.score("logme", extraction.features, extraction.labels))


def test_interrupted_ranking_resumes_from_the_cache(assets, tmp_path, monkeypatch):
    extract_module = importlib.import_module("lead_hf.extraction")
    real_extract = extract_module.extract
    calls = []

    def crash_on_second_model(model, *args, **kwargs):
        calls.append(str(model))
        if len(calls) == 2:
            raise KeyboardInterrupt  # the user pressed Ctrl-C during the second model
        return real_extract(model, *args, **kwargs)

    monkeypatch.setattr(extract_module, "extract", crash_on_second_model)
    models = [assets["resnet"], assets["vit"]]
    options = dict(scorers=("logme",), cache_dir=tmp_path / "cache", batch_size=8, progress=False)
    with pytest.raises(KeyboardInterrupt):
        rank_models(models, assets["data"], **options)
    ranking = rank_models(models, assets["data"], **options)
    cached = {row["model"]: row["from_cache"] for row in ranking.rows}
    assert cached == {str(assets["resnet"]): True, str(assets["vit"]): False}
    assert calls == [str(assets["resnet"]), str(assets["vit"]), str(assets["resnet"]), str(assets["vit"])]


def test_ground_truth_rows_and_evaluation(assets, tmp_path):
    truth = {"tiny-resnet": 0.7, "tiny-vit": 0.6}
    ranking = rank_models([assets["resnet"], assets["vit"]], assets["data"], scorers=("logme",), ground_truth=truth,
                          cache_dir=assets["cache"], progress=False)  # fmt: skip
    assert {r["model"]: r["ground_truth"] for r in ranking.rows} == {str(assets["resnet"]): 0.7, str(assets["vit"]): 0.6}
    tau = ranking.evaluate()["logme"]["weighted_tau"]
    assert tau == pytest.approx(1.0 if ranking.best_model == str(assets["resnet"]) else -1.0)


INVALID_RANK_ARGS = [
    ({"models": []}, r"No models to rank"),
    ({"models": ["a", "b", "a"]}, r"more than once: 'a' and 'a' are the same model"),
    ({"models": ["org/m", "org/m/"]}, r"more than once: 'org/m' and 'org/m/' are the same model"),
    ({"models": ["a"], "scorers": ("lead", "nope")}, r"Unknown scorer 'nope'"),
    ({"models": ["a"], "split": "nosuchsplit"}, r"nosuchsplit"),
    ({"models": ["a"], "confidence": 1.0}, r"confidence level must be a number in \(0, 1\)"),
]


@pytest.mark.parametrize(("kwargs", "match"), INVALID_RANK_ARGS)
def test_rank_models_validation(assets, kwargs, match):
    kwargs = dict(kwargs)
    with pytest.raises(ValueError, match=match):
        rank_models(kwargs.pop("models"), assets["data"], progress=False, **kwargs)


def test_unwritable_cache_dir(assets, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        with pytest.raises(InvalidInputError, match="not writable"):
            rank_models([assets["resnet"]], assets["data"], cache_dir=locked, progress=False)
    finally:
        locked.chmod(0o700)


def test_cache_dir_under_a_file(assets, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InvalidInputError, match=r"cache directory .*file/cache' is not writable"):
        rank_models([assets["resnet"]], assets["data"], cache_dir=blocker / "cache", progress=False)


# ---- rank_hub_models with a fake Hub client -------------------------------------------------------


class FakeApi:
    def __init__(self, infos):
        self.infos = infos
        self.calls = []

    def list_models(self, **query):
        self.calls.append(query)
        yield from self.infos


def _info(model_id, **extra):
    from huggingface_hub.hf_api import ModelInfo

    return ModelInfo(id=model_id, library_name="transformers", pipeline_tag="image-classification", tags=[], **extra)


def test_rank_hub_models_uses_the_candidates(assets, tmp_path):
    api = FakeApi([_info(str(assets["resnet"])), _info("org/seg", transformersInfo={"auto_model": "AutoModelForSemanticSegmentation"})])
    ranking = rank_hub_models(assets["data"], limit=2, api=api, scorers=("logme",), cache_dir=assets["cache"],
                              max_samples_per_class=4, progress=False)  # fmt: skip
    assert [r["model"] for r in ranking.rows] == [str(assets["resnet"])]
    assert api.calls[0]["pipeline_tag"] == "image-classification"


def test_rank_hub_models_loads_the_dataset_once(assets, tmp_path, monkeypatch):
    from lead_hf import data as data_module

    calls = []
    real = data_module._load_split
    monkeypatch.setattr(data_module, "_load_split", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    ranking = rank_hub_models(assets["data"], model_ids=[str(assets["resnet"])], scorers=("logme",),
                              max_samples_per_class=4, seed=3, cache_dir=tmp_path, progress=False)
    assert calls == [assets["data"]]  # rank_models and extract reuse the loaded split
    assert (ranking.metadata["max_samples_per_class"], ranking.metadata["seed"]) == (4, 3)


def test_rank_hub_models_empty_result_names_the_filters(assets):
    api = FakeApi([_info("org/seg", transformersInfo={"auto_model": "AutoModelForSemanticSegmentation"})])
    with pytest.raises(InvalidInputError, match=r"No image-classification model.*search='vit'.*org/seg: transformers loads it with "
                                                 r"AutoModelForSemanticSegmentation"):
        rank_hub_models(assets["data"], search="vit", api=api, progress=False)


def test_rank_hub_models_checks_options_before_work(assets):
    api = FakeApi([])
    with pytest.raises(InvalidInputError, match=r"Unknown option\(s\) \['batchsize'\]"):
        rank_hub_models(assets["data"], api=api, batchsize=3)
    with pytest.raises(InvalidInputError, match="Unknown sort key"):
        rank_hub_models(assets["data"], api=api, sort="stars")
    assert api.calls == []


def test_rank_models_accepts_candidates(assets, tmp_path):
    candidate = CandidateModel(model_id=str(assets["resnet"]), library="transformers", n_params=123)
    ranking = rank_models([candidate], assets["data"], scorers=("logme",), cache_dir=assets["cache"], progress=False)
    assert ranking.rows[0]["model"] == str(assets["resnet"]) and ranking.rows[0]["n_params"] > 0



# ---- real pre-trained weights (skipped without the shared zoo) -----------------------------------


@pytest.mark.slow
def test_zoo_mobilenets_end_to_end(tmp_path):
    from lead_hf.zoo import default_zoo_dir, load_ground_truth, load_model_metadata

    zoo = default_zoo_dir()
    if zoo is None or not (zoo / "hf").is_dir() or not (zoo / "data" / "mnist").is_dir():
        pytest.skip("the zoo-mini benchmark (models in hf/, images in data/) is not available")
    names = ["mobilenetv1_025_imagenet", "mobilenetv1_050_imagenet"]  # the two cheapest of the five
    models = [zoo / "hf" / name for name in names]
    truth = load_ground_truth(zoo)["mnist"]
    ranking = rank_models(models, zoo / "data" / "mnist", scorers=("lead", "logme", "leep"), max_samples_per_class=10,
                          cache_dir=tmp_path, ground_truth=truth, progress=False)  # fmt: skip
    assert ranking.failed == {}
    rows = {Path(r["model"]).name: r for r in ranking.rows}
    assert {name: row["ground_truth"] for name, row in rows.items()} == {name: truth[name] for name in names}
    metadata = load_model_metadata(zoo)
    for name, row in rows.items():
        assert row["leep"] < 0 and 0 <= row["acc0"] <= 1 and np.isfinite(row["lead"])
        assert row["n_params"] == metadata[name]["params_total"]  # the zoo's own count of the same network


# ---- adaptive budget ---------------------------------------------------------------------------------


def test_adaptive_budget_extends_features_and_ranks_by_round(assets, tmp_path, monkeypatch):
    from _tiny import make_tiny_classifier

    from lead_hf.budget import Budget

    extract_module = importlib.import_module("lead_hf.extraction")
    real_extract, calls = extract_module.extract, []

    def recording_extract(model, data, **kwargs):
        result = real_extract(model, data, **kwargs)
        calls.append((Path(str(model)).name, len(data), result.from_cache))
        return result

    monkeypatch.setattr(extract_module, "extract", recording_extract)
    images = make_imagefolder(tmp_path, n_classes=3, per_class=12, mixed_modes=False)
    models = [assets["resnet"], assets["vit"], make_tiny_classifier(tmp_path, arch="convnext", num_labels=4)]
    budget = Budget((4, 8, 12), keep=1 / 3)  # 3 models, then the best 2 (min_kept) twice
    options = dict(scorers=("logme", "lead"), cache_dir=tmp_path / "cache", batch_size=8, progress=False, budget=budget)
    ranking = rank_models(models, images, **options)

    rounds = {Path(r["model"]).name: r["budget_round"] for r in ranking.rows}
    assert sorted(rounds.values()) == [1, 3, 3]
    assert [r["budget_round"] for r in ranking.rows] == [3, 3, 1]  # models that went further rank first
    assert [r["n_images"] for r in ranking.rows] == [36, 36, 12]
    dropped = next(name for name, r in rounds.items() if r == 1)
    # every extraction is of 12 images (4 new per class); a model extends its features, never re-extracts them
    assert {n for _, n, _ in calls} == {12}
    fresh = [(name, n) for name, n, cached in calls if not cached]
    assert sorted(fresh) == sorted([(dropped, 12)] + [(Path(str(m)).name, 12) for m in models if Path(str(m)).name != dropped] * 3)
    payload = json.loads(ranking.to_json())
    assert payload["budget"] == {"per_class": [4, 8, 12], "keep": pytest.approx(1 / 3)}
    assert [r["n_images"] for r in payload["rows"]] == [36, 36, 12]
    # intervals and noise groups compare only the models of the last round (the same images)
    assert ranking.rows[2]["logme_group"] is None and ranking.rows[0]["logme_group"] == 1
    # the ranking's evaluation follows the (round, score) order
    truth = {Path(str(m)).name: acc for m, acc in zip(models, (0.9, 0.8, 0.7), strict=True)}
    positions = ranking.ordering_scores("logme")
    assert positions[ranking.rows[0]["model"]] == 3.0 and positions[ranking.rows[2]["model"]] == 1.0
    assert math.isfinite(ranking.evaluate(truth)["logme"]["weighted_tau"])

    calls.clear()
    again = rank_models(models, images, **options)  # the same budget again: every part from the cache
    assert calls and all(cached for _, _, cached in calls)
    assert [r["logme"] for r in again.rows] == [r["logme"] for r in ranking.rows]


def test_a_round_without_new_images_extracts_nothing(assets, tmp_path):
    from lead_hf.budget import Budget

    # 6 images per class: the first round already takes them all, the second adds none
    ranking = rank_models([assets["resnet"], assets["vit"]], assets["data"], scorers=("logme",), budget=Budget((6, 12)),
                          cache_dir=tmp_path / "cache", batch_size=8, progress=False)
    assert [(r["budget_round"], r["n_images"], r["error"]) for r in ranking.rows] == [(2, 18, None), (2, 18, None)]


def test_racing_budget_sends_the_leader_on(assets, tmp_path):
    images = make_imagefolder(tmp_path, n_classes=3, per_class=12, mixed_modes=False)
    ranking = rank_models([assets["resnet"], assets["vit"]], images, scorers=("lead",), max_samples_per_class=12,
                          budget="racing", cache_dir=tmp_path / "cache", batch_size=8, progress=False)
    assert json.loads(ranking.to_json())["budget"] == {"per_class": [3, 12], "keep": 0.0}
    leader, other = ranking.rows
    assert leader["budget_round"] == 2 and leader["n_images"] == 36
    assert (other["budget_round"], other["n_images"]) in {(2, 36), (1, 9)}  # on only when within noise of the leader


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"budget": "halving"}, "needs max_samples_per_class"), ({"budget": "fast"}, r"must be None, one of \['racing'"),
     ({"budget": "racing", "max_samples_per_class": 20, "confidence": None}, "needs score intervals"),
     ({"budget": "BUDGET", "max_samples_per_class": 20}, "last round has 12 images per class")],
)
def test_bad_budget_options_fail_before_any_work(assets, kwargs, match):
    from lead_hf.budget import Budget

    kwargs = {k: Budget((4, 12)) if v == "BUDGET" else v for k, v in kwargs.items()}
    with pytest.raises(InvalidInputError, match=match):
        rank_models([assets["resnet"]], assets["data"], progress=False, **kwargs)

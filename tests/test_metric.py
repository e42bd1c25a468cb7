"""The LEAD evaluate module: same numbers as lead_hf.scoring, the module card, and every loading path.

All offline: the Hub is a fake server on 127.0.0.1 (see tests/_metric_helpers.py).
"""

from __future__ import annotations

import ast
import doctest
import inspect
import re
import sys
from pathlib import Path

import evaluate
import numpy as np
import pytest
from _metric_helpers import fake_hub, go_offline, go_online, isolated_modules_cache, space_files

import lead_hf
from lead_hf.cli import main as cli_main
from lead_hf.metric import load_metric, metric_script_path, register_metric
from lead_hf.scoring import score
from lead_hf.scoring.lead import LeadOptions

REPO = Path(__file__).resolve().parents[1]
CHECKOUT_MODULE = REPO / "metric" / "lead"
# Small head and rate sample: the module is a wrapper, the numbers only have to match the scorer's.
OPTIONS = {"head_widths": (16,), "samples_per_class": 8}


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 20)
    features = (rng.normal(size=(60, 8)) + labels[:, None]).astype(np.float32)
    return features, labels


@pytest.fixture(scope="module")
def expected(data) -> dict[str, float]:
    details = lead_hf.lead_score(*data, return_details=True, **OPTIONS).as_dict()
    assert details["lead"] == score("lead", *data, **OPTIONS)
    return details


@pytest.fixture
def fresh_modules_cache(tmp_path, monkeypatch):
    yield from isolated_modules_cache(tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def metric():
    return load_metric(keep_in_memory=True)


# --- the numbers -------------------------------------------------------------------------------------


def test_compute_in_one_call_equals_the_scorer(metric, data, expected):
    result = metric.compute(predictions=data[0], references=data[1], **OPTIONS)
    assert result == pytest.approx(expected, rel=1e-12)
    assert set(result) >= {"lead", "energy0", "loss0", "acc0"}
    assert all(type(value) is float for value in result.values())


@pytest.mark.parametrize("chunk", [7, 25])
def test_add_batch_in_chunks_equals_the_scorer(metric, data, expected, chunk):
    features, labels = data
    for start in range(0, len(labels), chunk):
        metric.add_batch(predictions=features[start : start + chunk], references=labels[start : start + chunk])
    assert metric.compute(**OPTIONS) == pytest.approx(expected, rel=1e-12)


def test_add_single_examples_lists_and_string_labels(metric, data, expected):
    features, labels = data
    names = np.array(["cat", "dog", "owl"])[labels]
    for row, name in zip(features.tolist(), names.tolist(), strict=True):
        metric.add(prediction=row, reference=name)
    assert metric.compute(**OPTIONS) == pytest.approx(expected, rel=1e-12)


def test_known_feature_width_gives_the_same_numbers(data, expected):
    metric = load_metric(keep_in_memory=True, feature_dim=np.int64(8))
    assert metric.features[0]["predictions"].shape == (1, 8)
    features, labels = data
    for start in range(0, len(labels), 25):
        metric.add_batch(predictions=features[start : start + 25], references=labels[start : start + 25])
    assert metric.compute(**OPTIONS) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(lead_hf.InvalidInputError, match=r"have 7 features but .* feature_dim=8; load it with feature_dim=7"):
        metric.add_batch(predictions=features[:5, :7], references=labels[:5])


@pytest.mark.parametrize("feature_dim", [0, -3, 2.0, True, "2048"])
def test_bad_feature_width_is_refused(feature_dim):
    with pytest.raises(lead_hf.InvalidInputError, match=f"positive int or None, got {re.escape(repr(feature_dim))}"):
        load_metric(feature_dim=feature_dim)


def test_vectors_of_different_widths_are_refused(metric, data):
    metric.add_batch(predictions=data[0][:30], references=data[1][:30])
    metric.add_batch(predictions=data[0][30:, :6], references=data[1][30:])
    with pytest.raises(lead_hf.InvalidInputError, match="different lengths"):
        metric.compute(**OPTIONS)


def test_float64_features_are_stored_as_float32(metric, data, expected):
    result = metric.compute(predictions=data[0].astype(np.float64), references=data[1], **OPTIONS)
    assert result == pytest.approx(expected, rel=1e-12)


def test_options_reach_the_scorer(metric, data, expected):
    options = {**OPTIONS, "cv": 0, "t": 2.0, "seed": 3}
    result = metric.compute(predictions=data[0], references=data[1], **options)
    assert result["lead"] == pytest.approx(score("lead", *data, **options), rel=1e-12)
    assert result["lead"] != pytest.approx(expected["lead"], rel=1e-6)


def test_source_logits_go_to_compute(metric, data, expected):
    logits = np.random.default_rng(1).normal(size=(60, 5))
    metric.add_batch(predictions=data[0], references=data[1])
    assert metric.compute(source_logits=logits, **OPTIONS) == pytest.approx(expected, rel=1e-12)  # unused by LEAD
    with pytest.raises(ValueError, match="source_logits"):  # not a per-batch input
        metric.add_batch(predictions=data[0], references=data[1], source_logits=logits)


def test_compute_declares_exactly_the_scorer_options():
    module = sys.modules[type(load_metric()).__module__]
    parameters = inspect.signature(module.Lead._compute).parameters
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())  # evaluate's rule
    options = set(parameters) - {"self", "predictions", "references", "source_logits"}
    assert options == set(LeadOptions.__dataclass_fields__) | {"preset"}
    assert all(parameters[name].default is None for name in options)


@pytest.mark.parametrize(
    ("predictions", "match"),
    [
        (np.zeros(60, dtype=np.float32), r"shape \(n_samples, n_features\), got shape \(60,\)"),  # one row
        (np.zeros((60, 2, 4), dtype=np.float32), r"got shape \(60, 2, 4\)"),  # feature maps, not vectors
    ],
)
def test_bad_feature_shapes_are_refused_with_the_fix(metric, data, predictions, match):
    with pytest.raises(lead_hf.InvalidInputError, match=match):
        metric.add_batch(predictions=predictions, references=data[1])


@pytest.mark.parametrize(("references", "match"), [
    ([0.0, 0.7, 1.0], r"1 of 3 are not whole numbers or are NaN \(\[1\]=np.float64\(0.7\)\)"),
    ([0.0, float("nan"), 1.0], r"1 of 3 are not whole numbers or are NaN \(\[1\]=np.float64\(nan\)\)"),
])
def test_float_and_nan_references_are_refused_not_floored(metric, references, match):
    features = np.zeros((3, 4), dtype=np.float32)
    with pytest.raises(lead_hf.InvalidInputError, match=match):
        metric.add_batch(predictions=features, references=references)
    with pytest.raises(lead_hf.InvalidInputError, match="references must be class labels"):
        metric.add(prediction=features[0], reference=references[1])


def test_whole_float_references_are_class_labels(metric, data, expected):
    features, labels = data
    result = metric.compute(predictions=features, references=labels.astype(np.float64), **OPTIONS)
    assert result["lead"] == pytest.approx(expected["lead"], rel=1e-12)


def test_an_empty_batch_is_refused_with_the_fix(metric):
    with pytest.raises(lead_hf.InvalidInputError, match="add_batch got no samples"):
        metric.add_batch(predictions=np.zeros((0, 4), dtype=np.float32), references=[])


def test_bad_option_value_is_refused(metric, data):
    with pytest.raises(ValueError, match="classifier"):
        metric.compute(predictions=data[0], references=data[1], classifier="random_forest")


def test_module_doctests_pass():
    module = sys.modules[type(load_metric()).__module__]
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    tests = finder.find(module, globs={})
    for test in tests:
        runner.run(test)
    assert sum(len(t.examples) for t in tests) >= 8
    assert runner.failures == 0


def test_lead_hf_metric_doctests_pass():
    import lead_hf.metric

    assert doctest.testmod(lead_hf.metric, optionflags=doctest.ELLIPSIS).failed == 0


# --- the module folder -------------------------------------------------------------------------------


def test_checkout_and_packaged_scripts_are_one_file():
    assert (CHECKOUT_MODULE / "lead.py").read_bytes() == metric_script_path().read_bytes()
    assert (CHECKOUT_MODULE / "lead.py").resolve() == metric_script_path().resolve()


def test_script_has_one_import_per_line():
    tree = ast.parse(metric_script_path().read_text())
    imports = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert imports and all(len(node.names) == 1 for node in imports)
    libraries = {node.names[0].name.split(".")[0] for node in imports if isinstance(node, ast.Import)}
    assert libraries == {"datasets", "evaluate", "numpy", "lead_hf"}


def test_module_card():
    text = (CHECKOUT_MODULE / "README.md").read_text()
    header = re.match(r"---\n(.*?)\n---\n", text, flags=re.S).group(1)
    assert re.search(r"^sdk: gradio$", header, flags=re.M)
    assert re.search(r"^app_file: app\.py$", header, flags=re.M)
    assert re.search(r"^tags:\n- evaluate\n- metric$", header, flags=re.M)
    sections = re.findall(r"^#+ (.+)$", text, flags=re.M)
    for section in ("Metric Description", "How to Use", "Inputs", "Output Values", "Values from Popular Papers",
                    "Examples", "Limitations and Bias", "Citation"):
        assert section in sections
    for option in LeadOptions.__dataclass_fields__:  # the card lists every option of the scorer
        assert f"`{option}`" in text
    published = re.search(r"\| DTD .*?\n\|[-| ]+\n(\|.*\|)", text).group(1)
    assert [float(v) for v in published.strip("|").split("|")] == [
        0.825, 0.841, 0.835, 0.791, 0.663, 0.760, 0.780, 0.892, 0.786, 0.743
    ]


def test_space_app_and_requirements():
    app = (CHECKOUT_MODULE / "app.py").read_text()
    assert "launch_gradio_widget(module)" in app and 'evaluate.load("lead.py")' in app
    requirements = (CHECKOUT_MODULE / "requirements.txt").read_text().split("\n")
    assert {"lead-hf", "evaluate>=0.4.3"} <= set(requirements)


# --- loading paths -----------------------------------------------------------------------------------


def test_load_from_a_checkout(monkeypatch, data, expected):
    monkeypatch.chdir(REPO)
    metric = evaluate.load("metric/lead", keep_in_memory=True)
    assert metric.compute(predictions=data[0], references=data[1], **OPTIONS) == pytest.approx(expected, rel=1e-12)


def test_load_metric_refuses_a_path():
    with pytest.raises(ValueError, match="path='accuracy'"):
        load_metric(path="accuracy")


def test_register_metric_is_idempotent(fresh_modules_cache):
    first = register_metric()
    second = register_metric(hf_modules_cache=fresh_modules_cache)
    assert first == second and first.is_relative_to(fresh_modules_cache)
    assert first.read_bytes() == metric_script_path().read_bytes()
    installed = first.parents[1]
    assert installed.name == "evaluate-metric--lead"
    assert [p.name for p in installed.iterdir() if p.is_dir()] == [first.parent.name]  # one copy


def test_bare_name_loads_offline_after_install_metric(fresh_modules_cache, tmp_path, monkeypatch, capsys, data, expected):
    monkeypatch.chdir(tmp_path)  # no ./lead/lead.py
    with pytest.raises(FileNotFoundError, match="'lead' doesn't exist"):
        evaluate.load("lead")  # nothing registered: evaluate cannot resolve the bare name
    assert cli_main(["install-metric"]) == 0
    assert cli_main(["install-metric"]) == 0
    assert str(fresh_modules_cache) in capsys.readouterr().out
    metric = evaluate.load("lead", keep_in_memory=True)
    assert metric.compute(predictions=data[0], references=data[1], **OPTIONS) == pytest.approx(expected, rel=1e-12)


OFFICIAL_LEAD = b'''import datasets
import evaluate


class Lead(evaluate.Metric):
    def _info(self):
        features = datasets.Features({"predictions": datasets.Value("float32"), "references": datasets.Value("int64")})
        return evaluate.MetricInfo(description="official", citation="", features=features)

    def _compute(self, predictions, references):
        return {"official": 1.0}
'''


@pytest.mark.parametrize("official", [False, True], ids=["hub_has_no_lead", "official_lead_on_hub"])
def test_bare_name_online_uses_the_hub_first(fresh_modules_cache, tmp_path, monkeypatch, data, expected, official):
    monkeypatch.chdir(tmp_path)
    register_metric()
    files = space_files("evaluate-metric", "lead", _folder_with(tmp_path, OFFICIAL_LEAD)) if official else {}
    with fake_hub(files) as hub:
        go_online(monkeypatch, hub.url)
        metric = evaluate.load("lead", keep_in_memory=True)
    assert ("HEAD", "/spaces/evaluate-metric/lead/resolve/main/lead.py") in hub.requests
    if official:
        assert metric.compute(predictions=[0.5], references=[1]) == {"official": 1.0}
    else:
        assert metric.compute(predictions=data[0], references=data[1], **OPTIONS) == pytest.approx(expected)


def _folder_with(tmp_path: Path, script: bytes) -> Path:
    folder = tmp_path / "official"
    folder.mkdir()
    (folder / "lead.py").write_bytes(script)
    return folder


def test_load_from_a_space_then_offline_from_the_cache(fresh_modules_cache, monkeypatch, data, expected):
    org = "lead-hf-test-org"
    with fake_hub(space_files(org, "lead", CHECKOUT_MODULE)) as hub:
        go_online(monkeypatch, hub.url)
        metric = evaluate.load(f"{org}/lead", keep_in_memory=True)
        assert metric.compute(predictions=data[0], references=data[1], **OPTIONS) == pytest.approx(expected, rel=1e-12)
    version_tag = f"v{evaluate.__version__}"
    assert ("HEAD", f"/spaces/{org}/lead/resolve/{version_tag}/lead.py") in hub.requests  # 404: no tag
    assert ("GET", f"/spaces/{org}/lead/resolve/main/lead.py") in hub.requests

    go_offline(monkeypatch)  # the server is stopped: only the modules cache can answer
    cached = evaluate.load(f"{org}/lead", keep_in_memory=True)
    assert type(cached).__module__.startswith(f"evaluate_modules.metrics.{org}--lead.")
    assert cached.compute(predictions=data[0], references=data[1], **OPTIONS) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("call", [load_metric, register_metric])
def test_missing_evaluate_names_the_extra(monkeypatch, call):
    monkeypatch.setitem(sys.modules, "evaluate", None)  # import evaluate -> ImportError
    with pytest.raises(ImportError, match=re.escape('pip install "lead-hf[metric]"')):
        call()

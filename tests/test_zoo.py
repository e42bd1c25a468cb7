"""The zoo benchmark runner on a temporary mini-zoo (fake scorers) and, when present, on the real zoo."""

import json
import math

import numpy as np
import pytest
from scipy import stats

import lead_hf.scoring
from lead_hf import zoo
from lead_hf.benchmark import ZooBenchmarkResult, run_zoo_benchmark
from lead_hf.errors import InvalidInputError

TRUTH = {  # task -> model -> fine-tuned accuracy
    "alpha": {"m_a": 60.0, "m_b": 90.0, "m_c": 75.0, "m_d": 80.0},
    "beta": {"m_a": 70.0, "m_b": 65.0, "m_c": 85.0, "m_d": 50.0},
}
PARAMS = {"m_a": 4_000, "m_b": 1_000, "m_c": 3_000, "m_d": 2_000}


def _write_zoo(root, *, metadata_extra=None):
    """A zoo in the shared layout whose features encode each model's accuracy (mean feature value)."""
    root.mkdir(parents=True, exist_ok=True)
    labels = np.repeat(np.arange(3), 4)
    gt = {task: dict(accs) for task, accs in TRUTH.items()}
    gt["_protocol"] = {"note": "metadata keys start with an underscore"}
    (root / "ground_truth.json").write_text(json.dumps(gt))
    metadata = {m: {"params_backbone": p, **(metadata_extra or {}).get(m, {})} for m, p in PARAMS.items()}
    (root / "models.json").write_text(json.dumps(metadata))
    for task, accs in TRUTH.items():
        (root / "features" / task).mkdir(parents=True)
        for model, acc in accs.items():
            features = np.full((labels.size, 4), acc / 100, dtype=np.float16)
            logits = np.full((labels.size, 5), -acc / 100, dtype=np.float16)
            np.savez(root / "features" / task / f"{model}.npz", features=features, logits=logits, labels=labels)
    return root


def _oracle(features, labels, *, source_logits=None, offset=0.0):
    return float(np.mean(features)) + offset


def _flaky_reversed(features, labels, *, source_logits=None):
    if np.mean(features) > 0.895:  # m_b on "alpha" (90 %)
        raise ValueError("boom: features look odd")
    return float(np.mean(source_logits))  # the reversed ranking


@pytest.fixture
def fake_scorers(monkeypatch):
    """Registered names served by fake functions, so the runner is tested without the real scorers."""
    calls = []
    fakes = {"logme": _oracle, "leep": _flaky_reversed}

    def get_scorer(method):
        calls.append(method)
        return fakes[lead_hf.scoring.scorer_info(method).name]

    monkeypatch.setattr(lead_hf.scoring, "get_scorer", get_scorer)
    return calls


def test_runner_records_metrics_failures_and_references(tmp_path, fake_scorers):
    result = run_zoo_benchmark(_write_zoo(tmp_path), scorers=["logme", "leep"], progress=False)
    assert isinstance(result, ZooBenchmarkResult)
    assert result.tasks == ["alpha", "beta"]
    assert result.scorers == ["logme", "leep"]
    assert len(fake_scorers) == 2 * 2 * 4  # every scorer on every model of every task
    for task in result.tasks:
        assert result.results["logme"][task].metrics["weighted_tau"] == pytest.approx(1.0)
        assert result.results["logme"][task].metrics["top1"] == 1.0
        assert result.results["logme"][task].seconds >= 0.0
    # leep failed on one model: recorded, and the three others are still evaluated (reversed ranking)
    alpha = result.results["leep"]["alpha"]
    assert alpha.errors == {"m_b": "ValueError: boom: features look odd"}
    assert math.isnan(alpha.scores["m_b"])
    assert alpha.metrics["weighted_tau"] == pytest.approx(-1.0)
    assert result.results["leep"]["beta"].errors == {}
    # parameter-count reference = scipy's weighted tau of params vs. accuracy
    for task, accs in TRUTH.items():
        models = sorted(accs)
        expected = stats.weightedtau([PARAMS[m] for m in models], [accs[m] for m in models])[0]
        assert result.results["params"][task].metrics["weighted_tau"] == pytest.approx(expected)
    # no source accuracy in models.json: n/a, not an error
    assert math.isnan(result.mean("source_accuracy"))
    assert result.mean("logme") == pytest.approx(1.0)
    assert result.ranked_methods()[0] == "logme"
    assert result.ranked_methods()[-1] == "source_accuracy"


def test_source_accuracy_reference_is_used_when_known(tmp_path, fake_scorers):
    source = {"m_a": {"source_accuracy": 0.7}, "m_b": {"source_accuracy": 0.9}, "m_c": {"source_accuracy": 0.8}}
    result = run_zoo_benchmark(_write_zoo(tmp_path, metadata_extra=source), scorers=["logme"], tasks=["alpha"], progress=False)
    # m_d has no source accuracy and is dropped; a, b, c are ranked like their fine-tuned accuracy
    assert result.results["source_accuracy"]["alpha"].metrics["weighted_tau"] == pytest.approx(1.0)
    assert math.isnan(result.results["source_accuracy"]["alpha"].scores["m_d"])


def test_markdown_and_json(tmp_path, fake_scorers):
    result = run_zoo_benchmark(_write_zoo(tmp_path), scorers=["leep", "logme"], progress=False)
    text = result.to_markdown()
    tau_table = text.split("### Other metrics")[0]
    rows = [line for line in tau_table.splitlines() if line.startswith("| ") and "method" not in line]
    assert [row.split(" | ")[0] for row in rows] == [
        "| logme", "| params (reference)", "| leep", "| source_accuracy (reference)"
    ]
    assert "| logme | +1.000 | +1.000 | +1.000 |" in text
    assert "| source_accuracy (reference) | n/a | n/a | n/a |" in text
    assert "`leep` on `alpha`, 1 model(s) (m_b): ValueError: boom" in text
    assert "| scorer | alpha | beta | total |" in text
    payload = json.loads(result.to_json(tmp_path / "out.json"))
    assert json.loads((tmp_path / "out.json").read_text()) == payload
    assert payload["results"]["leep"]["alpha"]["scores"]["m_b"] is None  # NaN -> null
    assert payload["results"]["leep"]["alpha"]["errors"]["m_b"].startswith("ValueError")
    assert payload["mean_weighted_tau"]["logme"] == pytest.approx(1.0)


def test_json_round_trip_and_merge(tmp_path, fake_scorers):
    zoo_dir = _write_zoo(tmp_path / "z")
    first = run_zoo_benchmark(zoo_dir, scorers=["logme", "leep"], progress=False)
    first.to_json(tmp_path / "first.json")
    loaded = ZooBenchmarkResult.from_json(tmp_path / "first.json")
    assert loaded.to_markdown() == first.to_markdown()
    assert math.isnan(loaded.results["leep"]["alpha"].scores["m_b"])
    rerun = run_zoo_benchmark(zoo_dir, scorers=["leep"], progress=False)
    rerun.results["leep"]["alpha"].metrics["weighted_tau"] = 0.5  # stands for a changed scorer
    merged = loaded.merged(rerun)
    assert merged.scorers == ["logme", "leep"]
    assert merged.results["leep"]["alpha"].metrics["weighted_tau"] == 0.5
    assert merged.results["logme"] is loaded.results["logme"]
    one_task = run_zoo_benchmark(zoo_dir, scorers=["leep"], tasks=["alpha"], progress=False)
    with pytest.raises(InvalidInputError, match="Cannot merge results over tasks"):
        loaded.merged(one_task)


def test_scorer_options_are_passed_and_not_mutated(tmp_path, fake_scorers):
    options = {"logme": {"offset": 5.0}}
    result = run_zoo_benchmark(_write_zoo(tmp_path), scorers=["logme"], tasks=["beta"], progress=False, scorer_options=options)
    assert result.results["logme"]["beta"].scores["m_c"] == pytest.approx(5.85, abs=1e-3)
    assert options == {"logme": {"offset": 5.0}}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tasks": ["gamma"]}, r"Unknown zoo task\(s\) \['gamma'\]; available: \['alpha', 'beta'\]"),
        ({"scorers": ["logmee"]}, "Unknown scorer 'logmee'; choose one of"),
        ({"scorers": ["logme"], "scorer_options": {"leep": {}}}, r"scorer_options given for scorers that are not run: \['leep'\]"),
    ],
)
def test_bad_arguments_fail_before_any_work(tmp_path, fake_scorers, kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        run_zoo_benchmark(_write_zoo(tmp_path), progress=False, **kwargs)
    assert fake_scorers == []


def test_parallel_tasks_give_the_same_result(tmp_path, fake_scorers):
    zoo_dir = _write_zoo(tmp_path)
    sequential = run_zoo_benchmark(zoo_dir, scorers=["logme", "leep"], progress=False)
    parallel = run_zoo_benchmark(zoo_dir, scorers=["logme", "leep"], progress=False, n_jobs=2)
    assert parallel.tasks == sequential.tasks
    for method in ["logme", "leep", "params"]:
        for task in sequential.tasks:
            expected, got = sequential.results[method][task], parallel.results[method][task]
            assert (got.metrics, got.errors) == (expected.metrics, expected.errors)
            np.testing.assert_equal(got.scores, expected.scores)


@pytest.mark.parametrize("n_jobs", [0, 1.5, True])
def test_bad_n_jobs(tmp_path, n_jobs):
    with pytest.raises(InvalidInputError, match="n_jobs must be a positive integer"):
        run_zoo_benchmark(_write_zoo(tmp_path), n_jobs=n_jobs, progress=False)


def test_missing_zoo_is_a_clear_error(tmp_path):
    with pytest.raises(InvalidInputError, match="No zoo benchmark found"):
        run_zoo_benchmark(tmp_path / "nowhere", progress=False)


def test_zoo_loaders_do_not_import_the_benchmark_runner():
    """lead_hf.benchmark uses lead_hf.zoo; the loaders never reach back (no import cycle)."""
    import subprocess
    import sys

    code = "import sys, lead_hf.zoo; print('lead_hf.benchmark' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
    assert not hasattr(zoo, "run_zoo_benchmark")


def test_benchmark_script_writes_the_page(tmp_path, fake_scorers, capsys):
    from benchmarks.zoo import main

    output = tmp_path / "docs" / "BENCHMARKS.md"
    argv = ["--zoo-dir", str(_write_zoo(tmp_path / "z")), "--scorers", "logme,leep", "--tasks", "alpha",
            "--output", str(output), "--json", str(tmp_path / "r.json"), "--no-progress", "--jobs", "1"]
    assert main(argv) == 0
    page = output.read_text()
    assert page.startswith("# Benchmarks")
    assert "python -m benchmarks.zoo --zoo-dir" in page
    assert "-core CPU" in page
    assert "| logme | +1.000 | +1.000 |" in page
    assert "| logme | +1.000 | +1.000 |" in capsys.readouterr().out
    assert json.loads((tmp_path / "r.json").read_text())["tasks"] == ["alpha"]


@pytest.mark.skipif(zoo.default_zoo_dir() is None, reason="the shared zoo is not available")
def test_real_zoo_one_task_two_cheap_scorers():
    for module in ("lead_hf.scoring.leep", "lead_hf.scoring.nce"):  # their presence is checked by tests/scoring/test_common.py
        pytest.importorskip(module)
    root = zoo.default_zoo_dir()
    result = run_zoo_benchmark(root, scorers=["leep", "nce"], tasks=["cifar10"], progress=False)
    for name in ("leep", "nce"):
        assert result.results[name]["cifar10"].errors == {}
        assert -1.0 <= result.results[name]["cifar10"].metrics["weighted_tau"] <= 1.0
    # the parameter-count reference reproduces the zoo's own sanity baseline (baselines.json)
    baseline = json.loads((root / "baselines.json").read_text())["cifar10"]
    expected = stats.weightedtau(baseline["params_backbone"], baseline["test_acc"])[0]
    assert result.results["params"]["cifar10"].metrics["weighted_tau"] == pytest.approx(expected, abs=1e-9)
    assert expected == pytest.approx(0.177, abs=5e-4)  # the value quoted in the zoo README

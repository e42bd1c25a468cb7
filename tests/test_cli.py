"""The ``lead-hf`` command: in-process ``main([...])`` runs, plus one run of the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _rank_helpers import tiny_ranking_assets

import lead_hf
from lead_hf.cli import main, parse_count


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    shared = tiny_ranking_assets(tmp_path_factory)
    return {"data": shared["data"], "models": [shared["resnet"], shared["vit"]], "cache": shared["cache"]}


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _assert_one_line_error(code, err, *needles):
    assert code == 1
    lines = err.strip().splitlines()
    assert lines[-1].startswith("lead-hf: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[-1]


@pytest.mark.parametrize(("text", "count"), [("5000", 5000), ("25M", 25_000_000), ("1.5b", 1_500_000_000), (" 20k ", 20_000)])
def test_parse_count(text, count):
    assert parse_count(text) == count


def test_rank_writes_table_json_and_plot(assets, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    output, plot = tmp_path / "ranking.json", tmp_path / "ranking.png"
    code, out, err = _run(
        capsys, "rank", assets["data"], "--models", *assets["models"], "--scorers", "logme,lead",
        "--cache-dir", assets["cache"], "--batch-size", "4", "--output", output, "--plot", plot, "--no-progress",
    )  # fmt: skip
    assert code == 0, err
    assert out.splitlines()[0] == f"Ranking of 2 models on {assets['data']} by logme"
    payload = json.loads(output.read_text())
    rows = payload["rows"]
    assert {r["model"] for r in rows} == {str(m) for m in assets["models"]}
    assert payload["scorers"] == ["logme", "lead"] and payload["split"] == "train"
    assert payload["max_samples_per_class"] is None and payload["seed"] is None  # no subsample, so no seed
    assert rows[0]["logme"] >= rows[1]["logme"]
    assert all(r["error"] is None and r["lead"] is not None and r["acc0"] is not None for r in rows)
    best = out.splitlines()[2]  # the first table row: the best model by its short name, full path in the JSON
    assert Path(rows[0]["model"]).name in best.split() and rows[0]["model"] not in best
    assert "not a predicted fine-tuned accuracy" in out  # the legend of energy0 / loss0 / acc0
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_rank_help_explains_the_diagnostics(capsys):
    with pytest.raises(SystemExit):
        main(["rank", "--help"])
    assert "acc0" in capsys.readouterr().out


@pytest.mark.parametrize(("content", "extra", "needle"), [
    ("not json", [], "cannot read it as JSON"),
    ('{"tiny-resnet": "high"}', [], "the accuracy of 'tiny-resnet' is 'high', not a number"),
    ('{"cifar10": {"a": 0.5}, "mnist": {"a": 0.9}}', [], "holds several tasks ['cifar10', 'mnist']: choose one with --task"),
    ('{"cifar10": {"a": 0.5}}', ["--task", "svhn"], "--task 'svhn' is not in"),
])
def test_bad_ground_truth_fails_before_any_work(tmp_path, capsys, monkeypatch, content, extra, needle):
    import lead_hf.rank

    monkeypatch.setattr(lead_hf.rank, "rank_hub_models", lambda *a, **k: pytest.fail("ranked before checking"))
    truth = tmp_path / "truth.json"
    truth.write_text(content)
    code, _, err = _run(capsys, "rank", "data", "--models", "m", "--ground-truth", truth, *extra)
    _assert_one_line_error(code, err, needle)


def test_unwritable_outputs_fail_before_any_work(tmp_path, capsys, monkeypatch):
    import lead_hf.rank

    monkeypatch.setattr(lead_hf.rank, "rank_hub_models", lambda *a, **k: pytest.fail("ranked before checking"))
    code, _, err = _run(capsys, "rank", "data", "--models", "m", "--output", tmp_path / "missing" / "r.json")
    _assert_one_line_error(code, err, "the folder", "does not exist")
    code, _, err = _run(capsys, "rank", "data", "--models", "m", "--plot", tmp_path)
    _assert_one_line_error(code, err, "is a folder; give a file name")


def test_zoo_ground_truth_with_task_and_output_kept_when_evaluation_fails(assets, tmp_path, capsys):
    truth, output = tmp_path / "ground_truth.json", tmp_path / "ranking.json"
    truth.write_text(json.dumps({"cifar10": {"tiny-resnet": {"test_acc": 0.9}}, "_protocol": {}}))
    code, _, err = _run(capsys, "rank", assets["data"], "--models", *assets["models"], "--scorers", "logme",
                        "--ground-truth", truth, "--task", "cifar10", "--output", output, "--cache-dir", assets["cache"],
                        "--no-progress")  # fmt: skip
    _assert_one_line_error(code, err, "Ground truth covers 1 of the ranked models")  # one model: no tau
    assert len(json.loads(output.read_text())["rows"]) == 2  # written before the evaluation failed


def test_rank_with_ground_truth_prints_tau(assets, tmp_path, capsys):
    truth = tmp_path / "truth.json"
    truth.write_text(json.dumps({"tiny-resnet": 0.9, "tiny-vit": 0.1}))
    code, out, err = _run(capsys, "rank", assets["data"], "--models", *assets["models"], "--scorers", "logme",
                          "--ground-truth", truth, "--cache-dir", assets["cache"], "--no-progress")  # fmt: skip
    assert code == 0, err
    assert "logme: weighted tau +1.000" in out or "logme: weighted tau -1.000" in out


def test_rank_with_a_budget_and_intervals(assets, tmp_path, capsys):
    """6 images per class: rounds of 2, 4 and 6; two models, so both reach the last round (min_kept)."""
    output = tmp_path / "ranking.json"
    code, out, err = _run(
        capsys, "rank", assets["data"], "--models", *assets["models"], "--scorers", "logme", "--budget", "2,4,6",
        "--confidence", "0.8", "--cache-dir", tmp_path / "cache", "--output", output, "--no-progress",
    )  # fmt: skip
    assert code == 0, err
    payload = json.loads(output.read_text())
    assert payload["budget"]["per_class"] == [2, 4, 6] and payload["confidence"] == 0.8
    assert [r["n_images"] for r in payload["rows"]] == [18, 18] and [r["budget_round"] for r in payload["rows"]] == [3, 3]
    assert all(r["logme_ci"][0] <= r["logme"] <= r["logme_ci"][1] for r in payload["rows"])
    assert "logme_ci" in out.splitlines()[1] and "n_images" in out.splitlines()[1]
    assert "By logme, " in out and "80% level" in out


@pytest.mark.parametrize(("flag", "value", "needle"), [("--budget", "30,10", "increasing"), ("--budget", "fast", "halving"),
                                                       ("--confidence", "1.5", "level in (0, 1)")])
def test_rank_bad_budget_or_level_is_a_usage_error(flag, value, needle, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["rank", "data", "--models", "m", flag, value])
    assert exit_info.value.code == 2 and needle in capsys.readouterr().err


def test_rank_unknown_dataset_is_one_line(assets, tmp_path, capsys):
    code, _, err = _run(capsys, "rank", tmp_path / "no-such-dataset", "--models", assets["models"][0], "--no-progress")
    _assert_one_line_error(code, err, "no-such-dataset")


def test_rank_unknown_split(assets, capsys):
    code, _, err = _run(capsys, "rank", assets["data"], "--split", "validation", "--models", assets["models"][0], "--no-progress")
    _assert_one_line_error(code, err, "validation")


def test_rank_unknown_scorer_lists_valid_ones(assets, capsys):
    code, _, err = _run(capsys, "rank", assets["data"], "--models", assets["models"][0], "--scorers", "lead,nope")
    _assert_one_line_error(code, err, "'nope'", "'logme'")


def test_rank_without_models_needs_the_hub(assets, capsys):
    # conftest sets HF_HUB_OFFLINE=1: the Hub search fails with a clear reason instead of a traceback
    code, _, err = _run(capsys, "rank", assets["data"], "--search", "vit", "--no-progress")
    _assert_one_line_error(code, err, "Could not list models", "HF_HUB_OFFLINE")


def test_rank_when_every_model_fails(assets, tmp_path, capsys):
    code, out, err = _run(capsys, "rank", assets["data"], "--models", tmp_path / "missing", "--no-progress",
                          "--cache-dir", assets["cache"])  # fmt: skip
    _assert_one_line_error(code, err, "no model could be scored")
    assert " missing " in out  # the table with the error row is still printed (short name)


def test_bad_argument_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["rank", "data", "--max-params", "lots"])
    assert exit_info.value.code == 2
    assert "expected a count such as" in capsys.readouterr().err


def _blobs(tmp_path, *, with_logits=True, drop=()):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 15)
    arrays = {"features": rng.normal(size=(45, 5)) + np.eye(3, 5)[labels] * 2, "labels": labels}
    if with_logits:
        arrays["logits"] = rng.normal(size=(45, 7))
    path = tmp_path / "features.npz"
    np.savez(path, **{k: v for k, v in arrays.items() if k not in drop})
    return path, arrays


def test_score_npz(tmp_path, capsys):
    path, arrays = _blobs(tmp_path)
    output = tmp_path / "scores.json"
    code, out, err = _run(capsys, "score", path, "--scorers", "logme,leep", "--output", output)
    assert code == 0, err
    scores = json.loads(output.read_text())
    assert scores["logme"] == pytest.approx(lead_hf.score("logme", arrays["features"], arrays["labels"]))
    assert scores["leep"] == pytest.approx(lead_hf.score("leep", arrays["features"], arrays["labels"], source_logits=arrays["logits"]))
    assert out.splitlines()[0].split()[0] == "logme"


def test_score_without_logits_reports_the_scorer(tmp_path, capsys):
    path, _ = _blobs(tmp_path, with_logits=False)
    code, out, err = _run(capsys, "score", path, "--scorers", "logme,leep")
    _assert_one_line_error(code, err, "leep: ")
    assert out.splitlines()[0].startswith("logme")  # the scorers that worked are still printed


@pytest.mark.parametrize(("content", "needle"), [
    (None, "holds a single array (an .npy file)"),
    (b"", "is empty (0 bytes)"),
    (b"features,labels\n1,2\n", "is not a readable .npz archive"),
])
def test_score_refuses_files_that_are_not_npz(tmp_path, capsys, content, needle):
    path = tmp_path / "input.npz"
    if content is None:
        np.save(tmp_path / "input.npy", np.zeros((3, 2)))
        path = tmp_path / "input.npy"
    else:
        path.write_bytes(content)
    code, _, err = _run(capsys, "score", path)
    _assert_one_line_error(code, err, needle, "'features' and 'labels'")
    assert "allow_pickle" not in err  # never suggest unsafe loading


def test_score_npz_without_labels(tmp_path, capsys):
    path, _ = _blobs(tmp_path, drop=("labels",))
    code, _, err = _run(capsys, "score", path)
    _assert_one_line_error(code, err, "no ['labels'] array")


def test_score_missing_file(tmp_path, capsys):
    code, _, err = _run(capsys, "score", tmp_path / "nope.npz")
    _assert_one_line_error(code, err, "nope.npz")


def _write_tiny_zoo(root: Path) -> Path:
    """Two models on one task, in the zoo layout (features/<task>/<model>.npz + ground_truth.json)."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 12)
    (root / "features" / "toy").mkdir(parents=True)
    for name, signal in (("good", 3.0), ("bad", 0.1)):
        features = rng.normal(size=(labels.size, 6)) + signal * np.eye(3, 6)[labels]
        np.savez(root / "features" / "toy" / f"{name}.npz", features=features.astype(np.float16),
                 logits=rng.normal(size=(labels.size, 4)).astype(np.float16), labels=labels)  # fmt: skip
    (root / "ground_truth.json").write_text(json.dumps({"toy": {"good": 90.0, "bad": 40.0}}))
    return root


def test_bench_zoo(tmp_path, capsys):
    zoo = _write_tiny_zoo(tmp_path / "zoo")
    output = tmp_path / "bench.md"
    code, out, err = _run(capsys, "bench", "zoo", "--zoo-dir", zoo, "--scorers", "logme", "--output", output)
    assert code == 0, err
    assert "logme" in out and "toy" in out
    assert output.read_text().strip() == out.strip()


def test_bench_zoo_missing_dir(tmp_path, capsys):
    code, _, err = _run(capsys, "bench", "zoo", "--zoo-dir", tmp_path / "nothing")
    _assert_one_line_error(code, err, "No zoo benchmark found")


def test_install_metric(capsys):
    code, out, err = _run(capsys, "install-metric")
    assert code == 0, err
    path = Path(out.strip().rsplit(" ", 1)[-1])
    assert path.exists()


@pytest.mark.slow
def test_console_script_end_to_end(assets, tmp_path):
    script = Path(sys.executable).with_name("lead-hf")
    if not script.exists():
        pytest.skip(f"console script not installed next to {sys.executable} (pip install -e .)")
    output = tmp_path / "out.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    ok = subprocess.run(
        [script, "rank", assets["data"], "--models", *assets["models"], "--scorers", "lead,logme",
         "--max-samples-per-class", "4", "--cache-dir", assets["cache"], "--output", output, "--no-progress"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    rows = json.loads(output.read_text())["rows"]
    assert len(rows) == 2 and all(r["error"] is None and r["lead"] is not None for r in rows)
    assert rows[0]["lead"] >= rows[1]["lead"]
    assert "Ranking of 2 models" in ok.stdout
    bad = subprocess.run([script, "rank", assets["data"], "--models", assets["models"][0], "--scorers", "lead,nope"],
                         capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
    assert bad.returncode == 1
    assert "Unknown scorer 'nope'" in bad.stderr
    assert bad.stderr.strip().splitlines()[-1].startswith("lead-hf: error: ")
    assert "Traceback" not in bad.stderr

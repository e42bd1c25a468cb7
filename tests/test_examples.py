"""The runnable examples run (offline ones end to end, in-process)."""

import runpy
import sys
from pathlib import Path

import pytest
from _tiny import make_imagefolder, make_tiny_classifier

import lead_hf

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_score_features_prints_every_scorer(capsys):
    runpy.run_path(str(EXAMPLES / "score_features.py"), run_name="__main__")
    out = capsys.readouterr().out
    for name in lead_hf.available_scorers():
        assert f"{name}  good" in out
    assert "'energy0'" in out


def test_distributed_extract_single_process(tmp_path, monkeypatch, capsys):
    model = make_tiny_classifier(tmp_path, arch="resnet", num_labels=4)
    images = make_imagefolder(tmp_path, n_classes=3, per_class=5)
    monkeypatch.setenv("LEAD_HF_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(sys, "argv", ["distributed_extract.py", str(model), str(images)])
    runpy.run_path(str(EXAMPLES / "distributed_extract.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "15 images, LEAD" in out


@pytest.mark.parametrize("argv", [["rank_hub_models.py"], ["rank_hub_models.py", "beans", "--limit", "x"]])
def test_rank_hub_models_rejects_bad_arguments(argv, monkeypatch):
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(EXAMPLES / "rank_hub_models.py"), run_name="__main__")
    assert exit_info.value.code == 2


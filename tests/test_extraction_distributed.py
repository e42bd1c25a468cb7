"""Two CPU processes under torchrun give exactly the single-process extraction and ranking.

One model: its batches are sharded (order and padded tail included). Several models: each process extracts
whole models (Accelerate's ``split_between_processes``) and every process returns the full ranking.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _tiny import make_imagefolder, make_tiny_backbone, make_tiny_classifier

from lead_hf.extraction import extract
from lead_hf.rank import rank_models

SCRIPT = Path(__file__).with_name("_dist_extract_script.py")
RANK_SCRIPT = Path(__file__).with_name("_dist_rank_script.py")
# 14 images + 1 corrupt = 15 rows in batches of 3: 5 batches, so the second process gets a padded
# (duplicated) last batch that gather_for_metrics must drop.
PER_CLASS = [5, 4, 5]
BATCH_SIZE = 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _torchrun_two_processes(script: Path, *args: str, out_prefix: Path) -> None:
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip(f"torchrun not found next to {sys.executable}")
    # PYTHONFAULTHANDLER: a rank that aborts prints its Python stack, so a failure says where it happened.
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1"}
    command = [str(torchrun), "--nproc_per_node", "2", "--master_addr", "127.0.0.1", "--master_port",
               str(_free_port()), str(script), *args]
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    written = sorted(p.name for p in out_prefix.parent.glob(f"{out_prefix.name}.rank*"))  # where did it stop?
    assert run.returncode == 0, f"outputs written before the failure: {written}\n" + run.stderr[-8000:]


@pytest.mark.slow
def test_two_processes_match_one(tmp_path):
    model_dir = make_tiny_classifier(tmp_path, arch="resnet", num_labels=4)
    data_dir = make_imagefolder(tmp_path, n_classes=3, per_class=PER_CLASS, corrupt=1)
    _torchrun_two_processes(SCRIPT, str(model_dir), str(data_dir), str(tmp_path / "cache"), str(tmp_path / "out"),
                            str(BATCH_SIZE), out_prefix=tmp_path / "out")

    single = extract(model_dir, data_dir, batch_size=BATCH_SIZE, use_cache=False, progress=False)
    ranks = [np.load(tmp_path / f"out.rank{k}.npz") for k in (0, 1)]
    for shard in ranks:
        assert int(shard["num_processes"]) == 2
        np.testing.assert_array_equal(shard["labels"], single.labels)  # same rows, same order
        # float-exact up to 1e-6 (observed: bit-identical; the tolerance only absorbs thread-count effects)
        np.testing.assert_allclose(shard["features"], single.features, rtol=0, atol=1e-6)
        np.testing.assert_allclose(shard["logits"], single.logits, rtol=0, atol=1e-6)
        assert int(shard["n_skipped"]) == single.n_skipped == 1
        assert not bool(shard["first_from_cache"]) and bool(shard["second_from_cache"])
        np.testing.assert_array_equal(shard["second_features"], shard["features"])
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1  # written once, by the main process


@pytest.mark.slow
def test_two_processes_split_the_models_and_rank_like_one(tmp_path):
    """4 models + 1 missing: each process loads its own share of whole models; both return the 1-process ranking."""
    models = [str(make_tiny_classifier(tmp_path, arch=arch, num_labels=4)) for arch in ("resnet", "vit", "convnext")]
    models += [str(make_tiny_backbone(tmp_path, kind="clip_vision")), str(tmp_path / "missing-model")]
    data_dir = make_imagefolder(tmp_path, n_classes=3, per_class=PER_CLASS, corrupt=1)
    _torchrun_two_processes(RANK_SCRIPT, str(data_dir), str(tmp_path / "cache"), str(tmp_path / "out"), *models,
                            out_prefix=tmp_path / "out")

    single = json.loads(rank_models(models, data_dir, scorers=("lead", "logme", "leep"), batch_size=4,
                                    cache_dir=tmp_path / "single-cache", progress=False).to_json())["rows"]
    reports = [json.loads((tmp_path / f"out.rank{k}.json").read_text()) for k in (0, 1)]
    assert [r["num_processes"] for r in reports] == [2, 2]
    # whole models, strided: process 0 gets models 0, 2, 4 (4 is missing: never loaded), process 1 gets 1 and 3
    assert reports[0]["loaded"] == models[0:3:2] and reports[1]["loaded"] == models[1:4:2]
    for report in reports:
        rows = report["rows"]
        assert [r["model"] for r in rows] == [r["model"] for r in single]  # same order on every process
        for row, expected in zip(rows, single, strict=True):
            assert row["from_cache"] == expected["from_cache"] and row["source_head"] == expected["source_head"]
            assert (row["error"] is None) == (expected["error"] is None)
            for scorer in ("lead", "logme", "leep", "energy0"):
                if expected[scorer] is None:
                    assert row[scorer] is None
                else:
                    assert math.isclose(row[scorer], expected[scorer], rel_tol=1e-6, abs_tol=1e-9), (row, expected)
    assert "does not exist" in next(r for r in reports[0]["rows"] if r["model"] == models[4])["error"]
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 4  # each model cached once, by the process that ran it

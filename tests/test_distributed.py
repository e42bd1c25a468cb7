"""Two CPU processes under torchrun give exactly the single-process extraction (order and tail included)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _tiny import make_imagefolder, make_tiny_classifier

from lead_hf.extract import extract

SCRIPT = Path(__file__).with_name("_dist_extract_script.py")
# 14 images + 1 corrupt = 15 rows in batches of 3: 5 batches, so the second process gets a padded
# (duplicated) last batch that gather_for_metrics must drop.
PER_CLASS = [5, 4, 5]
BATCH_SIZE = 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_processes_match_one(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip(f"torchrun not found next to {sys.executable}")
    model_dir = make_tiny_classifier(tmp_path, arch="resnet", num_labels=4)
    data_dir = make_imagefolder(tmp_path, n_classes=3, per_class=PER_CLASS, corrupt=1)
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    command = [str(torchrun), "--nproc_per_node", "2", "--master_addr", "127.0.0.1", "--master_port",
               str(_free_port()), str(SCRIPT), str(model_dir), str(data_dir), str(tmp_path / "cache"),
               str(tmp_path / "out"), str(BATCH_SIZE)]
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]

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

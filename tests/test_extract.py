"""lead_hf.extract: hooked penultimate features, logits, labels, cache, and error messages."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _tiny import TINY_ARCHS, make_imagefolder, make_tiny_classifier
from transformers import AutoModelForImageClassification

from lead_hf.extract import Extraction, extract


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_imagefolder(tmp_path_factory.mktemp("data"), n_classes=3, per_class=5, size=32, corrupt=1)


@pytest.mark.parametrize("arch", TINY_ARCHS)
def test_features_are_the_classifier_input(tmp_path, folder, arch):
    model_dir = make_tiny_classifier(tmp_path, arch=arch, num_labels=4)
    out = extract(model_dir, folder, batch_size=4, use_cache=False, progress=False)
    assert isinstance(out, Extraction) and out.n_skipped == 1 and not out.from_cache
    np.testing.assert_array_equal(out.labels, [0] * 5 + [1] * 5 + [2] * 5)
    assert out.features.dtype == np.float32 and out.logits.shape == (15, 4)
    model = AutoModelForImageClassification.from_pretrained(model_dir).eval()
    with torch.no_grad():
        f = torch.from_numpy(out.features)
        if arch == "deit_distilled":  # features = [cls token input, distillation token input]
            half = f.shape[1] // 2
            recomputed = (model.cls_classifier(f[:, :half]) + model.distillation_classifier(f[:, half:])) / 2
        else:
            recomputed = model.classifier(f)
    np.testing.assert_allclose(recomputed.numpy(), out.logits, atol=1e-5)
    assert out.n_params == sum(p.numel() for p in model.parameters())

"""lead_hf.extraction: hooked penultimate features, logits, labels, cache, and error messages."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import httpx2
import numpy as np
import pytest
import torch
from _tiny import TINY_ARCHS, decodable_pixels, make_imagefolder, make_tiny_classifier
from huggingface_hub import errors as hub_errors
from transformers import (
    AutoImageProcessor,
    AutoModelForImageClassification,
    BertConfig,
    ConvNextConfig,
    ViTImageProcessor,
)

import lead_hf
from lead_hf import _models
from lead_hf.data import load_image_dataset, open_rgb_image
from lead_hf.errors import ExtractionError, InvalidInputError
from lead_hf.extraction import Extraction, extract

N_PER_CLASS = 5
pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("extract")


@pytest.fixture(scope="module")
def folder(workdir):
    # 3 classes x 5 images in RGB/L/RGBA/P, plus one undecodable file in class 0
    return make_imagefolder(workdir, n_classes=3, per_class=N_PER_CLASS, size=32, corrupt=1)


@pytest.fixture(scope="module")
def resnet(workdir):
    return make_tiny_classifier(workdir, arch="resnet", num_labels=4)


def _recompute_logits(model, features, arch):
    """The logits from the features through the model's own head(s): an independent check of the hook."""
    f = torch.from_numpy(features)
    with torch.no_grad():
        if arch == "deit_distilled":  # features = [cls token input, distillation token input]
            half = f.shape[1] // 2
            return ((model.cls_classifier(f[:, :half]) + model.distillation_classifier(f[:, half:])) / 2).numpy()
        if arch == "timm":
            return model.timm_model.get_classifier()(f).numpy()
        return model.classifier(f).numpy()


@pytest.mark.parametrize("arch", TINY_ARCHS)
def test_features_are_the_classifier_input(workdir, folder, arch):
    model_dir = make_tiny_classifier(workdir, arch=arch, num_labels=4)
    out = extract(model_dir, folder, batch_size=4, use_cache=False, progress=False)
    assert isinstance(out, Extraction) and out.n_skipped == 1 and not out.from_cache
    assert out.model_id == str(model_dir) and out.revision.startswith("local-")
    np.testing.assert_array_equal(out.labels, np.repeat([0, 1, 2], N_PER_CLASS))
    assert out.features.dtype == np.float32 and out.logits.dtype == np.float32 and out.labels.dtype == np.int64
    assert out.logits.shape == (15, 4) and out.features.shape[0] == 15
    model = AutoModelForImageClassification.from_pretrained(model_dir).eval()
    np.testing.assert_allclose(_recompute_logits(model, out.features, arch), out.logits, atol=1e-5)
    assert out.n_params == sum(p.numel() for p in model.parameters())
    assert np.ptp(out.features, axis=0).max() > 0  # not a constant placeholder


def test_deit_distilled_features_concatenate_both_head_inputs(workdir, folder):
    model_dir = make_tiny_classifier(workdir, arch="deit_distilled", num_labels=4)
    out = extract(model_dir, folder, use_cache=False, progress=False)
    model = AutoModelForImageClassification.from_pretrained(model_dir).eval()
    assert out.features.shape[1] == 2 * model.config.hidden_size
    heads = _models.classifier_heads(model)
    assert heads == [model.cls_classifier, model.distillation_classifier]


def test_timm_wrapper(workdir, folder):
    pytest.importorskip("timm")
    from transformers import TimmWrapperConfig, TimmWrapperForImageClassification

    model = TimmWrapperForImageClassification(TimmWrapperConfig(architecture="resnet18", num_labels=3)).eval()
    model_dir = workdir / "timm-resnet18"
    model.save_pretrained(model_dir)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(model_dir)
    out = extract(model_dir, folder, use_cache=False, progress=False)
    np.testing.assert_allclose(_recompute_logits(model, out.features, "timm"), out.logits, atol=1e-4)


def test_matches_a_hand_written_forward_pass(resnet, folder):
    """Same numbers as running the image processor and the model by hand, image by image."""
    out = extract(resnet, folder, batch_size=6, use_cache=False, progress=False)
    data = load_image_dataset(folder)
    model = AutoModelForImageClassification.from_pretrained(resnet).eval()
    pixels, good = decodable_pixels(folder, AutoImageProcessor.from_pretrained(resnet))
    assert len(good) == len(out.labels)
    with torch.no_grad():
        hidden = model.resnet(pixels).pooler_output.flatten(1)  # the backbone, run separately
        logits = model(pixel_values=pixels).logits
    np.testing.assert_allclose(out.features, hidden.numpy(), atol=1e-5)
    np.testing.assert_allclose(out.logits, logits.numpy(), atol=1e-5)
    np.testing.assert_array_equal(out.labels, data.labels[good])


def test_subsampling_selects_aligned_rows(resnet, folder):
    full = extract(resnet, folder, use_cache=False, progress=False)
    sub = extract(resnet, folder, max_samples_per_class=2, seed=1, use_cache=False, progress=False)
    np.testing.assert_array_equal(sub.labels, [0, 0, 1, 1, 2, 2])
    # every subsampled row is a row of the full extraction, with the same label
    for feature, label in zip(sub.features, sub.labels, strict=True):
        match = np.flatnonzero(np.abs(full.features - feature).max(axis=1) < 1e-5)
        assert len(match) == 1 and full.labels[match[0]] == label


def test_worker_processes_give_identical_arrays(resnet, folder):
    inline = extract(resnet, folder, batch_size=4, num_workers=0, use_cache=False, progress=False)
    workers = extract(resnet, folder, batch_size=4, num_workers=2, use_cache=False, progress=False)
    np.testing.assert_array_equal(inline.features, workers.features)
    np.testing.assert_array_equal(inline.labels, workers.labels)


def test_cache_hit_does_not_load_the_model(resnet, folder, tmp_path, monkeypatch):
    first = extract(resnet, folder, cache_dir=tmp_path, progress=False)
    assert not first.from_cache and len(list(tmp_path.glob("*.npz"))) == 1
    assert not list(tmp_path.glob("*.tmp"))  # the atomic write left no temporary file

    def refuse(*args, **kwargs):
        raise AssertionError("the model weights were loaded on a cache hit")

    monkeypatch.setattr(AutoModelForImageClassification, "from_pretrained", refuse)
    second = extract(resnet, folder, cache_dir=tmp_path, progress=False)
    assert second.from_cache and second.n_skipped == first.n_skipped == 1
    for name in ("features", "logits", "labels"):
        np.testing.assert_array_equal(getattr(second, name), getattr(first, name))
    assert (second.n_params, second.revision, second.seconds) == (first.n_params, first.revision, first.seconds)
    # a different sampling is a different cache entry, so the model is needed again
    with pytest.raises(ExtractionError, match="could not load the weights"):
        extract(resnet, folder, cache_dir=tmp_path, max_samples_per_class=2, progress=False)


def test_cache_key_follows_weights_and_preprocessing(workdir, folder, tmp_path):
    model_dir = make_tiny_classifier(workdir, arch="vit", num_labels=3, name="vit-rewritten")
    first = extract(model_dir, folder, cache_dir=tmp_path, progress=False)
    ViTImageProcessor(size={"height": 32, "width": 32}, image_mean=[0.4] * 3).save_pretrained(model_dir)
    changed_processor = extract(model_dir, folder, cache_dir=tmp_path, progress=False)
    assert not changed_processor.from_cache
    assert not np.allclose(changed_processor.features, first.features)
    make_tiny_classifier(workdir, arch="vit", num_labels=3, seed=1, name="vit-rewritten")  # new weights
    new_weights = extract(model_dir, folder, cache_dir=tmp_path, progress=False)
    assert not new_weights.from_cache and new_weights.revision != first.revision
    assert len(list(tmp_path.glob("*.npz"))) == 3


def _keep_mtime(path, rewrite):
    """Rewrite a file in place, then put its old access and modification times back."""
    stat = path.stat()
    rewrite()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_weights_rewritten_in_place_with_the_old_mtime_are_a_cache_miss(tmp_path, folder):
    model_dir = make_tiny_classifier(tmp_path, arch="resnet", num_labels=3, name="model")
    first = extract(model_dir, folder, cache_dir=tmp_path / "cache", progress=False)
    retrained = make_tiny_classifier(tmp_path, arch="resnet", num_labels=3, seed=7, name="retrained")
    weights = model_dir / "model.safetensors"
    _keep_mtime(weights, lambda: weights.write_bytes((retrained / "model.safetensors").read_bytes()))
    second = extract(model_dir, folder, cache_dir=tmp_path / "cache", progress=False)
    assert not second.from_cache and second.revision != first.revision
    assert not np.allclose(second.features, first.features)


def test_images_rewritten_in_place_with_the_old_mtime_are_a_cache_miss(tmp_path, resnet):
    images = make_imagefolder(tmp_path, n_classes=2, per_class=5)
    first = extract(resnet, images, cache_dir=tmp_path / "cache", progress=False)
    for png in sorted(images.rglob("*.png")):  # every image replaced by a flipped copy, mtimes kept
        flipped = open_rgb_image(str(png)).transpose(0)
        _keep_mtime(png, lambda png=png, flipped=flipped: flipped.save(png))
    second = extract(resnet, images, cache_dir=tmp_path / "cache", progress=False)
    assert not second.from_cache and not np.allclose(second.features, first.features)
    assert extract(resnet, images, cache_dir=tmp_path / "cache", progress=False).from_cache  # stable key


@pytest.mark.parametrize("damage", ["truncate", "empty"])
def test_a_damaged_cache_file_is_recomputed(resnet, folder, tmp_path, damage):
    first = extract(resnet, folder, cache_dir=tmp_path, progress=False)
    (cached,) = tmp_path.glob("*.npz")
    cached.write_bytes(cached.read_bytes()[: cached.stat().st_size // 2] if damage == "truncate" else b"")
    again = extract(resnet, folder, cache_dir=tmp_path, progress=False)
    assert not again.from_cache
    np.testing.assert_array_equal(again.features, first.features)
    assert extract(resnet, folder, cache_dir=tmp_path, progress=False).from_cache  # rewritten whole


def test_nan_weights_name_the_model_not_the_data(tmp_path, folder):
    model_dir = make_tiny_classifier(tmp_path, arch="resnet", num_labels=3)

    def poison_first_convolution(state):
        next(v for k, v in state.items() if k.endswith("convolution.weight")).fill_(float("nan"))

    _rewrite_weights(model_dir, poison_first_convolution)
    with pytest.raises(ExtractionError, match=r"tiny-resnet' produced non-finite features \(NaN or inf\) for 15 of "
                                              r"15 images: the model's weights or numerics are broken"):
        extract(model_dir, folder, cache_dir=tmp_path / "cache", progress=False)
    assert not list((tmp_path / "cache").glob("*.npz"))


def test_cache_dir_not_writable_fails_before_any_work(tmp_path, folder):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    # the model does not exist either: the cache error must come first
    with pytest.raises(InvalidInputError, match=r"cache directory '.*a_file/cache' is not writable.*cache_dir=.*LEAD_HF_CACHE"):
        extract("no-such-owner/no-such-model", folder, cache_dir=blocker / "cache")


def test_default_cache_dir_comes_from_the_environment(resnet, folder, tmp_path, monkeypatch):
    monkeypatch.setenv("LEAD_HF_CACHE", str(tmp_path / "env-cache"))
    extract(resnet, folder, max_samples_per_class=1, progress=False)
    assert len(list((tmp_path / "env-cache").glob("*.npz"))) == 1


def test_reused_accelerator_keeps_no_reference(resnet, folder):
    from accelerate import Accelerator

    accelerator = Accelerator()
    a = extract(resnet, folder, accelerator=accelerator, use_cache=False, progress=False)
    b = extract(resnet, folder, accelerator=accelerator, use_cache=False, progress=False)
    np.testing.assert_array_equal(a.features, b.features)
    assert accelerator._models == [] and accelerator._dataloaders == []


def test_mixed_precision_comes_from_the_accelerator(resnet, folder):
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    reference = extract(resnet, folder, use_cache=False, progress=False)
    AcceleratorState._reset_state(reset_partial_state=True)
    try:
        accelerator = Accelerator(mixed_precision="bf16")
        half = extract(resnet, folder, accelerator=accelerator, use_cache=False, progress=False)
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
    assert half.features.dtype == np.float32
    assert not np.array_equal(half.logits, reference.logits)  # bf16 autocast really ran
    np.testing.assert_allclose(half.logits, reference.logits, atol=0.1, rtol=0.05)


# ------------------------------------------------------------------------------------------------------------
# errors


def test_missing_models(folder, tmp_path):
    with pytest.raises(ExtractionError, match=r"'no-such-owner/no-such-model' is not in the local cache.*offline"):
        extract("no-such-owner/no-such-model", folder, cache_dir=tmp_path)
    with pytest.raises(ExtractionError, match="does not exist"):
        extract(tmp_path / "nowhere", folder, cache_dir=tmp_path)


def test_revision_of_a_local_folder_is_refused(resnet, folder, tmp_path):
    with pytest.raises(ExtractionError, match=r"revision='v1' applies to Hub models.*local folder"):
        extract(resnet, folder, cache_dir=tmp_path, revision="v1")


def _http_error(cls, status):
    request = httpx2.Request("GET", "https://huggingface.co/owner/model/resolve/main/config.json")
    return cls(f"{status} error", response=httpx2.Response(status, request=request))


@pytest.mark.parametrize(("error", "match"), [
    (_http_error(hub_errors.GatedRepoError, 403), r"is gated: accept its conditions on https://huggingface.co/owner/model"),
    (_http_error(hub_errors.RepositoryNotFoundError, 404), r"was not found on the Hub \(404\)"),
    (_http_error(hub_errors.RevisionNotFoundError, 404), r"has no revision 'v9'"),
    (hub_errors.EntryNotFoundError("no config.json"), r"has no config.json: not a transformers model"),
])
def test_hub_errors_are_rephrased(folder, tmp_path, monkeypatch, error, match):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr("huggingface_hub.hf_hub_download", fail)
    with pytest.raises(ExtractionError, match=match):
        extract("owner/model", folder, cache_dir=tmp_path, revision="v9")


def test_not_an_image_model(tmp_path, folder):
    text_model = tmp_path / "bert"
    BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8).save_pretrained(text_model)
    with pytest.raises(ExtractionError, match=r"model_type 'bert'\) is not an image model: neither "
                                              r"AutoModelForImageClassification nor an image backbone loads it"):
        extract(text_model, folder, cache_dir=tmp_path)
    with pytest.raises(ExtractionError, match=r"has no config\.json"):
        extract(tmp_path, folder, cache_dir=tmp_path / "cache")


def test_missing_image_processor_and_corrupt_weights(workdir, tmp_path, folder):
    model_dir = make_tiny_classifier(tmp_path, arch="convnext", num_labels=3)
    (model_dir / "preprocessor_config.json").unlink()
    with pytest.raises(ExtractionError, match="has no usable image processor"):
        extract(model_dir, folder, cache_dir=tmp_path / "cache")
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(model_dir)
    (model_dir / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ExtractionError, match=r"could not load the weights.*corrupt or incomplete"):
        extract(model_dir, folder, cache_dir=tmp_path / "cache")


def test_classifier_not_found():
    model = AutoModelForImageClassification.from_config(
        ConvNextConfig(hidden_sizes=[8, 16], depths=[1, 1], num_stages=2, num_labels=3)
    )
    model.classifier = torch.nn.Identity()
    with pytest.raises(ExtractionError, match=r"no nn.Linear classifier with 3 outputs"):
        _models.classifier_heads(model)


@pytest.mark.parametrize(("option", "value", "match"), [
    ("batch_size", 0, "batch_size must be a positive integer, got 0"),
    ("batch_size", 2.0, "batch_size must be a positive integer, got 2.0"),
    ("num_workers", -1, "num_workers must be a non-negative integer or None, got -1"),
])
def test_bad_options(resnet, folder, option, value, match):
    with pytest.raises(InvalidInputError, match=match):
        extract(resnet, folder, **{option: value})


def test_out_of_memory_during_the_forward_pass(resnet, folder, tmp_path, monkeypatch):
    real_load = _models.load_model

    def raise_oom(module, args):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    def load_then_break(*args, **kwargs):
        loaded = real_load(*args, **kwargs)
        loaded.network.register_forward_pre_hook(raise_oom)
        return loaded

    monkeypatch.setattr(_models, "load_model", load_then_break)
    with pytest.raises(ExtractionError, match=r"out of memory running .* with batch_size=8: CUDA out of memory.*lower batch_size"):
        extract(resnet, folder, batch_size=8, cache_dir=tmp_path, progress=False)
    assert not list(tmp_path.glob("*.npz"))  # nothing cached from a failed run


def test_hub_id_resolves_offline_from_the_hub_cache(resnet, folder, tmp_path):
    """A Hub id found in the local HF cache: pinned to its commit sha, extracted, and cached under that sha."""
    import shutil

    from huggingface_hub import constants

    sha = "0123456789abcdef0123456789abcdef01234567"
    repo = Path(constants.HF_HUB_CACHE) / "models--tiny-org--tiny-resnet"
    shutil.copytree(resnet, repo / "snapshots" / sha)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(sha)
    out = extract("tiny-org/tiny-resnet", folder, cache_dir=tmp_path, progress=False)
    local = extract(resnet, folder, use_cache=False, progress=False)
    assert (out.model_id, out.revision) == ("tiny-org/tiny-resnet", sha)
    np.testing.assert_array_equal(out.features, local.features)
    assert extract("tiny-org/tiny-resnet", folder, cache_dir=tmp_path, progress=False).from_cache


def test_public_extract_is_the_function_even_after_the_module_import(tmp_path):
    module = importlib.import_module("lead_hf.extraction")  # its own name: lead_hf.extract stays the function
    assert lead_hf.extract is module.extract
    model = make_tiny_classifier(tmp_path, arch="resnet", num_labels=4)
    images = make_imagefolder(tmp_path, n_classes=3, per_class=2)
    via_package = lead_hf.extract(model, images, cache_dir=tmp_path / "cache", progress=False)
    via_function = module.extract(model, images, cache_dir=tmp_path / "cache", progress=False)
    assert via_package.features.shape == via_function.features.shape == (6, via_package.features.shape[1])
    assert via_function.from_cache


# ------------------------------------------------------------------------------------------------------------
# checkpoints without a trained classification head


@pytest.fixture
def transformers_warnings():
    """The messages transformers logs (its root logger does not propagate, so caplog cannot see them)."""
    import logging

    messages: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: messages.append(record.getMessage())
    library_logger = logging.getLogger("transformers")
    library_logger.addHandler(handler)
    yield messages
    library_logger.removeHandler(handler)


def _rewrite_weights(model_dir, edit):
    from safetensors.torch import load_file, save_file

    weights = model_dir / "model.safetensors"
    state = load_file(weights)
    edit(state)
    save_file(state, weights, metadata={"format": "pt"})


def test_bare_backbone_is_ranked_from_its_features(tmp_path, folder, transformers_warnings):
    """A ResNetModel checkpoint (no head): the classifier's random head is not reported as a source head."""
    from transformers import ResNetConfig, ResNetModel

    backbone = tmp_path / "resnet-backbone"
    model = ResNetModel(ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic"))
    model.save_pretrained(backbone)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(backbone)
    out = extract(backbone, folder, cache_dir=tmp_path / "cache", progress=False)
    assert out.logits is None and out.features.shape == (15, 16)
    pixels, _ = decodable_pixels(folder, ViTImageProcessor(size={"height": 32, "width": 32}))
    with torch.no_grad():
        pooled = model.eval()(pixels).pooler_output.flatten(1).numpy()  # ResNet's classifier reads this
    np.testing.assert_allclose(out.features, pooled, atol=1e-5)
    assert not [m for m in transformers_warnings if "MISSING" in m or "newly initialized" in m]  # not our head
    cached = extract(backbone, folder, cache_dir=tmp_path / "cache", progress=False)
    assert cached.from_cache and cached.logits is None  # "no head" survives the cache


def test_one_missing_distillation_head_drops_the_source_logits(tmp_path, folder):
    """Half a trained head is not the source model's head: features stay (both head inputs), logits go."""
    model_dir = make_tiny_classifier(tmp_path, arch="deit_distilled", num_labels=4)
    full = extract(model_dir, folder, use_cache=False, progress=False)

    def drop_distillation_head(state):
        for key in ("distillation_classifier.weight", "distillation_classifier.bias"):
            del state[key]

    _rewrite_weights(model_dir, drop_distillation_head)
    out = extract(model_dir, folder, use_cache=False, progress=False)
    assert out.logits is None and full.logits is not None
    np.testing.assert_array_equal(out.features, full.features)


def test_other_load_warnings_still_reach_the_log(tmp_path, folder, transformers_warnings):
    """A complete classifier with an extra tensor in its checkpoint loads; transformers' report is not swallowed."""
    model_dir = make_tiny_classifier(tmp_path, arch="resnet", num_labels=4)
    _rewrite_weights(model_dir, lambda state: state.update({"leftover.weight": torch.zeros(2)}))
    out = extract(model_dir, folder, use_cache=False, progress=False)
    assert out.logits.shape == (15, 4)
    assert any("leftover.weight" in m and "UNEXPECTED" in m for m in transformers_warnings)

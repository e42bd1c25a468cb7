"""Tiny models and images shared by test_rank and test_cli, built once per test session (model building is slow)."""

from __future__ import annotations

from pathlib import Path

from _tiny import make_imagefolder, make_tiny_classifier

_ASSETS: dict[str, Path] = {}


def _make_text_model(root: Path) -> Path:
    """A tiny text classifier: AutoModelForImageClassification has no class for its config."""
    import transformers as tr

    config = tr.BertConfig(vocab_size=32, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16)
    out = root / "tiny-bert"
    tr.BertForSequenceClassification(config).save_pretrained(out)
    return out


def tiny_ranking_assets(tmp_path_factory) -> dict[str, Path]:
    """``data`` (3 classes x 6 RGB images), ``resnet`` and ``vit`` (4 source classes), ``not_a_classifier``
    and ``cache`` (a feature cache shared by tests that do not check cache hits)."""
    if not _ASSETS:
        root = tmp_path_factory.mktemp("ranking_assets")
        _ASSETS.update(
            data=make_imagefolder(root, n_classes=3, per_class=6, mixed_modes=False),
            resnet=make_tiny_classifier(root, arch="resnet", num_labels=4),
            vit=make_tiny_classifier(root, arch="vit", num_labels=4),
            not_a_classifier=_make_text_model(root),
            cache=root / "shared-cache",
        )
    return dict(_ASSETS)

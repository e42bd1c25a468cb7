"""Rank every transformers model of both zoo pools end to end on cifar10, with headless copies and a control.

The pool: the five MobileNets of ``zoo/hf`` and the six models of ``zoo2/hf`` (headed transformers
classifiers), two headless backbones made from them (``zoo2``'s ViT and ``zoo``'s MobileNetV2-ImageNet saved
without their heads: features only, LEEP/NCE not applicable), and a randomly initialised timm ``test_vit`` in the
Hub's timm layout (a control: an untrained network should rank low). ``lead_hf.rank_models`` reads the images
of ``zoo/data/cifar10`` (train split) at several images per class; weighted tau is taken over the 11 headed models
against both pools' fine-tuned test accuracies (the same protocol on both pools, so they merge).

    python -m benchmarks.mixed_pool_end_to_end [--per-class 20,50,100] [--scorers lead,logme,...] [--write]

``--write`` puts the tables in docs/BENCHMARKS.md (section ``mixed_pool``).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

from benchmarks._docs import replace_section
from lead_hf.cli import parse_names
from lead_hf.evaluation import weighted_tau
from lead_hf.rank import rank_models
from lead_hf.ranking import Ranking
from lead_hf.scoring import available_scorers
from lead_hf.zoo import default_zoo_dir, load_ground_truth

DOC = Path(__file__).resolve().parents[1] / "docs" / "BENCHMARKS.md"
TASK = "cifar10"
HEADLESS = {"vit_cifar10-headless": ("zoo2", "vit_cifar10"),
            "mobilenetv2_100_imagenet-headless": ("zoo", "mobilenetv2_100_imagenet")}
CONTROL = "timm_test_vit-random"


def _save_backbone(source: Path, out: Path) -> Path:
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    classifier = AutoModelForImageClassification.from_pretrained(source)
    getattr(classifier, classifier.base_model_prefix).save_pretrained(out)
    AutoImageProcessor.from_pretrained(source).save_pretrained(out)
    return out


def _save_random_timm(out: Path) -> Path:
    """timm's test_vit, randomly initialised (seed 0), saved like the Hub's timm checkpoints (no model_args)."""
    import timm
    import torch
    from timm.models._hub import save_for_hf

    torch.manual_seed(0)
    save_for_hf(timm.create_model("test_vit", pretrained=False, num_classes=10), out, safe_serialization=True)
    config = json.loads((out / "config.json").read_text())
    config.pop("model_args", None)
    (out / "config.json").write_text(json.dumps(config, indent=2))
    return out


def build_pool(workdir: Path) -> dict[str, Path]:
    pools = {"zoo": default_zoo_dir("zoo"), "zoo2": default_zoo_dir("zoo2")}
    if None in pools.values():
        raise SystemExit("Both zoo pools are needed (../shared/zoo and ../shared/zoo2).")
    models = {p.name: p for name in ("zoo", "zoo2") for p in sorted((pools[name] / "hf").iterdir())
              if (p / "config.json").is_file()}
    for name, (pool, source) in HEADLESS.items():
        models[name] = _save_backbone(pools[pool] / "hf" / source, workdir / name)
    models[CONTROL] = _save_random_timm(workdir / CONTROL)
    return models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-class", type=parse_names, default=("20", "50", "100"))
    parser.add_argument("--scorers", type=parse_names, default=tuple(available_scorers()))
    parser.add_argument("--write", action="store_true", help="write the tables into docs/BENCHMARKS.md")
    args = parser.parse_args()
    truth = {**load_ground_truth(default_zoo_dir("zoo"))[TASK], **load_ground_truth(default_zoo_dir("zoo2"))[TASK]}
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        models = build_pool(Path(tmp))
        headed = [name for name in models if name in truth]
        for per_class in map(int, args.per_class):
            ranking = rank_models(list(models.values()), default_zoo_dir("zoo") / "data" / TASK, scorers=args.scorers,
                                  max_samples_per_class=per_class, cache_dir=Path(tmp) / "cache")
            named = Ranking([{**row, "model": Path(row["model"]).name, "ground_truth": truth.get(Path(row["model"]).name)}
                             for row in ranking.rows], scorers=ranking.scorers, dataset=ranking.dataset)
            taus = {s: weighted_tau([named.scores(s)[m] for m in headed], [truth[m] for m in headed])
                    for s in args.scorers}
            block = [f"### {per_class} images per class ({len(ranking)} models)", "",
                     "Weighted tau over the 11 headed models: "
                     + ", ".join(f"{s} {t:+.3f}" if math.isfinite(t) else f"{s} n/a" for s, t in taus.items()), "",
                     named.to_markdown(), ""]
            print("\n".join(block))
            lines += block
    if args.write:
        replace_section(DOC, "mixed_pool", "\n".join(lines).rstrip())


if __name__ == "__main__":
    main()

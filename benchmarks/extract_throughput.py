"""Throughput of ``lead_hf.extract`` against a bare ``model(pixel_values)`` loop on the same model and data.

    python -m benchmarks.extract_throughput                       # zoo MobileNetV2 on zoo cifar10/train
    python -m benchmarks.extract_throughput --model DIR --data DIR --batch-size 64 --repeats 2 --threads 1

Four timings, same model, images, batch size and torch threads (best of ``--repeats``):

* ``bare forward``: ``model(pixel_values=x)`` over tensors preprocessed in advance (preprocessing excluded:
  the upper bound of any pipeline);
* ``bare end-to-end``: the loop a user would write: iterate the ``datasets`` split, convert to RGB, run the
  image processor, then the model (decoding and preprocessing included, one process, no workers);
* ``extract (workers=0)`` and ``extract (default workers)``: the full pipeline (dataset + model loading,
  decoding, preprocessing, hook, gather), cache disabled. Same work as ``bare end-to-end`` plus loading.

Overheads are relative to ``bare end-to-end`` (the like-for-like comparison) and to ``bare forward``.
Falls back to a tiny random model and generated images when the zoo is absent. Numbers are noisy on a
shared machine: run it a few times.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

ZOO = Path("/work/shared/zoo")
DEFAULT_MODEL = ZOO / "hf" / "mobilenetv2_100_imagenet"
DEFAULT_DATA = ZOO / "data" / "cifar10"


def _best_seconds(run, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def _fallback_inputs(folder: Path) -> tuple[Path, Path]:
    """A tiny random classifier and 300 generated images, for machines without the zoo."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from _tiny import make_imagefolder, make_tiny_classifier

    return make_tiny_classifier(folder, arch="resnet"), make_imagefolder(folder, n_classes=3, per_class=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--split", default="train")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-samples-per-class", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's); 1 avoids oversubscription on a busy machine")
    args = parser.parse_args()

    import datasets
    import torch
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    from lead_hf.data import load_image_dataset
    from lead_hf.extraction import extract

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    scratch = tempfile.TemporaryDirectory()
    model_dir, data_dir = args.model, args.data
    if not (model_dir.is_dir() and data_dir.is_dir()):
        print(f"zoo not found ({model_dir}, {data_dir}): using a tiny model and generated images")
        model_dir, data_dir = _fallback_inputs(Path(scratch.name))

    data = load_image_dataset(data_dir, split=args.split, max_samples_per_class=args.max_samples_per_class)
    rows: datasets.Dataset = data.dataset
    n = len(rows)
    model = AutoModelForImageClassification.from_pretrained(model_dir).eval()
    processor = AutoImageProcessor.from_pretrained(model_dir)
    bs = args.batch_size

    def preprocess(batch) -> torch.Tensor:
        images = [image.convert("RGB") for image in batch[data.image_column]]
        return processor(images=images, return_tensors="pt")["pixel_values"]

    ready = [preprocess(batch) for batch in rows.iter(batch_size=bs)]

    def bare_forward() -> None:
        with torch.no_grad():
            for pixels in ready:
                model(pixel_values=pixels)

    def bare_end_to_end() -> None:
        with torch.no_grad():
            for batch in rows.iter(batch_size=bs):
                model(pixel_values=preprocess(batch))

    def pipeline(num_workers: int | None):
        return lambda: extract(model_dir, data, batch_size=bs, num_workers=num_workers, use_cache=False,
                               progress=False)

    print(f"model {model_dir.name}, data {data_dir} ({args.split}, {n} images), batch {bs}, "
          f"torch threads {torch.get_num_threads()}, best of {args.repeats}")
    timings = {
        "bare forward (preprocessed tensors)": _best_seconds(bare_forward, args.repeats),
        "bare end-to-end (decode + preprocess + forward)": _best_seconds(bare_end_to_end, args.repeats),
        "extract, workers=0 (+ loading, hook, gather)": _best_seconds(pipeline(0), args.repeats),
        "extract, default workers": _best_seconds(pipeline(None), args.repeats),
    }
    forward, end_to_end = list(timings.values())[:2]
    print(f"{'':50s} {'seconds':>8s} {'images/s':>9s} {'vs e2e':>8s} {'vs fwd':>8s}")
    for name, seconds in timings.items():
        print(f"{name:50s} {seconds:8.2f} {n / seconds:9.1f} {seconds / end_to_end - 1:+8.1%} "
              f"{seconds / forward - 1:+8.1%}")
    scratch.cleanup()


if __name__ == "__main__":
    main()

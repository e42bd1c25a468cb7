"""Cost of the evaluate route: ``add_batch`` in chunks + ``compute`` vs calling ``lead_hf.lead_score`` directly.

    python -m benchmarks.metric_add_batch                      # 50,000 x 2,048 float32, 100 classes
    python -m benchmarks.metric_add_batch --n 10000 --option-rows 5000

Also times the storage options for the feature vectors on ``--option-rows`` rows (add_batch of every chunk,
then reading the column back as numpy, without scoring), which is how the module's feature type was chosen.
Prints wall-clock and CPU seconds (all threads of this process): on a busy machine the wall clock measures
the neighbours too, so compare CPU seconds, and run it a few times.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import datasets
import evaluate
import numpy as np

import lead_hf


def synthetic_features(
    n: int, d: int, n_classes: int, *, center_scale: float = 0.05, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping Gaussian classes (centres in a random 64-dim subspace, per-dim std ``center_scale``), float32."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % n_classes
    centers = rng.normal(size=(n_classes, 64)) @ rng.normal(size=(64, d)) * (center_scale / 8)
    features = rng.normal(size=(n, d)).astype(np.float32)
    features += centers[labels].astype(np.float32)
    return features, labels


def _storage_probe(feature: datasets.features.features.FeatureType, to_column):
    """An evaluate metric that only stores predictions with ``feature`` and returns them as numpy."""

    class StorageProbe(evaluate.Metric):
        def _info(self):
            info = evaluate.MetricInfo(
                description="storage probe",
                citation="",
                features=datasets.Features({"predictions": feature, "references": datasets.Value("int64")}),
            )
            info.format = "numpy"  # as in the LEAD module: numpy arrays, not nested lists
            return info

        def add_batch(self, *, predictions=None, references=None, **kwargs):
            """Store a batch."""
            return super().add_batch(predictions=to_column(predictions), references=references, **kwargs)

        def _compute(self, predictions, references):
            return {"shape": np.asarray(predictions).shape}

    return StorageProbe


def _clock() -> np.ndarray:
    return np.array([time.perf_counter(), time.process_time()])


def _timed_chunks(metric, features, labels, chunk) -> tuple[np.ndarray, np.ndarray, dict]:
    """(wall, cpu) seconds of all add_batch calls, then of compute, and the result."""
    start = _clock()
    for begin in range(0, len(labels), chunk):
        metric.add_batch(predictions=features[begin : begin + chunk], references=labels[begin : begin + chunk])
    added = _clock()
    result = metric.compute()
    return added - start, _clock() - added, result


def _seconds(wall_cpu: np.ndarray) -> str:
    return f"{wall_cpu[0]:7.2f} / {wall_cpu[1]:7.2f}"


def compare_storage(features, labels, *, chunk: int, cache_dir: str) -> None:
    d = features.shape[1]
    options = {
        "Sequence(float32)": (datasets.Sequence(datasets.Value("float32")), lambda x: x),
        "Sequence(float32, length=D)": (datasets.Sequence(datasets.Value("float32"), length=d), lambda x: x),
        "Array2D((1, D)) [module, feature_dim=D]": (datasets.Array2D((1, d), "float32"), lambda x: x[:, None, :]),
        "Array2D((None, 1)) [module default]": (datasets.Array2D((None, 1), "float32"), lambda x: x[:, :, None]),
    }
    print(f"\nStorage options, {features.shape[0]:,} x {d:,} float32 in chunks of {chunk:,} (no scoring).")
    print(f"| {'feature type':<40} | add_batch wall / cpu s | read back wall / cpu s | total wall / cpu s |")
    print(f"|{'-' * 42}|{'-' * 24}|{'-' * 24}|{'-' * 20}|")
    for name, (feature, to_column) in options.items():
        metric = _storage_probe(feature, to_column)(cache_dir=cache_dir)
        add_s, read_s, _ = _timed_chunks(metric, features, labels, chunk)
        print(f"| {name:<40} | {_seconds(add_s):>22} | {_seconds(read_s):>22} | {_seconds(add_s + read_s):>18} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50_000, help="samples (default 50000)")
    parser.add_argument("--d", type=int, default=2048, help="feature width (default 2048)")
    parser.add_argument("--classes", type=int, default=100, help="classes (default 100)")
    parser.add_argument("--chunk", type=int, default=1000, help="rows per add_batch call (default 1000)")
    parser.add_argument("--option-rows", type=int, default=10_000, help="rows for the storage comparison (0: skip)")
    args = parser.parse_args()

    features, labels = synthetic_features(args.n, args.d, args.classes)
    with tempfile.TemporaryDirectory(prefix="lead_metric_bench_") as cache_dir:
        if args.option_rows:
            rows = min(args.option_rows, args.n)
            compare_storage(features[:rows], labels[:rows], chunk=args.chunk, cache_dir=cache_dir)

        print(f"\nLEAD on {args.n:,} x {args.d:,} float32, {args.classes} classes, default options.")
        start = _clock()
        direct = lead_hf.lead_score(features, labels, return_details=True).as_dict()
        direct_s = _clock() - start
        print("| route | wall / cpu s |")
        print("|---|---|")
        print(f"| lead_hf.lead_score (direct) | {_seconds(direct_s)} |")
        for feature_dim in (None, args.d):
            metric = lead_hf.load_metric(cache_dir=cache_dir, feature_dim=feature_dim)
            add_s, compute_s, result = _timed_chunks(metric, features, labels, args.chunk)
            assert result == direct, (result, direct)  # same numbers, or the timing is meaningless
            total_s = add_s + compute_s
            print(f"| metric, feature_dim={feature_dim}: add_batch x {-(-args.n // args.chunk)} | {_seconds(add_s)} |")
            print(f"| metric, feature_dim={feature_dim}: compute (read back + score) | {_seconds(compute_s)} |")
            print(f"| metric, feature_dim={feature_dim}: total | {_seconds(total_s)} |")
            ratio = total_s / direct_s
            print(f"| metric, feature_dim={feature_dim}: total / direct | {ratio[0]:.2f}x / {ratio[1]:.2f}x |")
    print(f"LEAD = {direct['lead']:.6f} both ways.")


if __name__ == "__main__":
    main()

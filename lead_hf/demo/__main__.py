"""``python -m lead_hf.demo``: rank a zoo of real pre-trained models on real images, fully offline."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from collections.abc import Iterator, Sequence

from .run import DEMO_SCORERS, run_demo


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lead_hf.demo",
        description="Offline demo: pre-train (once, cached) a zoo of small transformers image classifiers on real "
        "source tasks, rank them on a real target dataset with LEAD and the baselines, and compare with "
        "the accuracy each reaches when fine-tuned.",
    )
    parser.add_argument(
        "--output-dir", default="demo_output", help="where ranking.md/.json/.png go (default: %(default)s)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="three tiny models and few images: seconds, for a smoke test"
    )
    parser.add_argument(
        "--no-finetune", action="store_true", help="skip measuring fine-tuned accuracies (no ground truth)"
    )
    parser.add_argument(
        "--rebuild", action="store_true", help="rebuild the cached zoo, target data and accuracies"
    )
    parser.add_argument(
        "--scorers",
        default=",".join(DEMO_SCORERS),
        help="comma-separated scorers, the first orders the ranking (default: %(default)s)",
    )
    parser.add_argument(
        "--cache-dir", default=None, help="cache root (default: $LEAD_HF_CACHE or ~/.cache/lead_hf)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch and BLAS threads; tiny models run best on one (default: %(default)s)",
    )
    return parser


@contextlib.contextmanager
def _quiet_libraries() -> Iterator[None]:
    """Keep the console to the demo's own progress: no per-file save/load bars, no library chatter.

    The libraries' settings are restored afterwards (``main`` is also called in-process by tests).
    """
    import datasets
    import transformers

    with contextlib.ExitStack() as restore:
        for noisy in ("httpx", "urllib3", "accelerate"):
            logger = logging.getLogger(noisy)
            restore.callback(logger.setLevel, logger.level)
            logger.setLevel(logging.WARNING)
        # e.g. "ViTImageProcessor requires torchvision": its PIL backend is what the zoo uses
        restore.callback(transformers.logging.set_verbosity, transformers.logging.get_verbosity())
        transformers.logging.set_verbosity_error()
        restore.callback(datasets.logging.set_verbosity, datasets.logging.get_verbosity())
        datasets.logging.set_verbosity_error()
        if transformers.utils.logging.is_progress_bar_enabled():
            restore.callback(transformers.logging.enable_progress_bar)
            transformers.logging.disable_progress_bar()
        if datasets.is_progress_bar_enabled():
            restore.callback(datasets.enable_progress_bars)
            datasets.disable_progress_bars()
        yield


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    start = time.perf_counter()
    with _quiet_libraries():
        result = run_demo(
            output_dir=args.output_dir, quick=args.quick, finetune=not args.no_finetune, rebuild=args.rebuild,
            scorers=[name.strip() for name in args.scorers.split(",") if name.strip()], cache_dir=args.cache_dir,
            num_threads=args.threads,
        )  # fmt: skip
    print()
    print(result.report)
    print()
    phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.seconds.items())
    print(f"Total {time.perf_counter() - start:.1f} s ({phases}); zoo cached in {result.example.folder}")
    for kind, path in result.files.items():
        print(f"Wrote {kind}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

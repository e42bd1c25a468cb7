"""Score the zoo benchmark with every scorer and write the weighted-tau tables to docs/BENCHMARKS.md.

Usage (from the repository root)::

    python -m benchmarks.zoo [--zoo-dir DIR] [--scorers lead,logme] [--tasks cifar10,mnist]
                             [--output docs/BENCHMARKS.md] [--json results.json] [--jobs 4]
                             [--previous earlier.json]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from lead_hf import __version__
from lead_hf.benchmark import ZooBenchmarkResult, run_zoo_benchmark

KEPT_FROM = "## Robustness controls"  # the page's own part ends where benchmarks.robustness's begins


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def render(result: ZooBenchmarkResult, *, command: str) -> str:
    """The BENCHMARKS.md page: how it was produced, what the references mean, then the tables."""
    machine = f"{os.cpu_count()}-core CPU ({platform.machine()}, {platform.system()}), no GPU"
    header = f"""# Benchmarks: ranking the zoo's models without fine-tuning them

Produced by `{command}` (lead-hf {__version__}, {time.strftime("%Y-%m-%d %H:%M %Z")}) on a {machine}
shared with other jobs, so the wall times are noisy. Zoo: `{Path(result.zoo_dir).name}/`
({len(result.tasks)} tasks; per task, every model's saved train features, source logits and labels are
scored, and the scores are compared with the models' fine-tuned test accuracies; see the zoo README).

How to read it: the weighted Kendall tau (`scipy.stats.weightedtau` defaults, reimplemented in
`lead_hf.evaluation.weighted_tau`) is in [-1, 1], higher is better, and weighs mistakes among the best
models most. Two trivial references sit beside the scorers, and a useful scorer must beat them:
`params (reference)` ranks the models by backbone parameter count (`params_backbone` in `models.json`),
and `source_accuracy (reference)` by the model's accuracy on its own source task (`source_accuracy` in
`models.json`; n/a when the zoo does not record it, as here). Methods are sorted by mean weighted tau.
"""
    return header + "\n" + result.to_markdown()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo-dir", default=None, help="zoo folder (default: $LEAD_HF_ZOO_DIR or ../shared/zoo)")
    parser.add_argument("--scorers", type=_names, default=None, help="comma-separated scorer names (default: all)")
    parser.add_argument("--tasks", type=_names, default=None, help="comma-separated task names (default: all)")
    parser.add_argument("--output", default="docs/BENCHMARKS.md", help="markdown page to write ('' to skip)")
    parser.add_argument("--json", default=None, help="also write every per-model score and metric as JSON")
    parser.add_argument(
        "--previous", default=None, help="a --json file of an earlier run: its other scorers are kept, those run now replace theirs"
    )
    parser.add_argument("--jobs", type=int, default=1, help="worker processes, one task each (default: 1)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")

    result = run_zoo_benchmark(
        args.zoo_dir, scorers=args.scorers, tasks=args.tasks, progress=not args.no_progress, n_jobs=args.jobs
    )
    if args.previous:
        result = ZooBenchmarkResult.from_json(args.previous).merged(result)
    print(result.to_markdown())
    if args.output:
        command = " ".join(["python -m benchmarks.zoo", *(sys.argv[1:] if argv is None else argv)])
        output = Path(args.output)
        output.parent.mkdir(parents=True, exist_ok=True)
        # Sections other scripts write (between <!-- BEGIN:x --> and <!-- END:x --> markers, e.g. the
        # robustness tables) are kept: they follow the page this script renders.
        kept = output.read_text().split(KEPT_FROM, 1)[1] if output.is_file() and KEPT_FROM in output.read_text() else ""
        output.write_text(render(result, command=command) + (f"\n{KEPT_FROM}{kept}" if kept else ""))
        print(f"wrote {output}")
    if args.json:
        result.to_json(args.json)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

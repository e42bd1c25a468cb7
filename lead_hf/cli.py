"""The ``lead-hf`` command: argument parsing and printing only; the work is done in rank, hub, zoo and metric.

    lead-hf rank DATASET [--models ID ...] [--limit N] [--scorers lead,logme] [--output r.json] [--plot r.png]
    lead-hf score FEATURES.npz [--scorers lead,logme,leep]
    lead-hf bench zoo [--zoo-dir DIR] [--output BENCHMARKS.md]
    lead-hf install-metric

Expected failures (bad input, unknown dataset, no matching model, Hub unreachable) print one line
``lead-hf: error: ...`` on stderr and exit with status 1; ``-v`` adds logging (``-vv`` debug and tracebacks).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .errors import LeadHfError
from .ranking import DIAGNOSTICS_LEGEND

__all__ = ["build_parser", "main"]

_SUFFIXES = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9}


def parse_count(text: str) -> int:
    """``"25M"`` -> 25_000_000 (suffixes k, M, B; case-insensitive)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmb]?)\s*", text.lower())
    if not match:
        raise argparse.ArgumentTypeError(f"expected a count such as 5000000, 25M or 1.5B, got {text!r}")
    return int(float(match.group(1)) * _SUFFIXES[match.group(2)])


def parse_names(text: str) -> tuple[str, ...]:
    """``"lead, logme"`` -> ("lead", "logme")."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    return names


def parse_level(text: str) -> float | None:
    """``"0.9"`` -> 0.9; ``"none"`` -> None (scores without intervals)."""
    from .scoring.intervals import check_level

    if text.strip().lower() == "none":
        return None
    try:
        return check_level(float(text))
    except ValueError as err:  # not a number, or outside (0, 1)
        raise argparse.ArgumentTypeError(f"expected a level in (0, 1) such as 0.9, or none, got {text!r}") from err


def parse_budget(text: str) -> str | Any | None:
    """``"racing"`` / ``"halving"`` as is, ``"none"`` -> None, ``"12,34,100"`` -> ``Budget((12, 34, 100))`` (the best
    third goes on)."""
    from .budget import NAMED_BUDGETS, Budget

    word = text.strip().lower()
    if word in (*NAMED_BUDGETS, "none"):
        return None if word == "none" else word
    try:
        return Budget(tuple(int(n) for n in parse_names(text)))
    except (ValueError, argparse.ArgumentTypeError) as err:
        raise argparse.ArgumentTypeError(
            f"expected racing, halving, none or increasing images per class such as 12,34,100; got {text!r} ({err})"
        ) from err


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``lead-hf`` (subcommands rank, score, bench, install-metric)."""
    parser = argparse.ArgumentParser(prog="lead-hf", description="Rank pre-trained image classifiers for fine-tuning (LEAD and baselines).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log progress (-vv: debug, tracebacks)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    rank = commands.add_parser(
        "rank", help="rank models on a dataset (Hub id or local imagefolder)", epilog=DIAGNOSTICS_LEGEND,
        description="Rank pre-trained image models for fine-tuning on DATASET, best first.",
    )
    rank.add_argument("dataset", metavar="DATASET", help="Hub dataset id or local imagefolder directory")
    rank.add_argument("--models", nargs="+", metavar="ID", help="Hub model ids or local folders (default: search the Hub)")
    rank.add_argument("--limit", type=int, default=10, help="Hub candidates to rank when --models is not given (default 10)")
    rank.add_argument("--split", default="train", help="dataset split (default train)")
    rank.add_argument("--image-column", help="image column (detected by default)")
    rank.add_argument("--label-column", help="label column (detected by default)")
    rank.add_argument("--max-samples-per-class", type=int, metavar="N", help="class-balanced subsample (default: all images)")
    rank.add_argument("--seed", type=int, default=0, help="subsampling seed (default 0)")
    _add_scorers(rank)
    rank.add_argument("--batch-size", type=int, default=32, help="images per forward pass (default 32)")
    rank.add_argument("--cache-dir", type=Path, help="feature cache (default $LEAD_HF_CACHE or ~/.cache/lead_hf)")
    rank.add_argument("--output", type=Path, metavar="JSON", help="write the ranking as JSON")
    rank.add_argument("--plot", type=Path, metavar="IMAGE", help="save a chart of the ranking (needs matplotlib)")
    rank.add_argument("--ground-truth", type=Path, metavar="JSON",
                      help='{"model": fine-tuned accuracy} (or a zoo ground_truth.json with --task): report the weighted tau')
    rank.add_argument("--task", help="the task of a nested ground-truth file {task: {model: accuracy}}")
    rank.add_argument("--confidence", type=parse_level, default=0.9, metavar="LEVEL",
                      help="level of the score intervals and noise groups (default 0.9; none: scores only)")
    rank.add_argument("--budget", type=parse_budget, default=None, metavar="PLAN",
                      help="adaptive image budget up to --max-samples-per-class: racing (a quarter for all, then all "
                           "for the models within noise of the leader), halving (successive halving), or images per "
                           "class per round such as 12,34,100 (default: every model on every image)")
    rank.add_argument("--verify-top", type=int, default=0, metavar="K",
                      help="fine-tune the best K models (transformers Trainer, new head, learning rate chosen on a "
                           "validation part) and print their measured accuracy beside the ranking (default 0: off)")
    hub = rank.add_argument_group("Hub search filters (without --models)")
    hub.add_argument("--search", help="substring of the model id")
    hub.add_argument("--library", type=parse_names, default=("transformers", "timm"),
                     help="transformers and/or timm (default both)")
    hub.add_argument("--include-backbones", action="store_true",
                     help="also rank image-feature-extraction models (headless backbones: no LEEP/NCE)")
    hub.add_argument("--license", help="licence tag, e.g. apache-2.0")
    hub.add_argument("--max-params", type=parse_count, metavar="COUNT", help="largest parameter count, e.g. 30M")
    hub.add_argument("--trained-dataset", metavar="ID", help="only models tagged dataset:ID")
    hub.add_argument("--sort", default="downloads", help="downloads, likes, trending_score, created_at or last_modified")
    rank.add_argument("--no-progress", action="store_true", help="no progress bars")
    rank.set_defaults(run=_run_rank)

    score = commands.add_parser("score", help="score saved features (npz with features, labels, optional logits)")
    score.add_argument("features", type=Path, metavar="FEATURES.npz")
    _add_scorers(score)
    score.add_argument("--output", type=Path, metavar="JSON", help="write the scores as JSON")
    score.set_defaults(run=_run_score)

    bench = commands.add_parser("bench", help="benchmarks")
    bench_commands = bench.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    zoo = bench_commands.add_parser("zoo", help="weighted tau of every scorer on the zoo-mini benchmark")
    zoo.add_argument("--zoo-dir", type=Path, help="zoo folder (default $LEAD_HF_ZOO_DIR or ../shared/zoo)")
    zoo.add_argument("--scorers", type=parse_names, help="comma-separated scorers (default: all)")
    zoo.add_argument("--tasks", type=parse_names, help="comma-separated tasks (default: all)")
    zoo.add_argument("--output", type=Path, metavar="MARKDOWN", help="write the result table")
    zoo.set_defaults(run=_run_bench_zoo)

    metric = commands.add_parser("install-metric", help="install the LEAD evaluate module for evaluate.load")
    metric.set_defaults(run=_run_install_metric)
    return parser


def _add_scorers(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scorers", type=parse_names, default=("lead", "logme"), help="comma-separated, first ranks (default lead,logme)"
    )


def _run_rank(args: argparse.Namespace) -> int:
    from accelerate import Accelerator

    accelerator = Accelerator()  # under accelerate launch / torchrun: the models are split between processes
    try:
        status = _rank_and_report(args, accelerator)
        accelerator.wait_for_everyone()  # no process tears the group down while the main one still writes
        return status
    finally:
        accelerator.end_training()  # a process group left to the interpreter's exit can abort a process


def _rank_and_report(args: argparse.Namespace, accelerator: Any) -> int:
    """Rank on every process; only the main process prints and writes files."""
    from .rank import rank_hub_models

    truth = _read_ground_truth(args.ground_truth, args.task) if args.ground_truth else None
    for option, path in (("--output", args.output), ("--plot", args.plot)):
        _check_writable(option, path)
    ranking = rank_hub_models(
        args.dataset, model_ids=args.models, limit=args.limit, search=args.search, library=args.library,
        include_backbones=args.include_backbones,
        license=args.license, max_params=args.max_params, trained_dataset=args.trained_dataset, sort=args.sort,
        scorers=args.scorers, split=args.split, image_column=args.image_column, label_column=args.label_column,
        max_samples_per_class=args.max_samples_per_class, seed=args.seed, batch_size=args.batch_size,
        cache_dir=args.cache_dir, ground_truth=truth, progress=not args.no_progress, accelerator=accelerator,
        verify_top=args.verify_top, confidence=args.confidence, budget=args.budget,
    )  # fmt: skip
    if not accelerator.is_main_process:
        return 0
    print(ranking)
    if args.output:  # first: whatever fails below, the ranking is kept
        ranking.to_json(args.output)
        print(f"Wrote {args.output}", file=sys.stderr)
    if args.plot:
        print(f"Wrote {ranking.plot(args.plot)}", file=sys.stderr)
    if truth is not None:
        for scorer, metrics in ranking.evaluate().items():
            print(f"{scorer}: weighted tau {metrics['weighted_tau']:+.3f} against {args.ground_truth}")
    if ranking.best_model is None:
        raise LeadHfError(f"no model could be scored by {ranking.primary} (see the error column)")
    return 0


def _run_score(args: argparse.Namespace) -> int:

    from .rank import compute_scores

    arrays = _read_npz(args.features)
    missing = [key for key in ("features", "labels") if key not in arrays]
    if missing:
        raise LeadHfError(f"{args.features} has no {missing} array(s); it holds {sorted(arrays)}")
    values, errors = compute_scores(arrays["features"], arrays["labels"], source_logits=arrays.get("logits"),
                                    scorers=args.scorers)
    width = max(map(len, values))
    for name, value in values.items():
        print(f"{name.ljust(width)}  {value:.6g}")
    if args.output:
        args.output.write_text(json.dumps({k: None if math.isnan(v) else v for k, v in values.items()}, indent=2) + "\n")
    if errors:
        raise LeadHfError("; ".join(errors))
    return 0


def _read_ground_truth(path: Path, task: str | None) -> dict[str, float]:
    """``{model: accuracy}`` from a flat file, or from a zoo's nested ``{task: {model: accuracy or {"test_acc"}}}``."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise LeadHfError(f"--ground-truth {path}: cannot read it as JSON ({type(err).__name__}: {err}).") from err
    if not isinstance(raw, dict):
        raise LeadHfError(f"--ground-truth {path}: expected a JSON object {{model: accuracy}}, got {type(raw).__name__}.")
    tasks = sorted(k for k, v in raw.items() if isinstance(v, dict) and not k.startswith("_"))
    if task is not None:
        if task not in tasks:
            raise LeadHfError(f"--task {task!r} is not in {path}; its tasks: {tasks}.")
        raw = raw[task]
    elif tasks:
        raise LeadHfError(f"--ground-truth {path} holds several tasks {tasks}: choose one with --task.")
    truth = {}
    for model, value in raw.items():
        value = value.get("test_acc") if isinstance(value, dict) else value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise LeadHfError(f"--ground-truth {path}: the accuracy of {model!r} is {value!r}, not a number.")
        truth[model] = float(value)
    return truth


def _check_writable(option: str, path: Path | None) -> None:
    """Refuse an output path that cannot be written, before any work."""
    if path is None:
        return
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise LeadHfError(f"{option} {path}: the folder {folder} does not exist; create it or choose another path.")
    if path.is_dir():
        raise LeadHfError(f"{option} {path} is a folder; give a file name.")
    if not os.access(folder, os.W_OK):
        raise LeadHfError(f"{option} {path}: the folder {folder} is not writable.")
    if option == "--plot":
        try:
            import matplotlib  # noqa: F401
        except ImportError as err:
            raise LeadHfError("--plot needs matplotlib: pip install 'lead-hf[plot]'.") from err


def _read_npz(path: Path) -> dict[str, Any]:
    """The arrays of an ``.npz`` file (never unpickled); anything else is refused with what was found."""
    import zipfile

    import numpy as np

    expected = "an .npz archive with 'features' and 'labels' (and optionally 'logits'), e.g. np.savez(path, ...)"
    if not path.is_file():
        raise LeadHfError(f"{path} does not exist or is not a file; pass {expected}.")
    if path.stat().st_size == 0:
        raise LeadHfError(f"{path} is empty (0 bytes); pass {expected}.")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:  # text, truncated or pickled content
        raise LeadHfError(f"{path} is not a readable .npz archive ({type(err).__name__}); pass {expected}.") from err
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise LeadHfError(f"{path} holds a single array (an .npy file), not named arrays; pass {expected}.")
    with loaded:
        return {key: loaded[key] for key in loaded.files}


def _run_bench_zoo(args: argparse.Namespace) -> int:
    from .benchmark import run_zoo_benchmark

    result = run_zoo_benchmark(args.zoo_dir, scorers=args.scorers, tasks=args.tasks)
    table = result.to_markdown()
    print(table)
    if args.output:
        args.output.write_text(table + "\n")
        print(f"Wrote {args.output}", file=sys.stderr)
    return 0


def _run_install_metric(args: argparse.Namespace) -> int:
    from .metric import register_metric

    print(f"Installed the LEAD metric at {register_metric()}")
    return 0


def _setup_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("lead_hf").setLevel(level)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``lead-hf`` with ``argv`` (default ``sys.argv[1:]``) and return the exit status."""
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return args.run(args)
    except (LeadHfError, ValueError, OSError) as err:  # expected failures: one line, no traceback
        logging.getLogger("lead_hf").debug("Traceback", exc_info=True)
        print(f"lead-hf: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lead-hf: interrupted; extracted features are cached, rerun to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

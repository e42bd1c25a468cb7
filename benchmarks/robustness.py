"""Robustness controls and ranking quality of every scorer, on every public pool, at several sample sizes.

Controls (features whose right answer is known without fine-tuning):

- noise candidates: i.i.d. standard-normal "features" of D = 256, 1,280 and 4,096 with the task's labels;
  they carry no information, so they must rank below every real pre-trained model;
- padding: a real model's features with 1,000 noise columns appended; the score must not rise;
- duplication: a real model's features duplicated column-wise (no information added; reported);
- rescaling: features x 1e-6, x 1e6 and x 1e18; the score must not move (beyond 1e-6) nor become NaN.

Quality: weighted Kendall tau between scores and fine-tuned accuracy on the first zoo (13 models), the second
pool (6 transformers models) and both merged (19 models), per task, with every task cut to its first
n = 10 / 20 / 50 / 100 train images per class (the zoo's rows are already shuffled).

    python -m benchmarks.robustness              # print the tables
    python -m benchmarks.robustness --write      # also write them into docs/BENCHMARKS.md

Scores are cached in ``benchmarks/.cache/robustness.pkl`` (``--fresh`` recomputes), so an interrupted run
resumes; the cache key holds the scorer's options, so a changed default needs ``--fresh``.
"""

from __future__ import annotations

import argparse
import logging
import pickle
import time
from pathlib import Path

import numpy as np

from benchmarks._docs import replace_section
from lead_hf.evaluation import weighted_tau
from lead_hf.scoring import available_scorers, score
from lead_hf.zoo import default_zoo_dir, first_per_class, list_zoo_tasks, load_zoo_task, merge_zoo_tasks

DOC = Path(__file__).resolve().parents[1] / "docs" / "BENCHMARKS.md"
CACHE = Path(__file__).resolve().parent / ".cache" / "robustness.pkl"
SIZES = (10, 20, 50, 100)
NOISE_DIMS = (256, 1280, 4096)
PAD_COLUMNS = 1000
CONTROL_SIZE = 20  # padding, duplication and rescaling for every scorer and model (N = 200 keeps them cheap)
SCALES = (1e-6, 1e6, 1e18)
CONTROL = "resnet20_random"  # a randomly initialised network: not a pre-trained model
# Rows of the tables: every registered scorer, plus LEAD as the paper configures it (the former default).
ROWS = {name: (name, {}) for name in available_scorers()}
ROWS["lead (paper preset)"] = ("lead", {"preset": "paper"})


def noise_features(n_rows: int, dim: int, task: str) -> np.ndarray:
    """Seeded standard-normal features: the same noise candidate at every sample size of a task."""
    seed = [dim, sum(task.encode())]
    return np.random.default_rng(seed).standard_normal((n_rows, dim)).astype(np.float32)


def padded(features: np.ndarray, task: str) -> np.ndarray:
    pad = np.random.default_rng([7, sum(task.encode())]).standard_normal((features.shape[0], PAD_COLUMNS))
    return np.hstack([features, pad.astype(np.float32)])


class Runner:
    """Scores with a persistent cache keyed by (row, task, n, candidate, transform)."""

    def __init__(self, cache: Path, fresh: bool):
        self.cache_path = cache
        self.cache = {} if fresh or not cache.is_file() else pickle.loads(cache.read_bytes())
        self.pending = 0

    def __call__(self, row, task, n, candidate, transform, features, labels, logits) -> float:
        method, options = ROWS[row]
        key = (row, tuple(sorted(options.items())), task, n, candidate, transform)
        if key not in self.cache:
            try:
                self.cache[key] = float(score(method, features, labels, source_logits=logits, **options))
            except ValueError as err:  # a scorer refusing an input is a result too (e.g. too few samples)
                logging.getLogger(__name__).warning("%s on %s/%s/%s: %s", row, task, candidate, transform, err)
                self.cache[key] = float("nan")
            self.pending += 1
            if self.pending >= 50:
                self.flush()
        return self.cache[key]

    def flush(self) -> None:
        if not self.pending:
            return  # nothing new: never overwrite what another run may have added
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.cache_path.with_suffix(".tmp")
        tmp.write_bytes(pickle.dumps(self.cache))
        tmp.replace(self.cache_path)
        self.pending = 0


def load_pools(zoo_dir, zoo2_dir, only=None):
    """``{task: (first zoo, both zoos merged)}`` for every task (or the ``only`` ones)."""
    tasks = {}
    for name in only or list_zoo_tasks(zoo_dir):
        first = load_zoo_task(name, zoo_dir)
        second = load_zoo_task(name, zoo2_dir) if zoo2_dir else None
        tasks[name] = (first, merge_zoo_tasks([first, second]) if second else first)
    return tasks


def run(zoo_dir=None, zoo2_dir=None, *, tasks=None, fresh=False, cache=CACHE, control_tasks=None) -> dict:
    """Scores of every row on every task and size; padding, duplication and rescaling on ``control_tasks``
    (all tasks when None, none when empty)."""
    zoo2_dir = zoo2_dir or default_zoo_dir("zoo2")
    tasks = load_pools(zoo_dir, zoo2_dir, tasks)
    runner = Runner(Path(cache), fresh)
    out = {"quality": {}, "noise": {}, "padding": {}, "duplication": {}, "scaling": {}}
    started = time.perf_counter()
    for task_name, (first, merged) in tasks.items():
        zoo_models = set(first.models)
        noise_full = {d: noise_features(merged.labels.size, d, task_name) for d in NOISE_DIMS}  # once per task
        for n in SIZES:
            rows = first_per_class(merged.labels, n)
            y = merged.labels[rows]
            for row in ROWS:
                scores = {m: runner(row, task_name, n, m, "", merged.features[m][rows], y, merged.logits[m][rows])
                          for m in merged.models}
                for pool, members in (("zoo", sorted(zoo_models)), ("zoo2", sorted(set(merged.models) - zoo_models)),
                                      ("merged", merged.models)):
                    if members:
                        truth = [merged.accuracy[m] for m in members]
                        out["quality"][(row, pool, task_name, n)] = weighted_tau([scores[m] for m in members], truth)
                if ROWS[row][0] in ("leep", "nce"):
                    continue  # no source head for noise: these scores are undefined there
                noise = [runner(row, task_name, n, f"noise{d}", "", noise_full[d][rows], y, None) for d in NOISE_DIMS]
                pretrained = [m for m in merged.models if m != CONTROL]
                out["noise"][(row, task_name, n)] = sum(scores[m] <= max(noise) for m in pretrained)
                if n == CONTROL_SIZE and (control_tasks is None or task_name in control_tasks):
                    for kind, make in (("padding", padded), ("duplication", lambda f, _t: np.hstack([f, f]))):
                        changed = [runner(row, task_name, n, m, kind, make(merged.features[m][rows], task_name), y,
                                          merged.logits[m][rows]) - scores[m] for m in merged.models]
                        out[kind][(row, task_name, n)] = changed
                    for scale in SCALES:
                        moved = [runner(row, task_name, n, m, f"x{scale:g}", merged.features[m][rows] * np.float32(scale),
                                        y, merged.logits[m][rows]) - scores[m] for m in merged.models]
                        out["scaling"][(row, task_name, scale)] = moved
            runner.flush()
            print(f"{task_name} n={n}: {time.perf_counter() - started:.0f} s", flush=True)
    return out


def _mean(values) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


def quality_table(out: dict, pool: str, tasks: list[str]) -> str:
    lines = [f"| scorer | {' | '.join(f'{n} / class' for n in SIZES)} |", "|---" * (len(SIZES) + 1) + "|"]
    for row in ROWS:
        cells = []
        for n in SIZES:
            taus = [out["quality"][(row, pool, t, n)] for t in tasks]
            cells.append(f"{_mean(taus):+.3f} ({', '.join(f'{v:+.2f}' for v in taus)})")
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def robustness_table(out: dict, tasks: list[str]) -> str:
    head = ("| scorer | pre-trained models at or below the best noise candidate (per task; n = "
            + " / ".join(map(str, SIZES)) + ") | padding raised the score | duplication: mean change "
            "| rescaling: max abs change | NaN |")
    lines = [head, "|---|---|---|---|---|---|"]
    for row in ROWS:
        if (row, tasks[0], SIZES[0]) not in out["noise"]:
            lines.append(f"| {row} | n/a (needs a source head) | | | | |")
            continue
        noise = " / ".join(",".join(str(out["noise"][(row, t, n)]) for t in tasks) for n in SIZES)
        controlled = [t for t in tasks if (row, t, CONTROL_SIZE) in out["padding"]]
        pad = [v for t in controlled for v in out["padding"][(row, t, CONTROL_SIZE)]]
        dup = [v for t in controlled for v in out["duplication"][(row, t, CONTROL_SIZE)]]
        moved = np.array([v for t in controlled for s in SCALES for v in out["scaling"][(row, t, s)]])
        if not controlled:
            lines.append(f"| {row} | {noise} | not run | not run | not run | not run |")
            continue
        lines.append(
            f"| {row} | {noise} | {sum(v > 0 for v in pad)} of {len(pad)} | {_mean(dup):+.3g} "
            f"| {np.nanmax(np.abs(moved)):.1e} | {int(np.isnan(moved).sum())} |"
        )
    return "\n".join(lines)


def render(out: dict) -> str:
    tasks = sorted({key[2] for key in out["quality"]})
    controlled = sorted({key[1] for key in out["padding"]})
    parts = ["Robustness (controls): noise candidates D = 256 / 1,280 / 4,096 at every size; padding (1,000 noise "
             "columns appended), duplication (every column twice) and rescaling (x1e-6 / x1e6 / x1e18 of the stored "
             f"float32 features) of each of the 19 models at n = {CONTROL_SIZE} per class, on "
             f"{', '.join(controlled) if controlled != tasks else 'every task'}.", "",
             robustness_table(out, tasks), ""]
    for pool, title in (("merged", "Merged mixed pool (19 models)"), ("zoo", "First zoo (13 models)"),
                        ("zoo2", "Second pool alone (6 transformers models)")):
        parts += [f"{title}: mean weighted tau over the 4 tasks (per task: {', '.join(tasks)}), images per class",
                  "", quality_table(out, pool, tasks), ""]
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo-dir", default=None)
    parser.add_argument("--zoo2-dir", default=None)
    parser.add_argument("--tasks", default=None, help="comma-separated tasks (default: all)")
    parser.add_argument("--fresh", action="store_true", help="ignore the score cache")
    parser.add_argument("--cache", default=str(CACHE), help="the score cache file")
    parser.add_argument("--control-tasks", default=None,
                        help="comma-separated tasks that get padding, duplication and rescaling (default: all; '' for none)")
    parser.add_argument("--write", action="store_true", help=f"write the tables into {DOC.name}")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    tasks = args.tasks.split(",") if args.tasks else None
    control_tasks = None if args.control_tasks is None else [t for t in args.control_tasks.split(",") if t]
    out = run(args.zoo_dir, args.zoo2_dir, tasks=tasks, fresh=args.fresh, cache=args.cache, control_tasks=control_tasks)
    text = render(out)
    print(text)
    if args.write:
        replace_section(DOC, "robustness", text)


if __name__ == "__main__":
    main()

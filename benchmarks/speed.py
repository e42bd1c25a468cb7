"""LEAD vs LogME wall time and peak extra memory on synthetic features, LEAD's scaling in N, D, K, the time
ratio at every size from the zoo's to 50,000 x 2,048 x 100, and the cost of LEAD's confidence interval.

Usage::

    python -m benchmarks.speed                 # N=50,000, D=2,048, K=100 + ratios + interval + scaling table
    python -m benchmarks.speed --no-scaling    # without the scaling table

Target (issue): LEAD end-to-end no slower than LogME on the same data in the same run, under 60 s on a
2-core machine, peak extra memory under 2x the feature matrix. LEAD runs twice: with its default
(held-out: 5-fold out-of-fold probe, transfer rates) and with the paper's preset (in-sample probe, NTK
rates of the (1024, 2048) head). Peak extra memory is measured twice: numpy allocations via ``tracemalloc`` and the
process RSS sampled every 20 ms (minus the RSS before the call). The machine is shared: the numbers
are noisy, so each scorer runs ``--repeats`` times (LEAD and LogME interleaved) and the median is kept.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np

from benchmarks._docs import replace_section
from lead_hf.scoring.intervals import score_with_spread
from lead_hf.scoring.lead import lead_score
from lead_hf.scoring.logme import logme_score

DOC = Path(__file__).resolve().parents[1] / "docs" / "LEAD_DEFAULTS.md"


def synthetic(n: int, d: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """float32 features with a class signal in a few directions, balanced labels."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % k
    features = rng.standard_normal((n, d), dtype=np.float32)
    means = rng.standard_normal((k, d), dtype=np.float32) * 0.3
    features += means[labels]
    return features, labels


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


class _RssSampler(threading.Thread):
    """Peak resident set size above the starting value, sampled in the background."""

    def __init__(self, interval: float = 0.02):
        super().__init__(daemon=True)
        self.interval, self.base, self.peak = interval, _rss_bytes(), 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak = max(self.peak, _rss_bytes() - self.base)
            time.sleep(self.interval)

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return max(self.peak, _rss_bytes() - self.base)


def measure(fn, features, labels, *, memory: bool) -> tuple[float, int, int]:
    """Seconds, tracemalloc peak bytes and RSS peak extra bytes of one call (memory: 0 when not measured)."""
    if not memory:
        start = time.perf_counter()
        fn(features, labels)
        return time.perf_counter() - start, 0, 0
    sampler = _RssSampler()
    sampler.start()
    tracemalloc.start()
    start = time.perf_counter()
    fn(features, labels)
    seconds = time.perf_counter() - start
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, traced, sampler.stop()


def headline(n: int, d: int, k: int, repeats: int, emit) -> None:
    features, labels = synthetic(n, d, k)
    size = features.nbytes
    emit(f"N={n:,} D={d:,} K={k}: float32 features {size / 2**20:.0f} MiB; {repeats} interleaved runs, median\n")
    scorers = {"LEAD": lead_score, "LEAD paper": functools.partial(lead_score, preset="paper"), "LogME": logme_score}
    times = {name: [] for name in scorers}
    for _ in range(repeats):
        for name, fn in scorers.items():
            times[name].append(measure(fn, features, labels, memory=False)[0])
    emit("| scorer | median s | runs (s) | tracemalloc peak / features | RSS peak extra / features |")
    emit("|---|---|---|---|---|")
    for name, fn in scorers.items():
        # Memory in a separate run: tracemalloc slows numpy allocation and must not bias the timing.
        _, traced, rss = measure(fn, features, labels, memory=True)
        runs = ", ".join(f"{t:.1f}" for t in times[name])
        emit(f"| {name} | {statistics.median(times[name]):.1f} | {runs} | {traced / size:.2f}x | {rss / size:.2f}x |")
    logme = statistics.median(times["LogME"])
    for name in ("LEAD", "LEAD paper"):
        lead = statistics.median(times[name])
        emit(f"\n{name} / LogME time ratio: {lead / logme:.2f} (target <= 1); {name} median {lead:.1f} s (target < 60 s)")


# The zoo's sizes (1,000 images, D = 256..1,280, 10 classes), then larger N, D and K up to the headline.
RATIO_SIZES = [(1_000, d, 10) for d in (256, 512, 768, 1_024, 1_280)] + [
    (5_000, 1_024, 10), (5_000, 2_048, 10), (20_000, 1_024, 100), (50_000, 2_048, 100)]


SMALL_RUNS = 21


def _median_seconds(fn, features, labels, repeats: int) -> float:
    return statistics.median(measure(fn, features, labels, memory=False)[0] for _ in range(repeats))


def ratios(repeats: int, emit) -> None:
    """LEAD / LogME wall time at every size of RATIO_SIZES (interleaved runs, medians)."""
    emit(f"\nLEAD / LogME time at every size (medians of interleaved runs: {repeats} per scorer, {SMALL_RUNS} below "
         "1 s)\n")
    emit("| N | D | K | LEAD s | LogME s | LEAD / LogME |")
    emit("|---|---|---|---|---|---|")
    worst = 0.0
    for n, d, k in RATIO_SIZES:
        features, labels = synthetic(n, d, k)
        times = {"lead": [], "logme": []}
        # Sub-second sizes are at the mercy of the shared machine's scheduler: more runs, so the median means something.
        runs = repeats if measure(lead_score, features, labels, memory=False)[0] > 1.0 else max(repeats, SMALL_RUNS)
        for _ in range(runs):
            times["lead"].append(measure(lead_score, features, labels, memory=False)[0])
            times["logme"].append(measure(logme_score, features, labels, memory=False)[0])
        lead, logme = statistics.median(times["lead"]), statistics.median(times["logme"])
        worst = max(worst, lead / logme)
        emit(f"| {n:,} | {d:,} | {k} | {lead:.3f} | {logme:.3f} | {lead / logme:.2f} |")
    emit(f"\nLargest LEAD / LogME ratio: {worst:.2f} (target <= 1 at every size)")


def interval_cost(n: int, d: int, k: int, repeats: int, emit) -> None:
    """LEAD with its bootstrap interval against LEAD alone (lead_hf.scoring.intervals)."""
    features, labels = synthetic(n, d, k)
    alone = _median_seconds(lead_score, features, labels, repeats)
    with_interval = _median_seconds(lambda x, y: score_with_spread("lead", x, y), features, labels, repeats)
    emit(f"\nLEAD's interval at N={n:,} D={d:,} K={k}: LEAD {alone:.2f} s, LEAD with its interval "
         f"{with_interval:.2f} s; the interval costs {(with_interval - alone) / alone:.2f}x LEAD (target <= 2), "
         f"LEAD with it {with_interval / alone:.2f}x LEAD alone")


def scaling(emit) -> None:
    base = {"n": 20_000, "d": 1_024, "k": 50}
    grid = [("n", [10_000, 20_000, 50_000]), ("d", [256, 1_024, 2_048]), ("k", [10, 50, 200])]
    emit("\nLEAD scaling (one run each; other sizes at N=20,000, D=1,024, K=50)\n")
    emit("| varied | N | D | K | LEAD s |")
    emit("|---|---|---|---|---|")
    for name, values in grid:
        for value in values:
            size = {**base, name: value}
            features, labels = synthetic(size["n"], size["d"], size["k"])
            seconds = measure(lead_score, features, labels, memory=False)[0]
            emit(f"| {name} | {size['n']:,} | {size['d']:,} | {size['k']} | {seconds:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--d", type=int, default=2_048)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-scaling", action="store_true")
    parser.add_argument("--write", action="store_true", help="write the output into docs/LEAD_DEFAULTS.md")
    args = parser.parse_args()
    lines: list[str] = []

    def emit(line: str) -> None:
        lines.append(line)
        print(line, flush=True)

    headline(args.n, args.d, args.k, args.repeats, emit)
    interval_cost(args.n, args.d, args.k, args.repeats, emit)
    ratios(args.repeats, emit)
    if not args.no_scaling:
        scaling(emit)
    if args.write:
        text = "\n".join(lines)
        replace_section(DOC, "speed", text)


if __name__ == "__main__":
    main()

"""LEAD variants: mean weighted tau on the merged mixed pool and the first zoo at 20 / 50 / 100 images per class,
with the noise control, for the open points of the method.

Usage::

    python -m benchmarks.lead_variants            # print the table
    python -m benchmarks.lead_variants --write    # also write it into docs/LEAD_DEFAULTS.md

Each row changes one or two options of the default (``LeadOptions()``) and scores every model of both
public pools (``zoo/`` and ``zoo2/``, merged per task) plus three pure-noise candidates (D = 256, 1,280 and
4,096), every task cut to its first n train images per class. "noise not last" counts the (task, n) cells,
of 12, where a noise candidate scores at or above one of the 18 pre-trained models.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

import numpy as np

from benchmarks._docs import replace_section
from benchmarks.robustness import CONTROL, NOISE_DIMS, load_pools, noise_features
from lead_hf.evaluation import weighted_tau
from lead_hf.scoring.lead import LeadOptions, lead_score
from lead_hf.zoo import default_zoo_dir, first_per_class

DOC = Path(__file__).resolve().parents[1] / "docs" / "LEAD_DEFAULTS.md"
SIZES = (20, 50, 100)

VARIANTS: list[tuple[str, dict]] = [
    ("**default** (5-fold probe, transfer rate)", {}),
    ("paper preset (in-sample probe, NTK rate)", {"preset": "paper"}),
    ("in-sample probe (cv=0), transfer rate", {"cv": 0}),
    ("exact leave-one-out probe (cv='loo')", {"cv": "loo"}),
    ("10-fold probe (cv=10)", {"cv": 10}),
    ("probe reg=1", {"reg": 1.0}),
    ("probe reg=3", {"reg": 3.0}),
    ("probe reg=30", {"reg": 30.0}),
    ("NTK rate on the out-of-fold probe (rate='ntk')", {"rate": "ntk"}),
    ("NTK rate x transfer share (rate='ntk_transfer')", {"rate": "ntk_transfer"}),
    ("no evolution: -CE of the out-of-fold probe (t=0)", {"t": 0.0}),
    ("t=0.5", {"t": 0.5}),
    ("t=2", {"t": 2.0}),
    ("prob_norm=softmax (calibrated temperature)", {"prob_norm": "softmax"}),
    ("uncalibrated sigmoid", {"calibrate": False}),
    ("seed=1 (folds)", {"seed": 1}),
]


def run(zoo_dir=None, zoo2_dir=None) -> list[tuple[str, dict]]:
    pools = load_pools(zoo_dir, zoo2_dir or default_zoo_dir("zoo2"))
    table = []
    for label, change in VARIANTS:
        merged_taus = {n: [] for n in SIZES}
        zoo_taus = {n: [] for n in SIZES}
        noise_cells = 0
        for task_name, (first, merged) in pools.items():
            noise_full = {d: noise_features(merged.labels.size, d, task_name) for d in NOISE_DIMS}  # once per task
            for n in SIZES:
                rows = first_per_class(merged.labels, n)
                y = merged.labels[rows]
                scores = {m: lead_score(merged.features[m][rows], y, **change) for m in merged.models}
                truth = merged.accuracy
                merged_taus[n].append(weighted_tau([scores[m] for m in merged.models], [truth[m] for m in merged.models]))
                zoo_taus[n].append(weighted_tau([scores[m] for m in first.models], [truth[m] for m in first.models]))
                noise = max(lead_score(noise_full[d][rows], y, **change) for d in NOISE_DIMS)
                noise_cells += any(scores[m] <= noise for m in merged.models if m != CONTROL)
        table.append((label, {"merged": merged_taus, "zoo": zoo_taus, "noise": noise_cells}))
        print(f"done {label}", flush=True)
    return table


def to_markdown(table) -> str:
    head = " | ".join(f"merged {n}" for n in SIZES) + " | " + " | ".join(f"zoo {n}" for n in SIZES)
    lines = [f"| variant | {head} | noise not last (of 12) |", "|---" * (2 * len(SIZES) + 2) + "|"]
    for label, result in table:
        cells = [f"{np.mean(result[pool][n]):+.3f}" for pool in ("merged", "zoo") for n in SIZES]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {result['noise']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo-dir", default=None)
    parser.add_argument("--zoo2-dir", default=None)
    parser.add_argument("--write", action="store_true", help="write the table into docs/LEAD_DEFAULTS.md")
    args = parser.parse_args()
    text = to_markdown(run(args.zoo_dir, args.zoo2_dir))
    print(f"\ndefault: {asdict(LeadOptions())}\n")
    print(text)
    if args.write:
        replace_section(DOC, "variants", text)


if __name__ == "__main__":
    main()

"""What the paper's NTK rate measures: the relative class rate of LEAD's random head vs. the share of
non-constant feature columns, for every model of both public pools and for noise, per task.

On standardised features every live column adds 1 to a sample's squared norm and a dead (constant) one adds
0, and a wide random ReLU head's NTK diagonal grows with that norm; so the rate relative to white inputs of
the same width is close to the live share. Appending noise columns raises it, and white noise maximises it.

    python -m benchmarks.lead_ntk_rates
"""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks.robustness import load_pools, noise_features
from lead_hf.scoring.lead import lead_score
from lead_hf.zoo import default_zoo_dir, first_per_class


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo-dir", default=None)
    parser.add_argument("--per-class", type=int, default=100)
    args = parser.parse_args()
    pools = load_pools(args.zoo_dir, default_zoo_dir("zoo2"))
    print("| model | " + " | ".join(f"{t}: relative rate / live share" for t in pools) + " |")
    print("|---" * (len(pools) + 1) + "|")
    gaps = []
    first_task = next(iter(pools.values()))[1]
    candidates = [*first_task.models, "noise (D=1,280)", "resnet20_cifar10 + 1,000 noise columns",
                  "mobilenetv1_025_vww96 + 1,000 noise columns"]
    for name in candidates:
        cells = []
        for task_name, (_, merged) in pools.items():
            rows = first_per_class(merged.labels, args.per_class)
            y = merged.labels[rows]
            if name.startswith("noise"):
                x = noise_features(merged.labels.size, 1280, task_name)[rows]
            elif "+" in name:
                base = merged.features[name.split(" + ")[0]][rows]
                x = np.hstack([base, noise_features(merged.labels.size, 1000, task_name)[rows]])
            else:
                x = merged.features[name][rows]
            details = lead_score(x, y, rate="ntk", return_details=True)
            relative = float(details.class_rates.mean() / details.reference_rate)
            live = float(np.mean(np.ptp(x, axis=0) > 0))
            gaps.append(relative - live)
            cells.append(f"{relative:.2f} / {live:.2f}")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    gaps = np.abs(gaps)
    print(f"\n|relative rate - live share|: median {np.median(gaps):.3f}, max {gaps.max():.3f} over {gaps.size} cells")


if __name__ == "__main__":
    main()

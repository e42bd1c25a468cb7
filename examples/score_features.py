"""Score features you extracted yourself: every registered scorer on one (features, labels) pair.

    python examples/score_features.py            # synthetic features, runs offline in seconds
"""

import numpy as np

import lead_hf


def main() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(5), 40)
    # Two "models": one whose features carry the classes, one whose features barely do.
    good = rng.normal(size=(200, 32)) + 2.0 * np.eye(5, 32)[labels]
    weak = rng.normal(size=(200, 32)) + 0.3 * np.eye(5, 32)[labels]
    source_logits = rng.normal(size=(200, 10))  # stands in for a pre-trained head's output

    for name in lead_hf.available_scorers():
        s_good = lead_hf.score(name, good, labels, source_logits=source_logits)
        s_weak = lead_hf.score(name, weak, labels, source_logits=source_logits)
        print(f"{name:>16}  good {s_good:+.4f}   weak {s_weak:+.4f}")

    details = lead_hf.lead_score(good, labels, return_details=True)
    print("LEAD with its initial-energy diagnostics:", details.as_dict())


if __name__ == "__main__":
    main()

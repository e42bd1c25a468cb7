"""LEAD variants on the public zoo: weighted Kendall tau per task and mean, for the open points of the method.

Usage::

    python -m benchmarks.lead_variants            # print the table
    python -m benchmarks.lead_variants --write    # also write it into docs/LEAD_DEFAULTS.md

Each variant changes one or two options of the default (``LeadOptions()``); the probe and the head
rates are computed once per distinct configuration and shared between variants, and the default row
is checked against a plain ``lead_score`` call. ``rate_norm="global"`` (one eta for all models of a
ranking, the median model's mean class rate mapped to 1) is not a single-model option: it is built
here from the per-model raw rates. References: the probe's own ``-loss0``, ``acc0`` and ``-energy0``
(Ren et al. 2023), and the zoo's two sanity baselines from ``baselines.json``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
from scipy.stats import weightedtau

from benchmarks._docs import replace_section
from lead_hf.energy import initial_energy
from lead_hf.scoring._probe import decision_to_probabilities, initial_decision_values
from lead_hf.scoring._ridge import feature_moments, standardized_matvec
from lead_hf.scoring.lead import LeadOptions, evolved_score, head_class_rates, lead_score
from lead_hf.zoo import default_zoo_dir, list_zoo_tasks, load_zoo_task

DOC = Path(__file__).resolve().parents[1] / "docs" / "LEAD_DEFAULTS.md"
PROBE_FIELDS = ("classifier", "cv", "reg")
HEAD_FIELDS = ("feature_scaling", "head_widths", "samples_per_class")

# (label, option changes from the default); "global" is handled by the script.
VARIANTS: list[tuple[str, dict]] = [
    ("**default**", {}),
    ("out-of-fold probe (cv=5)", {"cv": 5}),
    ("exact leave-one-out probe (cv='loo')", {"cv": "loo"}),
    ("probe reg=1e-2", {"reg": 1e-2}),
    ("probe reg=1", {"reg": 1.0}),
    ("probe reg=30", {"reg": 30.0}),
    ("logistic probe (multinomial, L-BFGS), reg=10", {"classifier": "logistic"}),
    ("logistic probe, reg=1", {"classifier": "logistic", "reg": 1.0}),
    ("logistic probe, reg=0.1", {"classifier": "logistic", "reg": 0.1}),
    ("prob_norm=softmax (calibrated temperature)", {"prob_norm": "softmax"}),
    ("uncalibrated sigmoid", {"calibrate": False}),
    ("uncalibrated softmax", {"prob_norm": "softmax", "calibrate": False}),
    ("score_form=ce_softmax", {"score_form": "ce_softmax"}),
    ("t=0.5", {"t": 0.5}),
    ("t=2", {"t": 2.0}),
    ("feature_scaling=l2", {"feature_scaling": "l2"}),
    ("feature_scaling=none", {"feature_scaling": "none"}),
    ("rate_norm=per_model", {"rate_norm": "per_model"}),
    ("rate_norm=none, eta=1", {"rate_norm": "none"}),
    ("rate_norm=global (median model -> 1; needs every model)", {"rate_norm": "global"}),
    ("seed=1 (head and folds)", {"seed": 1}),
    ("head_widths=(256,)", {"head_widths": (256,)}),
]


def _key(opts: LeadOptions, fields) -> tuple:
    return (*((f, getattr(opts, f)) for f in fields), ("seed", opts.seed))


def _tau(scores: dict[str, float], accuracy: dict[str, float]) -> float:
    models = sorted(accuracy)
    return float(weightedtau([scores[m] for m in models], [accuracy[m] for m in models])[0])


def run(zoo_dir=None) -> tuple[list[str], list[tuple[str, list[float]]]]:
    tasks = list_zoo_tasks(zoo_dir)
    rows: dict[str, list[float]] = {label: [] for label, _ in VARIANTS}
    refs: dict[str, list[float]] = {"reference: -loss0 of the default probe": [], "reference: acc0": [],
                                    "reference: -energy0": []}
    default = LeadOptions()
    for name in tasks:
        task = load_zoo_task(name, zoo_dir)
        y = task.labels
        k = int(y.max()) + 1
        cache: dict[tuple, np.ndarray] = {}
        per_model: dict[str, dict[str, tuple]] = {}
        for model in task.models:
            x = task.features[model]
            moments = feature_moments(x)
            keys = {}  # content-based order key per seed, as lead_score draws it
            per_model[model] = {}
            for label, change in VARIANTS:
                opts = replace(default, **{**change, "rate_norm": "none" if change.get("rate_norm") == "global"
                                           else change.get("rate_norm", default.rate_norm)})
                pk, hk = ("p", model, *_key(opts, PROBE_FIELDS)), ("h", model, *_key(opts, HEAD_FIELDS))
                if opts.seed not in keys:
                    direction = np.random.default_rng([opts.seed, 0]).standard_normal(x.shape[1])
                    keys[opts.seed] = standardized_matvec(x, moments, direction)
                order_key = keys[opts.seed]
                if pk not in cache:
                    cache[pk] = initial_decision_values(x, y, k, classifier=opts.classifier, cv=opts.cv, reg=opts.reg,
                                                        moments=moments, order_key=order_key)
                if hk not in cache:
                    cache[hk] = head_class_rates(x, y, k, opts, moments=moments, order_key=order_key)
                p0 = decision_to_probabilities(cache[pk], y, prob_norm=opts.prob_norm, calibrate=opts.calibrate)
                per_model[model][label] = (opts, p0, *cache[hk])
        for label, change in VARIANTS:
            rates = {m: per_model[m][label][2] for m in task.models}
            eta = 1.0 / np.median([r.mean() for r in rates.values()]) if change.get("rate_norm") == "global" else None
            scores = {}
            for m in task.models:
                opts, p0, r, ref = per_model[m][label]
                scores[m] = evolved_score(p0, y, r, ref, opts if eta is None else replace(opts, eta=eta))[0]
            rows[label].append(_tau(scores, task.accuracy))
        default_label = VARIANTS[0][0]
        check_model = task.models[0]
        direct = lead_score(task.features[check_model], y)
        _, p0, r, ref = per_model[check_model][default_label]
        assembled = evolved_score(p0, y, r, ref, default)[0]
        assert np.isclose(direct, assembled, rtol=1e-9), (direct, assembled)  # the table scores the real scorer
        energies = {m: initial_energy(per_model[m][default_label][1], y) for m in task.models}
        refs["reference: -loss0 of the default probe"].append(_tau({m: -e["loss0"] for m, e in energies.items()}, task.accuracy))
        refs["reference: acc0"].append(_tau({m: e["acc0"] for m, e in energies.items()}, task.accuracy))
        refs["reference: -energy0"].append(_tau({m: -e["energy0"] for m, e in energies.items()}, task.accuracy))
        print(f"done {name}", flush=True)
    baselines = json.loads((Path(zoo_dir or default_zoo_dir()) / "baselines.json").read_text())
    table = [(label, rows[label]) for label, _ in VARIANTS] + list(refs.items())
    table += _baseline_rows(baselines, tasks)
    return tasks, table


def _baseline_rows(baselines: dict, tasks: list[str]) -> list[tuple[str, list[float]]]:
    """The zoo's sanity baselines (weighted tau per task from ``baselines.json``)."""
    return [
        (label, [float(baselines[t][key]) for t in tasks])
        for key, label in (("tau_params", "zoo baseline: parameter count"),
                           ("tau_linear_probe", "zoo baseline: 5-fold linear probe"))
    ]


def to_markdown(tasks: list[str], table) -> str:
    lines = ["| variant | " + " | ".join(tasks) + " | mean |", "|---|" + "---|" * (len(tasks) + 1)]
    for label, values in table:
        cells = " | ".join(f"{v:+.3f}" for v in values)
        lines.append(f"| {label} | {cells} | {np.mean(values):+.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo-dir", default=None)
    parser.add_argument("--write", action="store_true", help="write the table into docs/LEAD_DEFAULTS.md")
    args = parser.parse_args()
    tasks, table = run(args.zoo_dir)
    text = to_markdown(tasks, table)
    print(f"\ndefault: {asdict(LeadOptions())}\n")
    print(text)
    if args.write:
        replace_section(DOC, "variants", text)


if __name__ == "__main__":
    main()

"""The result of ranking models: one row per model, best first, with tables, JSON export and plots."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InvalidInputError
from .scoring import available_scorers, diagnostics_of

__all__ = ["Ranking", "DIAGNOSTICS", "SPREADS", "format_cell"]

PLOT_COLUMNS = 4

# LEAD's initial-energy diagnostics, reported next to the score (see lead_hf.energy), as the registry declares them.
DIAGNOSTICS = diagnostics_of(available_scorers())
DIAGNOSTICS_LEGEND = (
    "energy0, loss0, acc0: LEAD's diagnostics of its held-out linear probe P0 on the frozen features (initial "
    "energy, cross-entropy, accuracy): how far fine-tuning must move the logits, not a predicted fine-tuned accuracy."
)
# Columns of a verify_top fine-tuning, after the ground truth.
VERIFICATION = ("finetuned_accuracy", "finetune_seconds", "finetune_learning_rate", "finetune_error")
# Columns after the scores, in table order.
BOOKKEEPING = ("n_params", "n_images", "budget_round", "extract_seconds", "score_seconds", "from_cache", "source_head",
               "n_skipped", "error")
# Table columns of the JSON/DataFrame export that the text and Markdown tables leave out.
HIDDEN_IN_TABLES = ("from_cache", "score_seconds", "source_head", "n_skipped", "finetune_learning_rate", "budget_round")
NO_SOURCE_HEAD = "n/a (no source head)"
# Row key of each scorer's ScoreSpread (lead_hf.scoring.intervals): kept in memory, never exported.
SPREADS = "_spreads"
ERROR_WIDTH = 60  # characters of an error message shown in tables (JSON keeps it whole)


def is_missing(value: Any) -> bool:
    """``None`` or NaN: a value a scorer could not give."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def match_truth(model: str, truth: Mapping[str, float]) -> float | None:
    """Accuracy of ``model`` in ``truth``: by its id, else by the folder name of a local path."""
    if model in truth:
        return truth[model]
    return truth.get(Path(model).name)


@dataclass
class Ranking:
    """Models ranked by transferability on one dataset (rows sorted by the primary scorer, best first).

    Attributes:
        rows (`list[dict]`): one dict per model with ``"model"``, one key per scorer (``nan`` when it failed),
            LEAD's ``"energy0"``, ``"loss0"``, ``"acc0"`` when LEAD ran, ``"n_params"``,
            ``"extract_seconds"``, ``"score_seconds"``, ``"from_cache"``, ``"source_head"`` (``False`` for a
            headless backbone: LEEP and NCE are ``nan``, shown as "n/a (no source head)"), ``"n_skipped"``
            (undecodable images left out) and ``"error"`` (``None`` or a message).
            Rows whose primary score is missing come last.
        scorers (`tuple[str, ...]`): the scorers, the first one ranks the models (:attr:`primary`).
        dataset (`str`, *optional*): the name of the dataset the models were ranked on.
        ground_truth (`dict[str, float]`, *optional*): fine-tuned accuracy per model, used by
            :meth:`evaluate` and :meth:`plot` (matched by model id, else by local folder name).
        metadata (`dict`, *optional*): how the ranking was made (split, images, sampling, seed, scorer
            options), written by :meth:`to_json`.
        verification (`dict`, *optional*): with ``verify_top``, the fine-tuned models' measured accuracies and
            whether they follow the predicted order (``agrees``, ``message``).
        confidence (`float`, *optional*): the level of the intervals and noise groups, when the rows carry score
            spreads (``rank_models(confidence=...)``): each row then gets ``<scorer>_ci = [low, high]`` and
            ``<scorer>_group`` (1 = the models within noise of the best; see :meth:`comparison`).
    """

    rows: list[dict[str, Any]]
    scorers: tuple[str, ...]
    dataset: str | None = None
    ground_truth: dict[str, float] | None = field(default=None, repr=False)
    metadata: dict[str, Any] = field(default_factory=dict, repr=False)
    verification: dict[str, Any] | None = field(default=None, repr=False)
    confidence: float | None = None

    def __post_init__(self) -> None:
        if not self.scorers:
            raise InvalidInputError("A Ranking needs at least one scorer.")
        self.scorers = tuple(self.scorers)
        self.rows = sorted((dict(row) for row in self.rows), key=self._sort_key)  # stable: ties keep input order
        if self.confidence is not None:
            self._add_intervals()

    def _add_intervals(self) -> None:
        """``<scorer>_ci`` and ``<scorer>_group`` of every row from its spreads (missing ones stay ``None``)."""
        from .scoring.intervals import noise_groups

        for scorer in self.scorers:
            ranked = self._spread_rows(scorer)
            for row in self.rows:
                spread = row.get(SPREADS, {}).get(scorer)
                row[f"{scorer}_ci"] = None if spread is None else [float(v) for v in spread.interval(self.confidence)]
                row[f"{scorer}_group"] = None
            for row, group in zip(ranked, noise_groups([r[SPREADS][scorer] for r in ranked], level=self.confidence),
                                  strict=True):
                row[f"{scorer}_group"] = group

    def _spread_rows(self, scorer: str) -> list[dict[str, Any]]:
        """The rows with a spread of ``scorer`` and a score, best first by that scorer; with an adaptive budget, those
        of the last round reached (only models scored on the same images are compared)."""
        rows = [r for r in self.rows if scorer in r.get(SPREADS, {}) and not is_missing(r.get(scorer))]
        last = max((r.get("budget_round") or 0 for r in rows), default=0)
        return sorted((r for r in rows if (r.get("budget_round") or 0) == last), key=lambda r: -r[scorer])

    def comparison(self, scorer: str | None = None) -> dict[str, Any] | None:
        """How sure the order of one scorer is (needs ``confidence``; ``None`` without spreads or two scored models).

        Returns:
            `dict`: ``first`` and ``runner_up`` (the two best models by the scorer), ``p_first_beats_runner_up``
            (the probability that the first truly scores above the runner-up over image samples, from paired
            resamples), ``groups`` (lists of models within noise of their group's best, best group first) and
            ``level``.
        """
        from .scoring.intervals import prob_beats

        scorer = self._check_scorer(scorer)
        ranked = self._spread_rows(scorer) if self.confidence is not None else []
        if len(ranked) < 2:
            return None
        groups: dict[int, list[str]] = {}
        for row in ranked:
            groups.setdefault(row[f"{scorer}_group"], []).append(row["model"])
        p = prob_beats(ranked[0][SPREADS][scorer], ranked[1][SPREADS][scorer])
        return {"first": ranked[0]["model"], "runner_up": ranked[1]["model"], "p_first_beats_runner_up": p,
                "groups": list(groups.values()), "level": self.confidence}

    def confidence_message(self, scorer: str | None = None) -> str | None:
        """One sentence on :meth:`comparison` for people (``None`` when there is none)."""
        scorer = self._check_scorer(scorer)
        found = self.comparison(scorer)
        if found is None:
            return None
        names = _short_names([row["model"] for row in self.rows])
        p = found["p_first_beats_runner_up"]
        text = (f"By {scorer}, {names[found['first']]} beats {names[found['runner_up']]} with probability "
                f"{'n/a' if math.isnan(p) else f'{p:.2f}'} over image samples.")
        ties = [group for group in found["groups"] if len(group) > 1]
        if ties:
            shown = "; ".join(", ".join(names[m] for m in group) for group in ties)
            text += f" Within noise of each other ({found['level']:.0%} level): {shown}."
        else:
            text += f" No two models are within noise of each other ({found['level']:.0%} level)."
        return text

    def _sort_key(self, row: dict[str, Any], scorer: str | None = None) -> tuple[bool, int, float]:
        """Scored rows first; with an adaptive budget, models that reached a later round first (scores on different
        numbers of images are not compared); then by score."""
        value = row.get(scorer or self.primary)
        return (True, 0, 0.0) if is_missing(value) else (False, -(row.get("budget_round") or 0), -float(value))

    @property
    def primary(self) -> str:
        """The scorer that orders the rows (the first of :attr:`scorers`)."""
        return self.scorers[0]

    @property
    def best_model(self) -> str | None:
        """The top-ranked model, or ``None`` when no model has a primary score."""
        if not self.rows or is_missing(self.rows[0].get(self.primary)):
            return None
        return self.rows[0]["model"]

    @property
    def failed(self) -> dict[str, str]:
        """``{model: error message}`` for every row with an error (a failed scorer counts too)."""
        return {row["model"]: row["error"] for row in self.rows if row.get("error")}

    def __len__(self) -> int:
        return len(self.rows)

    def scores(self, scorer: str | None = None) -> dict[str, float]:
        """``{model: score}`` of one scorer (default: the primary), in ranking order; failed models are ``nan``."""
        scorer = self._check_scorer(scorer)
        return {row["model"]: float("nan") if is_missing(row.get(scorer)) else row[scorer] for row in self.rows}

    def ordering_scores(self, scorer: str | None = None) -> dict[str, float]:
        """Values whose order is the scorer's ranking: its scores, or, when an adaptive budget scored models on
        different numbers of images, ``n - position`` in its (round, score) order. Failed models are ``nan``."""
        scores = self.scores(scorer)
        if not _rounds_differ(self.rows):
            return scores
        ranked = sorted((r for r in self.rows if not math.isnan(scores[r["model"]])),
                        key=lambda r: self._sort_key(r, scorer))
        positions = {row["model"]: float(len(ranked) - i) for i, row in enumerate(ranked)}
        return {model: positions.get(model, math.nan) for model in scores}

    def evaluate(self, ground_truth: Mapping[str, float] | None = None) -> dict[str, dict[str, float]]:
        """Compare each scorer's ranking with fine-tuned accuracies.

        Args:
            ground_truth (`Mapping[str, float]`, *optional*): accuracy per model (id or local folder name);
                defaults to the one given to :func:`~lead_hf.rank.rank_models`.

        Returns:
            `dict[str, dict[str, float]]`: per scorer, :func:`lead_hf.evaluation.evaluate_ranking`'s metrics
            (``weighted_tau``, ``kendall_tau``, ``spearman``, ``pearson``, ``top1``, ``top3``).

        Raises:
            InvalidInputError: no ground truth, or fewer than two ranked models found in it.
        """
        from .evaluation import evaluate_ranking

        truth = self._truth_by_model(ground_truth)
        return {
            scorer: evaluate_ranking({m: s for m, s in self.ordering_scores(scorer).items() if m in truth}, truth)
            for scorer in self.scorers
        }

    # ---- export ---------------------------------------------------------------------------------

    def to_pandas(self) -> Any:
        """The rows as a ``pandas.DataFrame`` indexed by rank (1 = best)."""
        import pandas as pd

        frame = pd.DataFrame(self.rows, columns=self._columns())
        frame.index = pd.RangeIndex(1, len(frame) + 1, name="rank")
        return frame

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """The ranking as JSON: how it was made, then ``"rows"`` (one object per model, best first; ``nan`` is ``null``).

        The top-level keys are ``lead_hf_version``, ``dataset``, ``scorers`` (the first orders the rows), the
        :attr:`metadata` (``split``, ``n_images``, ``n_classes``, ``max_samples_per_class``, ``seed``,
        ``scorer_options`` for :func:`~lead_hf.rank.rank_models`) and ``rows``.

        Args:
            path (`str` or `os.PathLike`, *optional*): also write the JSON to this file.

        Returns:
            `str`: the JSON text.
        """
        from . import __version__

        clean = [{key: None if is_missing(row.get(key)) else row.get(key) for key in self._columns()} for row in self.rows]
        comparisons = {s: self.comparison(s) for s in self.scorers} if self.confidence is not None else None
        payload = {"lead_hf_version": __version__, "dataset": self.dataset, "scorers": list(self.scorers),
                   **self.metadata, "confidence": self.confidence, "comparisons": comparisons,
                   "verification": self.verification, "rows": clean}
        text = json.dumps(payload, indent=2, default=str)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    def to_markdown(self) -> str:
        """A GitHub-flavoured Markdown table (rank, model, scores, diagnostics, size, time, error)."""
        header, body = self._table()
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(cells) + " |" for cells in body]
        return "\n".join(lines)

    def __str__(self) -> str:
        header, body = self._table()
        widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
        title = f"Ranking of {len(self.rows)} models" + (f" on {self.dataset}" if self.dataset else "") + f" by {self.primary}"
        lines = [title] + ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *body]]
        if any(d in header for d in DIAGNOSTICS):
            lines.append(DIAGNOSTICS_LEGEND)
        if self.confidence is not None:
            lines.append(f"{self.primary}_ci: {self.confidence:.0%} interval over resampled images; group: models "
                         f"within noise of their group's best by {self.primary}.")
            lines.append(self.confidence_message() or "")
        if self.verification:
            lines.append(self.verification["message"])
        return "\n".join(lines)

    def plot(self, path: str | os.PathLike, *, ground_truth: Mapping[str, float] | None = None) -> Path:
        """Save a figure of the ranking (matplotlib, Agg backend; ``pip install lead-hf[plot]``).

        Without ground truth (or with the accuracy of fewer than two ranked models): one dot plot per scorer
        (best model on top, with its rank). With it: one scatter per scorer of the score against the fine-tuned
        accuracy, titled with the weighted tau.

        Args:
            path (`str` or `os.PathLike`): the image file to write (format from the suffix, e.g. ``.svg``;
                without a suffix, ``.png`` is added).
            ground_truth (`Mapping[str, float]`, *optional*): accuracy per model; defaults to the ranking's.

        Returns:
            `Path`: the file written.
        """
        path = Path(path)
        if not path.suffix:
            path = path.with_name(path.name + ".png")
        import matplotlib

        matplotlib.use("Agg")  # file output only: no display needed
        import matplotlib.pyplot as plt

        truth = self._matched_truth(ground_truth)  # dots, unless two ranked models have an accuracy to plot against
        truth = truth if len(truth) >= 2 else None
        # A grid of at most PLOT_COLUMNS panels per row: ten scorers in one row are unreadable.
        n_cols = min(len(self.scorers), PLOT_COLUMNS)
        n_rows = math.ceil(len(self.scorers) / n_cols)
        fig, axes = plt.subplots(n_rows, n_cols, figsize=(4.5 * n_cols, (0.4 * len(self.rows) + 2.5) * n_rows), squeeze=False)
        for ax in axes.flat[len(self.scorers):]:
            ax.set_visible(False)
        for ax, scorer in zip(axes.flat, self.scorers, strict=False):
            scores = {m: s for m, s in self.scores(scorer).items() if not math.isnan(s)}
            if truth is None:
                self._dots(ax, scorer, scores)
            else:
                self._scatter(ax, scorer, {m: s for m, s in scores.items() if m in truth}, truth)
        title = f"Transferability ranking{' on ' + self.dataset if self.dataset else ''}"
        if truth is None and self.confidence is not None:
            title += (f"\nwhiskers: {self.confidence:.0%} intervals over resampled images; shaded: models within "
                      "noise of their group's best")
        fig.suptitle(title)
        fig.tight_layout(rect=(0, 0, 1, 0.97 if "\n" not in title else 0.93))  # leave room for the suptitle
        fig.savefig(path)
        plt.close(fig)
        return path

    # ---- helpers --------------------------------------------------------------------------------

    def _dots(self, ax: Any, scorer: str, scores: dict[str, float]) -> None:
        """One dot per model at its score, best on top, labelled with its rank: a bar from 0 would make the best
        of negative scores (LEAD, LogME) the shortest bar. With intervals: whiskers, and one shaded band per
        noise group (models within noise of their group's best)."""
        rows = {row["model"]: row for row in self.rows}
        ordered = sorted(scores.items(), key=lambda item: self._sort_key(rows[item[0]], scorer))
        names = _short_names([m for m, _ in ordered])
        if _rounds_differ([rows[m] for m, _ in ordered]):  # adaptive budget: say what each was scored on
            names = {m: f"{name} ({rows[m]['n_images']} img)" for m, name in names.items()}
        positions = list(range(len(ordered)))[::-1]
        _whiskers(ax, [score for _, score in ordered], positions, [rows[m].get(f"{scorer}_ci") for m, _ in ordered],
                  color="tab:blue", zorder=3)
        self._group_bands(ax, [rows[m].get(f"{scorer}_group") for m, _ in ordered], positions)
        ax.set_yticks(positions, [f"{rank}. {names[m]}" for rank, (m, _) in enumerate(ordered, 1)])
        ax.set_ylim(-0.6, len(ordered) - 0.4)
        ax.grid(axis="x", alpha=0.3)
        ax.set_xlabel(f"{scorer} score (higher is better)")
        ax.set_title(scorer)

    @staticmethod
    def _group_bands(ax: Any, groups: list[int | None], positions: list[int]) -> None:
        """A shaded band behind each noise group of two or more models, labelled with the group number."""
        for group in sorted({g for g in groups if g is not None}):
            members = [p for g, p in zip(groups, positions, strict=True) if g == group]
            if len(members) < 2:
                continue
            ax.axhspan(min(members) - 0.4, max(members) + 0.4, color="tab:orange", alpha=0.15, zorder=1)
            ax.annotate(f"group {group}", xy=(1.0, max(members) + 0.3), xycoords=("axes fraction", "data"),
                        ha="right", va="top", fontsize=7, color="tab:brown")

    def _scatter(self, ax: Any, scorer: str, scores: dict[str, float], truth: dict[str, float]) -> None:
        """Score against fine-tuned accuracy, with interval whiskers; with an adaptive budget whose models stopped in
        different rounds, the ranking position replaces the score (scores on different image counts differ)."""
        from .evaluation import weighted_tau

        models = list(scores)
        by_round = _rounds_differ(self.rows)
        values = self.ordering_scores(scorer) if by_round else scores
        xs, ys = [values[m] for m in models], [truth[m] for m in models]
        rows = {row["model"]: row for row in self.rows}
        _whiskers(ax, xs, ys, [None if by_round else rows[m].get(f"{scorer}_ci") for m in models], color="tab:orange")
        for model, x, y in zip(models, xs, ys, strict=True):
            ax.annotate(Path(model).name, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        tau = weighted_tau(xs, ys) if len(models) >= 2 else float("nan")
        ax.set_title(f"{scorer}: weighted tau = {tau:+.3f}")
        ax.set_xlabel(f"{scorer} rank, highest best (by budget round, then score)" if by_round else f"{scorer} score")
        ax.set_ylabel("fine-tuned accuracy")

    def _check_scorer(self, scorer: str | None) -> str:
        scorer = self.primary if scorer is None else scorer
        if scorer not in self.scorers:
            raise InvalidInputError(f"Scorer {scorer!r} was not run; this ranking has {list(self.scorers)}.")
        return scorer

    def _matched_truth(self, ground_truth: Mapping[str, float] | None) -> dict[str, float]:
        """The accuracies of the ranked models found in the ground truth (given, else the ranking's own)."""
        source = (ground_truth if ground_truth is not None else self.ground_truth) or {}
        matched = {row["model"]: match_truth(row["model"], source) for row in self.rows}
        return {m: float(a) for m, a in matched.items() if a is not None}

    def _truth_by_model(self, ground_truth: Mapping[str, float] | None) -> dict[str, float]:
        """Ground truth re-keyed by this ranking's model names (ids or local paths); at least two models."""
        source = ground_truth if ground_truth is not None else self.ground_truth
        if not source:
            raise InvalidInputError("No ground truth: pass ground_truth={model: fine-tuned accuracy}.")
        matched = self._matched_truth(ground_truth)
        if len(matched) < 2:
            raise InvalidInputError(
                f"Ground truth covers {len(matched)} of the ranked models {[r['model'] for r in self.rows]}; "
                f"need at least 2 (keys are model ids or local folder names, got {sorted(source)[:5]}...)."
            )
        return matched

    def _columns(self) -> list[str]:
        present = {key for row in self.rows for key in row}
        extra = [d for d in DIAGNOSTICS if d in present]
        truth = ["ground_truth"] if "ground_truth" in present else []
        verified = [c for c in VERIFICATION if c in present]
        scores = [c for s in self.scorers for c in (s, f"{s}_ci", f"{s}_group") if c == s or c in present]
        # Image counts come from rank_models, rounds from an adaptive budget only.
        bookkeeping = [c for c in BOOKKEEPING if c not in ("n_images", "budget_round") or c in present]
        return ["model", *scores, *extra, *truth, *verified, *bookkeeping]

    def _table(self) -> tuple[list[str], list[list[str]]]:
        from .scoring import scorer_info

        # One group column (the primary's) keeps the table readable; the JSON has every scorer's.
        columns = [c for c in self._columns() if c not in HIDDEN_IN_TABLES
                   and not (c.endswith("_group") and c != f"{self.primary}_group")]
        needs_head = {s for s in self.scorers if scorer_info(s).needs_source_logits}
        header = ["rank", *columns]
        names = _short_names([row["model"] for row in self.rows])
        body = [
            [str(i), *(names[row["model"]] if col == "model"
                       else NO_SOURCE_HEAD if col in needs_head and row.get("source_head") is False
                       else format_cell(col, row.get(col)) for col in columns)]
            for i, row in enumerate(self.rows, 1)
        ]
        return header, body


def _rounds_differ(rows: list[dict[str, Any]]) -> bool:
    """Whether an adaptive budget stopped these rows in different rounds (their scores are then not comparable)."""
    return len({row.get("budget_round") for row in rows}) > 1


def _whiskers(ax: Any, xs: list[float], ys: list[float], intervals: list[Any], *, color: str, **style: Any) -> None:
    """Dots at (x, y) with horizontal whiskers over each ``[low, high]`` interval (none where it is ``None``)."""
    errors = [[0.0, 0.0] if ci is None else [x - ci[0], ci[1] - x] for x, ci in zip(xs, intervals, strict=True)]
    ax.errorbar(xs, ys, xerr=list(zip(*errors, strict=True)) if errors else None, fmt="o", color=color, ecolor=color,
                capsize=3, **style)


def short_name(model: str) -> str:
    """A model's name for people: a local folder by its name (the JSON keeps the full path), a Hub id as it is."""
    return Path(model).name if os.path.isabs(model) or model.startswith((".", "~")) else model


def _short_names(models: list[str]) -> dict[str, str]:
    """:func:`short_name` of each model; folders that share a name keep their full path, so no two rows look alike."""
    short = {m: short_name(m) for m in models}
    counts: dict[str, int] = {}
    for name in short.values():
        counts[name] = counts.get(name, 0) + 1
    return {m: name if counts[name] == 1 else m for m, name in short.items()}


def format_cell(column: str, value: Any) -> str:
    """How a table shows one value: ``-`` when missing, ``3.51M`` parameters, ``1.2s``, 4 significant digits."""
    if is_missing(value):
        return "-"
    if column == "n_params":
        return f"{value / 1e6:.2f}M"
    if column == "error":
        text = str(value).replace("|", "/").replace("\n", " ")
        return text if len(text) <= ERROR_WIDTH else text[: ERROR_WIDTH - 3] + "..."
    if column.endswith("_seconds"):
        return f"{value:.1f}s"
    if column.endswith("_ci"):
        return f"[{value[0]:.4g}, {value[1]:.4g}]"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


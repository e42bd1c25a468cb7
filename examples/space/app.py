"""lead-hf on Hugging Face Spaces: rank pre-trained image classifiers for your dataset, in the browser.

Pick a dataset (a Hub id, a local imagefolder, or the embedded offline example), candidate models (typed,
found with the Hub search, or the offline example's zoo), images per class and scorers, then press
Rank. The page shows a progress bar, the ranking table, its plot, LEAD's energy diagnostics, and
CSV/JSON downloads. Only the public API of lead_hf is used.

Run locally with ``python examples/space/app.py``; the limits are read from ``LEAD_HF_SPACE_*``
environment variables (see README.md beside this file).
"""

from __future__ import annotations

import math
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

import lead_hf
from lead_hf.demo.zoo import FULL_PLAN
from lead_hf.ranking import DIAGNOSTICS, format_cell

sys.path.insert(0, str(Path(__file__).resolve().parent))  # Spaces runs app.py as a script; tests import it
from space_limits import ALLOW_LOCAL_PATHS_ENV, SpaceLimits

OFFLINE_EXAMPLE = "Offline example (no download)"
HUB_DATASET = "Hub dataset id or local imagefolder"
DEFAULT_SCORERS = ("lead", "logme")
ENERGY_COLUMNS = DIAGNOSTICS  # LEAD's energy diagnostics, from the scorer registry
# after the scores; the downloads have every column
TABLE_COLUMNS = ("n_params", "ground_truth", "finetuned_accuracy", "error")
MAX_VERIFY_TOP = 3  # fine-tuning is the slow part of a request on a CPU Space
SEED = 0
EXAMPLE_PER_CLASS = FULL_PLAN.target_train_per_class  # images per class of the offline example's target
EXAMPLE_BUILD_SECONDS = 30  # building the offline example on a 2-core CPU (once; then it is cached on disk)


@dataclass(frozen=True)
class _Target:
    """The loaded dataset and what the offline example adds to it."""

    dataset: Any  # lead_hf ImageDataset
    example_models: list[str]
    ground_truth: dict[str, float] | None = None
    description: str = ""


def parse_model_list(text: str) -> list[str]:
    """Split a text box of model ids / local directories (one per line or comma-separated), dropping repeats."""
    models = [item.strip() for item in re.split(r"[\n,]", text or "")]
    return list(dict.fromkeys(item for item in models if item))


def load_example() -> Any:
    """The embedded offline example (built on first use, then cached): ``.dataset``, ``.model_dirs``, ..."""
    from lead_hf.demo import load_offline_example

    return load_offline_example()


class RankingSpace:
    """The Space's logic, separate from its layout so that :meth:`rank` can be called directly.

    Args:
        limits (`SpaceLimits`, *optional*): request limits; defaults to ``SpaceLimits.from_env()``.
        load_example (`Callable`, *optional*): returns the offline example, an object with ``dataset``,
            ``model_dirs``, ``ground_truth`` (or `None`) and ``description`` (like
            ``lead_hf.demo.load_offline_example()``, the default).
        hub_api (`huggingface_hub.HfApi`, *optional*): the client of the Hub search (default: a new one).
    """

    def __init__(
        self, *, limits: SpaceLimits | None = None, load_example: Callable[[], Any] = load_example, hub_api: Any = None
    ) -> None:
        self.limits = SpaceLimits.from_env() if limits is None else limits
        self.load_example = load_example
        self.hub_api = hub_api
        self._example: Any = None
        self._example_lock = threading.Lock()  # the warm-up thread and a request must not build it twice
        self._warm_up_thread: threading.Thread | None = None

    def offline_example(self) -> Any:
        """The offline example, loaded (or built, the first time) once per process."""
        with self._example_lock:
            if self._example is None:
                self._example = self.load_example()
            return self._example

    def warm_up(self) -> threading.Thread:
        """Build the offline example in the background, so that the first visitor does not wait for it."""
        if self._warm_up_thread is None:
            self._warm_up_thread = threading.Thread(target=self.offline_example, name="offline-example-warm-up",
                                                    daemon=True)
            self._warm_up_thread.start()
        return self._warm_up_thread

    def _wait_for_example(self, progress: Callable[..., Any]) -> None:
        """Build the example (or wait for the warm-up) while the progress bar moves and says how long it takes."""
        thread, start = self.warm_up(), time.monotonic()
        while thread.is_alive():
            elapsed = time.monotonic() - start
            progress(min(elapsed / EXAMPLE_BUILD_SECONDS, 0.95),
                     desc=f"Building the offline example (first use only): {elapsed:.0f} s, usually about "
                          f"{EXAMPLE_BUILD_SECONDS} s")
            thread.join(0.5)

    def rank(
        self,
        dataset_source: str,
        dataset_id: str,
        split: str,
        label_column: str,
        models_text: str,
        samples_per_class: float,
        scorers: Sequence[str],
        verify_top: float = 0,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio injects the tracker through this default)
    ) -> tuple[pd.DataFrame, pd.DataFrame, str | None, list[str], str]:
        """Rank the candidate models: the Rank button's event.

        Returns:
            `tuple`: the ranking table, the energy diagnostics table, the plot's path (`None` when no
            model could be ranked), the paths of the CSV and JSON downloads, and a Markdown summary.

        Raises:
            gradio.Error: bad input (unknown dataset, no label column, over a limit, no scorer).
        """
        scorers = self._check_scorers(scorers)
        samples = self._check_samples(samples_per_class)
        if verify_top is None or not 0 <= verify_top <= MAX_VERIFY_TOP or verify_top != int(verify_top):
            raise gr.Error(f"Fine-tune the top 0 to {MAX_VERIFY_TOP} models on this Space, got {verify_top!r}.")
        models = self._check_models(self._check_local(parse_model_list(models_text), what="model"))
        if dataset_source == OFFLINE_EXAMPLE and self._example is None:
            self._wait_for_example(progress)
        progress(0.0, desc="Loading data")
        target = self._load_target(dataset_source, dataset_id, split, label_column, samples)
        models = models or self._check_models(target.example_models)
        if not models:
            raise gr.Error("No candidate models: list Hub model ids or local directories, or search the Hub.")

        # The time budget covers the models (the offline example is built once, then cached).
        started = time.monotonic()
        ranking = lead_hf.rank_models(
            models, target.dataset, scorers=scorers, seed=SEED, ground_truth=target.ground_truth, progress=False,
            time_limit_s=self.limits.timeout_s, verify_top=int(verify_top),
            on_model=lambda index, total, model: progress(
                (index, total), desc=f"Ranking {_display_name(model)}", unit="models"),
        )  # fmt: skip
        progress((len(models), len(models)), desc="Writing the results", unit="models")
        return self._outputs(ranking, target, seconds=time.monotonic() - started)

    def search_hub(self, search: str, trained_dataset: str, max_params_m: float | None, license: str) -> str:
        """Hub candidates for the filters, one id per line: the Search button's event."""
        try:
            candidates = lead_hf.list_candidate_models(
                search=search.strip() or None,
                trained_dataset=trained_dataset.strip() or None,
                max_params=int(max_params_m * 1e6) if max_params_m else None,
                license=license.strip() or None,
                limit=self.limits.max_models,
                api=self.hub_api,
            )
            model_ids = [candidate.model_id for candidate in candidates]
        except (lead_hf.LeadHfError, ValueError) as exc:
            raise gr.Error(f"Hub search failed: {exc}") from exc
        if not model_ids:
            gr.Warning("No Hub model matches these filters; loosen them or type model ids.")
        return "\n".join(model_ids)

    # ---- validation -----------------------------------------------------------------------------

    def _check_scorers(self, scorers: Sequence[str] | None) -> tuple[str, ...]:
        if not scorers:
            raise gr.Error("Select at least one scorer (LEAD is the recommended one).")
        unknown = sorted(set(scorers) - set(lead_hf.available_scorers()))
        if unknown:
            raise gr.Error(f"Unknown scorer(s) {unknown}; choose among {lead_hf.available_scorers()}.")
        return tuple(scorers)

    def _check_samples(self, samples_per_class: float | None) -> int:
        limit = self.limits.max_samples_per_class
        if samples_per_class is None or not 2 <= samples_per_class <= limit:
            raise gr.Error(
                f"Images per class must be between 2 and {limit} on this Space, got {samples_per_class!r}."
            )
        return int(samples_per_class)

    def _check_models(self, models: list[str]) -> list[str]:
        if len(models) > self.limits.max_models:
            raise gr.Error(
                f"{len(models)} models requested, but this Space ranks at most {self.limits.max_models} per "
                "request: remove some, or run `lead-hf rank` on your own machine for more."
            )
        return models

    def _check_local(self, names: list[str], *, what: str) -> list[str]:
        if self.limits.allow_local_paths:
            return names
        local = [name for name in names if _is_local_path(name)]
        if local:
            raise gr.Error(
                f"This Space does not read folders of its server ({what} {local[0]!r}): enter a Hub id, or run "
                f"the app on your own machine to use local folders ({ALLOW_LOCAL_PATHS_ENV}=1)."
            )
        return names

    def _load_target(
        self, source: str, dataset_id: str, split: str, label_column: str, samples: int
    ) -> _Target:
        example = None
        if source == OFFLINE_EXAMPLE:
            example = self.offline_example()
            data, name, split = example.dataset, "the offline example", "train"
        elif source == HUB_DATASET and dataset_id.strip():
            data = name = self._check_local([dataset_id.strip()], what="dataset")[0]
        else:
            raise gr.Error(
                "Enter a Hub dataset id (e.g. 'beans') or a local imagefolder, or pick the offline example."
            )
        try:
            dataset = lead_hf.load_image_dataset(
                data, split=split.strip() or "train", label_column=label_column.strip() or None,
                max_samples_per_class=samples, seed=SEED,
            )  # fmt: skip
        except Exception as exc:  # every loading problem (unknown id, no label column, ...) becomes a message
            raise gr.Error(f"Could not load {name!r}: {exc}") from exc
        if example is None:
            return _Target(dataset, [])
        return _Target(dataset, list(example.model_dirs), example.ground_truth, example.description)

    # ---- results --------------------------------------------------------------------------------

    def _outputs(self, ranking: lead_hf.Ranking, target: _Target, *, seconds: float) -> tuple[Any, ...]:
        failed = {_display_name(model): error for model, error in ranking.failed.items()}
        if failed:
            gr.Warning(
                f"{len(failed)} of {len(ranking)} models failed ({', '.join(failed)}); the others are ranked. "
                "The errors are listed above the table."
            )
        ranked = [model for model, score in ranking.scores().items() if not math.isnan(score)]
        truth = {m: target.ground_truth[m] for m in ranked if m in (target.ground_truth or {})}
        out_dir = Path(tempfile.mkdtemp(prefix="lead_hf_space_"))
        plot = None
        if ranked:  # with measured accuracies: score against accuracy, titled with the weighted tau
            plot = str(ranking.plot(out_dir / "ranking.png", ground_truth=truth if len(truth) >= 2 else None))
        table = ranking.to_pandas().reset_index()
        files = [out_dir / "ranking.csv", out_dir / "ranking.json"]
        table.to_csv(files[0], index=False)
        ranking.to_json(files[1])

        with_intervals = [c for s in ranking.scorers for c in (s, f"{s}_ci")]  # each score, then its interval
        scores = [c for c in ("rank", "model", *with_intervals, f"{ranking.primary}_group", *TABLE_COLUMNS) if c in table]
        energy = [c for c in ("model", *ENERGY_COLUMNS) if c in table]
        return (
            _mark_not_applicable(_for_display(table[scores]), table, ranking.scorers),
            _for_display(table[energy]) if len(energy) > 1 else pd.DataFrame(),
            plot,
            [str(path) for path in files],
            _summary(ranking, target, ranked=ranked, truth=truth, failed=failed, seconds=seconds),
        )


def _summary(
    ranking: lead_hf.Ranking, target: _Target, *, ranked: list[str], truth: dict[str, float],
    failed: dict[str, str], seconds: float,
) -> str:  # fmt: skip
    """Markdown above the table: the best model, what was ranked, agreement with measured accuracy, failures."""
    dataset = target.dataset
    best = "**No model could be ranked.**"
    if ranked:
        best = f"**Best model: `{_display_name(ranking.best_model)}`** by {ranking.primary}."
    parts = [
        best,
        f"{len(ranked)} of {len(ranking)} models ranked on {dataset.name} ({len(dataset)} images, "
        f"{len(dataset.class_names)} classes) in {seconds:.1f} s.",
    ]
    if ranking.confidence_message():
        parts.append(f"**How sure.** {ranking.confidence_message()}")
    if len(truth) >= 2:
        taus = ", ".join(f"{s} {_signed(m['weighted_tau'])}" for s, m in ranking.evaluate(truth).items())
        parts.append(f"Agreement with the measured fine-tuned accuracy (weighted Kendall tau): {taus}.")
    if ranking.verification:
        parts.append(f"**Verification.** {ranking.verification['message']}")
    if failed:
        parts.append("\n".join(f"- `{model}` failed: {error}" for model, error in failed.items()))
    if target.description:
        parts.append(
            f"<details><summary>About the offline example</summary>\n\n{target.description}\n</details>"
        )
    return "\n\n".join(parts)


def _is_local_path(name: str) -> bool:
    """Whether lead-hf would read ``name`` from this machine: an absolute, home or dot path, or an existing one."""
    return name.startswith((".", "~")) or os.path.isabs(name) or os.path.exists(name)


def _display_name(model: str) -> str:
    """A local model folder by its name (the example's cache paths are long); Hub ids unchanged."""
    return Path(model).name if os.path.isdir(model) else model


def _signed(value: float) -> str:
    return "undefined (tied scores)" if math.isnan(value) else f"{value:+.2f}"


def _for_display(frame: pd.DataFrame) -> pd.DataFrame:
    """Short model names, four significant digits and blank missing cells; the downloads keep everything."""
    frame = frame.assign(model=frame["model"].map(_display_name))
    if "n_params" in frame:  # 3.51M, as in the command line's table
        frame["n_params"] = frame["n_params"].map(lambda value: "" if pd.isna(value) else format_cell("n_params", value))
    for column in [c for c in frame.columns if c.endswith("_ci")]:  # [low, high], as in the command line's table
        frame[column] = frame[column].map(lambda value, column=column: "" if value is None else format_cell(column, value))
    for column in frame.columns.difference(["rank", "n_params"]):
        if pd.api.types.is_float_dtype(frame[column]):  # scores can be tiny (1e-5): round to digits, not decimals
            frame[column] = frame[column].map(lambda value: float(f"{value:.4g}"))
    return frame.astype(object).where(frame.notna(), "")


def _mark_not_applicable(shown: pd.DataFrame, table: pd.DataFrame, scorers: Sequence[str]) -> pd.DataFrame:
    """LEEP/NCE cells of headless backbones say why they are empty (they need the source head's logits)."""
    from lead_hf.ranking import NO_SOURCE_HEAD
    from lead_hf.scoring import scorer_info

    headless = table["source_head"].eq(False).to_numpy()  # None (failed model) is not headless
    for scorer in (s for s in scorers if scorer_info(s).needs_source_logits):
        shown.loc[headless, scorer] = NO_SOURCE_HEAD
    return shown


def build_demo(space: RankingSpace | None = None) -> gr.Blocks:
    """Lay out the page around ``space`` (a :class:`RankingSpace` reading the environment by default)."""
    space = RankingSpace() if space is None else space
    limits = space.limits
    scorers = lead_hf.available_scorers()
    with gr.Blocks(title="lead-hf: which model should I fine-tune?") as demo:
        gr.Markdown(
            "# Which pre-trained model should I fine-tune?\n"
            "lead-hf ranks image classifiers for **your** dataset without fine-tuning them, with "
            "[LEAD](https://arxiv.org/abs/2407.08981) (CVPR 2024) and the field's transferability scores "
            "(higher is better).\n\n" + limits.markdown()
        )
        with gr.Row():
            with gr.Column(scale=2):
                source = gr.Radio([OFFLINE_EXAMPLE, HUB_DATASET], value=OFFLINE_EXAMPLE, label="Dataset")
                dataset_id = gr.Textbox(label=HUB_DATASET, placeholder="beans", visible=False)
                with gr.Row():
                    split = gr.Textbox(value="train", label="Split")
                    label_column = gr.Textbox(label="Label column", placeholder="detected when empty")
                models = gr.Textbox(
                    lines=4,
                    label="Candidate models",
                    placeholder="One Hub model id or local directory per line. "
                    "Empty with the offline example: its demo zoo.",
                )
                with gr.Accordion("Find candidates on the Hub", open=False):
                    search = gr.Textbox(label="Model id contains", placeholder="vit")
                    with gr.Row():
                        trained_dataset = gr.Textbox(label="Trained on dataset", placeholder="imagenet-1k")
                        license = gr.Textbox(label="Licence", placeholder="apache-2.0")
                        max_params = gr.Number(label="Max parameters (millions)", value=None, minimum=0)
                    search_button = gr.Button("Search the Hub")
                samples = gr.Slider(
                    2, limits.max_samples_per_class, value=min(EXAMPLE_PER_CLASS, limits.max_samples_per_class),
                    step=1, label="Images per class", info=f"the offline example has {EXAMPLE_PER_CLASS} per class",
                )  # fmt: skip
                verify = gr.Number(
                    value=0, minimum=0, maximum=MAX_VERIFY_TOP, precision=0,
                    label="Verify the top k by fine-tuning (0: off; minutes per model on a CPU)",
                )
                chosen = gr.CheckboxGroup(
                    scorers,
                    value=[s for s in DEFAULT_SCORERS if s in scorers],
                    label="Scorers (the first orders)",
                )
                rank_button = gr.Button("Rank", variant="primary", elem_id="rank-button")
            with gr.Column(scale=3):
                summary = gr.Markdown(elem_id="summary")
                table = gr.Dataframe(
                    headers=["rank", "model", *DEFAULT_SCORERS, *TABLE_COLUMNS],  # until the first ranking
                    label="Ranking (best first)",
                    elem_id="ranking-table",
                    interactive=False,
                    max_chars=60,  # long errors are cut here; the summary above has them in full
                )
                plot = gr.Image(label="Ranking plot", type="filepath", elem_id="ranking-plot")
                energy = gr.Dataframe(
                    headers=["model", *ENERGY_COLUMNS],
                    label="LEAD energy diagnostics (initial energy, loss and accuracy of the aligned head)",
                    elem_id="energy-table",
                    interactive=False,
                )
                files = gr.File(label="Download the results", file_count="multiple", elem_id="downloads")
        source.change(
            lambda s: gr.Textbox(visible=s == HUB_DATASET), source, dataset_id, api_visibility="private"
        )
        search_button.click(
            space.search_hub, [search, trained_dataset, max_params, license], models, api_name="search_hub"
        )
        rank_button.click(
            space.rank,
            [source, dataset_id, split, label_column, models, samples, chosen, verify],
            [table, energy, plot, files, summary],
            api_name="rank",
            show_progress_on=table,  # one progress bar, where the ranking will appear
        )
    demo.queue(default_concurrency_limit=1)  # one ranking at a time: the models are CPU-bound
    return demo


space = RankingSpace()
demo = build_demo(space)

if __name__ == "__main__":
    space.warm_up()
    demo.launch()

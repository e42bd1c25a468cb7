"""Rank candidate models on a target dataset: load the data once, then per model extract -> score -> row.

A model that fails (missing or gated repo, not an image classifier, out of memory, corrupt weights, a
scorer error) becomes a row with an ``error`` message and whatever was computed; the other models still
run. Features are cached on disk by :func:`lead_hf.extraction.extract`, so an interrupted ranking that is
started again reuses every model already extracted (its row says ``from_cache=True``).

Under ``accelerate launch`` / ``torchrun`` with P processes, the models are split between the processes
with Accelerate's ``split_between_processes``: each process extracts and scores whole models, and the rows
are gathered (``gather_object``) so that every process returns the same :class:`Ranking`. A single model
is sharded by batches instead (see :func:`~lead_hf.extraction.extract`). Only the main process shows progress.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._cache import writable_cache_dir
from ._logging import get_logger
from ._validation import check_count, check_number_option
from .budget import NAMED_BUDGETS, Budget
from .data import ImageDataset
from .errors import InvalidInputError
from .finetune import FinetuneRecipe
from .hub import CandidateModel, HubFilters
from .ranking import SPREADS, Ranking, is_missing, match_truth, short_name

__all__ = ["Ranking", "compute_scores", "rank_hub_models", "rank_models"]

logger = get_logger(__name__)

DEFAULT_SCORERS = ("lead", "logme")
# Accuracy gap below which a verify_top contradiction is called noise: the standard error of one accuracy on a few
# hundred test images is about 0.026 (docs/BENCHMARKS.md, "Fine-tuning recipe against the zoo's ground truth").
NOISE_GAP = 0.03


def compute_scores(
    features: Any,
    labels: Any,
    *,
    source_logits: Any = None,
    scorers: Sequence[str] = DEFAULT_SCORERS,
    scorer_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[dict[str, float], list[str]]:
    """Run several scorers on one model's features; a failing scorer gives ``nan`` and an error message.

    Args:
        features (`array-like` of shape `(n_samples, n_features)`): penultimate features.
        labels (`array-like` of shape `(n_samples,)`): target labels.
        source_logits (`array-like` of shape `(n_samples, n_source_classes)`, *optional*): the pre-trained
            head's logits (LEEP, NCE; without them these two fail with an error message).
        scorers (sequence of `str`, *optional*): names from :func:`lead_hf.available_scorers`.
        scorer_options (`Mapping[str, Mapping]`, *optional*): keyword options per scorer name.

    Returns:
        `tuple[dict[str, float], list[str]]`: ``{scorer: score}`` plus LEAD's ``energy0``, ``loss0`` and
        ``acc0`` when LEAD is among the scorers; and the messages ``"<scorer>: <error>"`` of failed scorers.

    Raises:
        InvalidInputError: an unknown scorer name or options for a scorer that is not run.
    """
    values, errors, _ = _run_scorers(features, labels, source_logits=source_logits, scorers=scorers,
                                     scorer_options=scorer_options, spread_seed=None)
    return values, errors


def _run_scorers(features: Any, labels: Any, *, source_logits: Any, scorers: Sequence[str],
                 scorer_options: Mapping[str, Mapping[str, Any]] | None,
                 spread_seed: int | None) -> tuple[dict[str, float], list[str], dict[str, Any]]:
    """:func:`compute_scores`, plus each scorer's :class:`~lead_hf.scoring.intervals.ScoreSpread` over resampled
    images when ``spread_seed`` is not ``None`` (the third item; empty otherwise)."""
    from .scoring import score_with_details
    from .scoring.intervals import score_with_spread

    scorers = _check_scorers(scorers)
    options = _check_scorer_options(scorer_options, scorers)
    values: dict[str, float] = {name: math.nan for name in scorers}
    errors: list[str] = []
    spreads: dict[str, Any] = {}
    for name in scorers:
        try:
            if spread_seed is None:
                scored = score_with_details(name, features, labels, source_logits=source_logits, **options[name])[0]
            else:
                scored, spreads[name] = score_with_spread(name, features, labels, source_logits=source_logits,
                                                          seed=spread_seed, options=options[name])
            values.update(scored)
        except Exception as err:  # one scorer failing must not lose the others' scores
            logger.warning("Scorer %s failed: %s", name, err)
            message = str(err)
            errors.append(message if message.startswith(f"{name}:") else f"{name}: {message}")
    return values, errors, spreads


def rank_models(
    models: Iterable[str | os.PathLike | CandidateModel],
    dataset: Any,
    *,
    scorers: Sequence[str] = DEFAULT_SCORERS,
    split: str = "train",
    image_column: str | None = None,
    label_column: str | None = None,
    max_samples_per_class: int | None = None,
    seed: int = 0,
    batch_size: int = 32,
    cache_dir: str | os.PathLike | None = None,
    accelerator: Any = None,
    scorer_options: Mapping[str, Mapping[str, Any]] | None = None,
    ground_truth: Mapping[str, float] | None = None,
    progress: bool = True,
    on_model: Callable[[int, int, str], None] | None = None,
    time_limit_s: float | None = None,
    verify_top: int = 0,
    finetune_recipe: FinetuneRecipe | None = None,
    confidence: float | None = 0.9,
    budget: str | Budget | None = None,
) -> Ranking:
    """Rank pre-trained image classifiers by how well they should fine-tune on ``dataset``.

    The dataset is loaded (and subsampled) once. For each model, features and source logits are
    extracted (from the cache when available) and every scorer runs; a model that fails gets a row with
    an ``error`` message instead of stopping the ranking.

    Args:
        models (iterable of `str`, `os.PathLike` or `CandidateModel`): Hub model ids or local model folders.
        dataset (`str`, `os.PathLike`, `datasets.Dataset`, `DatasetDict` or `ImageDataset`): the target data
            (a Hub dataset id or a local ``imagefolder`` directory, see :func:`lead_hf.data.load_image_dataset`).
        scorers (sequence of `str`, *optional*, defaults to ``("lead", "logme")``): scorer names; the first
            one orders the ranking.
        split (`str`, *optional*, defaults to ``"train"``): the split to score on.
        image_column (`str`, *optional*): the image column, detected when omitted.
        label_column (`str`, *optional*): the label column, detected when omitted.
        max_samples_per_class (`int`, *optional*): class-balanced subsample size (all images when omitted).
        seed (`int`, *optional*, defaults to 0): seed of the subsampling.
        batch_size (`int`, *optional*, defaults to 32): images per forward pass.
        cache_dir (`str` or `os.PathLike`, *optional*): feature cache (default ``$LEAD_HF_CACHE``, else
            ``~/.cache/lead_hf``); checked writable before any work.
        accelerator (`accelerate.Accelerator`, *optional*): the processes to use (default: ``Accelerator()``,
            which is one process unless started by ``accelerate launch`` / ``torchrun``). With several
            processes, the models are split between them (one model: its batches are).
        scorer_options (`Mapping[str, Mapping]`, *optional*): keyword options per scorer, e.g.
            ``{"logme": {"tol": 1e-4}}``.
        ground_truth (`Mapping[str, float]`, *optional*): fine-tuned accuracy per model (id or folder name),
            kept on the result for :meth:`Ranking.evaluate` and :meth:`Ranking.plot`.
        progress (`bool`, *optional*, defaults to `True`): show progress bars (main process only).
        on_model (`Callable[[int, int, str], None]`, *optional*): called as ``on_model(index, total, model)``
            before each model of this process (e.g. to drive a UI's progress bar).
        time_limit_s (`float`, *optional*): models not started within this many seconds are not ranked; their
            rows say so (the time of a model already started is never cut).
        verify_top (`int`, *optional*, defaults to 0): fine-tune the best ``verify_top`` models with
            :func:`lead_hf.finetune.finetune` and report their measured accuracy (``finetuned_accuracy``) beside
            the predicted order; :attr:`Ranking.verification` says whether they agree.
        finetune_recipe (`FinetuneRecipe`, *optional*): the recipe of ``verify_top`` (default ``FinetuneRecipe()``).
        confidence (`float`, *optional*, defaults to 0.9): level of each score's interval over resampled images
            (``<scorer>_ci``), of the noise groups and of :meth:`Ranking.comparison` (see
            :mod:`lead_hf.scoring.intervals`; LEAD's costs a fraction of LEAD, another scorer's about ten of its
            runs on half the images). ``None``: scores only.
        budget (`str` or `Budget`, *optional*): ``None`` scores every model on every image. ``"racing"``
            (:meth:`Budget.racing`): every model on a quarter of ``max_samples_per_class`` images per class, then
            only the leader and the models within noise of it (by the primary scorer's intervals at ``confidence``)
            on all of them. ``"halving"``: successive halving (:meth:`Budget.halving`: rounds of ``full / 3^r``
            images per class from 10 up, the best third going on each round). Or a :class:`~lead_hf.budget.Budget`.
            A model scored on more images extracts only the new ones; rows say how many images a model was scored
            on (``n_images``) and its last round (``budget_round``), and models that went further rank first (see
            docs/BENCHMARKS.md, "Adaptive image budget", for what it costs and loses).

    Returns:
        `Ranking`: one row per model, best first.

    Raises:
        InvalidInputError: no models, duplicate models, an unknown scorer, a cache directory that cannot
            be written, or a dataset/split that cannot be loaded.

    Example:
        >>> from lead_hf import rank_models
        >>> ranking = rank_models(["google/vit-base-patch16-224", "microsoft/resnet-50"], "cifar10",
        ...                       max_samples_per_class=20)  # doctest: +SKIP
        >>> ranking.best_model  # doctest: +SKIP
    """
    scorers = _check_scorers(scorers)
    _check_scorer_options(scorer_options, scorers)
    candidates = _check_models(models)
    check_count(verify_top, name="verify_top", low=0)
    if time_limit_s is not None:
        check_number_option(time_limit_s, name="time_limit_s", scorer="rank_models", low=0.0)
    if confidence is not None:
        from .scoring.intervals import check_level

        check_level(confidence)
    cache_dir = writable_cache_dir(cache_dir)  # before any work: fail fast on a read-only cache

    from .data import load_image_dataset  # torch/datasets only once the options are known to be good

    budget = _check_budget(budget, max_samples_per_class, confidence)
    if budget is not None:
        max_samples_per_class = budget.per_class[-1]
    data = load_image_dataset(
        dataset, split=split, image_column=image_column, label_column=label_column,
        max_samples_per_class=max_samples_per_class, seed=seed,
    )  # fmt: skip
    truth = dict(ground_truth) if ground_truth is not None else None
    from ._models import import_backends

    import_backends()  # a one-off cost, not the first model's extraction time
    if accelerator is None:
        from accelerate import Accelerator

        accelerator = Accelerator()  # one process: a no-op; under accelerate launch / torchrun: the shared state
    # Several processes and several models: each process extracts whole models (no per-batch communication);
    # a single model is sharded by batches instead.
    split_models = accelerator.num_processes > 1 and len(candidates) > 1
    score_one = dict(scorers=scorers, scorer_options=scorer_options, batch_size=batch_size, cache_dir=cache_dir,
                     accelerator=accelerator, split_models=split_models, progress=progress,
                     spread_seed=None if confidence is None else seed)
    run_jobs = functools.partial(_run_jobs, accelerator=accelerator, split_models=split_models, progress=progress,
                                 on_model=on_model, time_limit_s=time_limit_s, started=time.monotonic(),
                                 scorers=scorers)
    if budget is None:
        rows = run_jobs(candidates, lambda name, hub_params: _rank_one(name, hub_params, [data], **score_one),
                        desc="Ranking models")
    else:
        rows = _rank_adaptively(candidates, data, budget, run_jobs=run_jobs, score_one=score_one,
                                primary=scorers[0], seed=seed, confidence=confidence)
    if truth is not None:
        for row in rows:
            row["ground_truth"] = match_truth(row["model"], truth)
    metadata = {"split": data.split, "n_images": len(data), "n_classes": data.num_classes,
                "max_samples_per_class": data.max_samples_per_class, "seed": data.seed,
                "budget": None if budget is None else {"per_class": list(budget.per_class), "keep": budget.keep},
                "scorer_options": {name: dict(opts) for name, opts in (scorer_options or {}).items()}}
    ranking = Ranking(rows, scorers=scorers, dataset=data.name, ground_truth=truth, metadata=metadata,
                      confidence=confidence)
    if verify_top:
        _verify(ranking, dataset if not isinstance(dataset, ImageDataset) else data, split=split, k=verify_top,
                max_samples_per_class=max_samples_per_class, recipe=finetune_recipe, cache_dir=cache_dir,
                progress=progress)
    logger.info("Best model on %s by %s: %s", data.name, ranking.primary, ranking.best_model)
    return ranking


def _run_jobs(candidates: list[tuple[str, int | None]], rank_one: Callable[[str, int | None], dict[str, Any]], *,
              desc: str, accelerator: Any, split_models: bool, progress: bool,
              on_model: Callable[[int, int, str], None] | None, time_limit_s: float | None, started: float,
              scorers: tuple[str, ...]) -> list[dict[str, Any]]:
    """``rank_one(name, hub_params)`` for every candidate, whole models split between the processes; every process
    returns every row, in candidate order. Models not started within the time limit get a row saying so."""
    # Strided order: split_between_processes gives contiguous chunks, and lists often group a family's sizes
    # together; process k gets models k, k+P, k+2P, ... so that big and small models spread over processes.
    processes = accelerator.num_processes
    order = [i for k in range(processes) for i in range(k, len(candidates), processes)]
    jobs = [(i, *candidates[i]) for i in order] if split_models else [(i, *c) for i, c in enumerate(candidates)]
    rows = []
    with accelerator.split_between_processes(jobs) if split_models else contextlib.nullcontext(jobs) as mine:
        for position, (i, name, hub_params) in enumerate(
            _progress(mine, progress=progress, accelerator=accelerator, desc=desc)
        ):
            if on_model is not None:
                on_model(position, len(mine), name)
            if time_limit_s is not None and time.monotonic() - started > time_limit_s:
                row = _empty_row(name, scorers, hub_params)
                row["error"] = f"not ranked: the time limit of {time_limit_s:g} s was reached first"
            else:
                row = rank_one(name, hub_params)
            rows.append((i, row))
    if split_models:
        from accelerate.utils import gather_object

        rows = gather_object(rows)  # every process gets every row
    return [row for _, row in sorted(rows, key=lambda pair: pair[0])]  # candidate order (ties keep it)


def _check_budget(budget: Any, max_samples_per_class: int | None, confidence: float | None) -> Budget | None:
    """``None``, ``"halving"`` / ``"racing"`` (:meth:`Budget.halving` / :meth:`Budget.racing` of
    ``max_samples_per_class``) or a :class:`Budget` whose last round is ``max_samples_per_class`` (when given)."""
    if budget is None:
        return None
    if isinstance(budget, str) and budget in NAMED_BUDGETS:
        if max_samples_per_class is None:
            raise InvalidInputError(f"budget={budget!r} needs max_samples_per_class, the full budget of the last round "
                                    "(e.g. max_samples_per_class=100), or pass a Budget(per_class=(...)).")
        budget = getattr(Budget, budget)(check_count(max_samples_per_class, name="max_samples_per_class"))
    if not isinstance(budget, Budget):
        raise InvalidInputError(f"budget must be None, one of {list(NAMED_BUDGETS)} or a lead_hf.Budget; got {budget!r}.")
    if budget.keep_within_noise and confidence is None:
        raise InvalidInputError("this budget keeps the models within noise of the leader, which needs score intervals: "
                                "pass confidence=0.9 (or another level), not None.")
    if max_samples_per_class is not None and budget.per_class[-1] != max_samples_per_class:
        raise InvalidInputError(f"the budget's last round has {budget.per_class[-1]} images per class but "
                                f"max_samples_per_class={max_samples_per_class}; make them equal or omit one.")
    return budget


def _rank_adaptively(candidates: list[tuple[str, int | None]], data: ImageDataset, budget: Budget, *,
                     run_jobs: Callable[..., list[dict[str, Any]]], score_one: dict[str, Any], primary: str,
                     seed: int, confidence: float | None) -> list[dict[str, Any]]:
    """The rounds of ``budget`` (:mod:`lead_hf.budget`) over nested class-balanced samples of ``data``: round r's
    images are round r-1's plus new ones, and a model extracts only the new ones (each part is cached on its own)."""
    from .budget import successive_halving
    from .data import per_class_sample, select_rows
    from .scoring.intervals import prob_beats

    previous = np.zeros(0, dtype=np.int64)
    parts = []  # parts[r]: the images round r adds (none when every class is already whole)
    for per_class in budget.per_class:
        rows = per_class_sample(data.labels, per_class, seed=seed)
        new = np.setdiff1d(rows, previous)  # sorted, like rows: the samples are nested
        parts.append(select_rows(data, new) if new.size else None)
        previous = rows
    hub_params = dict(candidates)
    latest: dict[str, dict[str, Any]] = {}

    def score_round(names: list[str], per_class: int) -> dict[str, float]:
        index = budget.per_class.index(per_class)
        logger.info("Budget round %d/%d: %d model(s) on %d image(s) per class", index + 1, len(budget.per_class),
                    len(names), per_class)
        rows = run_jobs([(name, hub_params[name]) for name in names],
                        lambda name, params: _rank_one(name, params, [p for p in parts[: index + 1] if p], **score_one),
                        desc=f"Round {index + 1}/{len(budget.per_class)} ({per_class} images per class)")
        for row in rows:
            latest[row["model"]] = {**row, "budget_round": index + 1}
        return {row["model"]: row[primary] for row in rows}

    def within_noise(kept: str, other: str) -> bool:
        """The primary scores of two models of the same round are within noise (no interval: assume so)."""
        spreads = latest[kept].get(SPREADS, {}), latest[other].get(SPREADS, {})
        if primary not in spreads[0] or primary not in spreads[1]:
            return True
        return not prob_beats(spreads[0][primary], spreads[1][primary]) >= confidence

    successive_halving([name for name, _ in candidates], score_round, budget,
                       within_noise=within_noise if confidence is not None else None)
    return [latest[name] for name, _ in candidates]


def _rank_one(name: str, hub_params: int | None, parts: Sequence[ImageDataset], *, scorers: tuple[str, ...],
              scorer_options: Mapping[str, Mapping[str, Any]] | None, batch_size: int, cache_dir: Path,
              accelerator: Any, split_models: bool, progress: bool, spread_seed: int | None) -> dict[str, Any]:
    """Extract and score one model on the images of ``parts`` (one dataset, or the nested rounds of a budget); any
    failure is reported in its row (the other models go on)."""
    from .extraction import concatenate, extract

    row = _empty_row(name, scorers, hub_params)
    start = time.perf_counter()
    try:
        extraction = concatenate([
            extract(name, part, batch_size=batch_size, accelerator=accelerator, cache_dir=cache_dir,
                    shard_across_processes=not split_models, progress=progress) for part in parts
        ])  # fmt: skip
    except Exception as err:  # a model that cannot be loaded or run is reported, the others go on
        logger.warning("Model %s failed: %s", name, err)
        logger.debug("Traceback of the failure of %s", name, exc_info=True)
        row.update(extract_seconds=time.perf_counter() - start, error=f"{type(err).__name__}: {err}")
        return row
    row.update(extract_seconds=time.perf_counter() - start, n_params=extraction.n_params,
               n_images=int(extraction.labels.shape[0]),
               from_cache=extraction.from_cache, source_head=extraction.logits is not None,
               n_skipped=extraction.n_skipped)
    start = time.perf_counter()
    applicable = _applicable(scorers, has_source_head=extraction.logits is not None)
    values, errors, spreads = _run_scorers(
        extraction.features, extraction.labels, source_logits=extraction.logits, scorers=applicable,
        scorer_options={k: v for k, v in (scorer_options or {}).items() if k in applicable}, spread_seed=spread_seed,
    )  # fmt: skip
    row.update(values, score_seconds=time.perf_counter() - start, error="; ".join(errors) or None)
    if spreads:
        row[SPREADS] = spreads
    return row


def rank_hub_models(
    dataset_id: Any,
    *,
    model_ids: Sequence[str] | None = None,
    filters: HubFilters | None = None,
    api: Any = None,
    **options: Any,
) -> Ranking:
    """Find image models on the Hub and rank them on a dataset.

    Everything is checked and the dataset is loaded (once) before the Hub is queried, so a typo fails fast.

    Args:
        dataset_id (`str`, `os.PathLike` or dataset object): the target data, as in :func:`rank_models`.
        model_ids (sequence of `str`, *optional*): rank these models instead of searching the Hub.
        filters (`HubFilters`, *optional*): the Hub search (default: 10 transformers or timm classifiers, by
            downloads); its fields can also be given as keywords (``search=``, ``max_params=``, ``limit=``, ...).
        api (`huggingface_hub.HfApi`, *optional*): the Hub client.
        **options: fields of :class:`~lead_hf.hub.HubFilters` and keyword options of :func:`rank_models`
            (``scorers``, ``split``, ``max_samples_per_class``, ``cache_dir``, ...).

    Returns:
        `Ranking`: one row per model, best first.

    Raises:
        InvalidInputError: an unknown option, bad filters, an unloadable dataset, or no Hub model matching
            the filters (the message lists the filters and why listed models were skipped).
        LeadHfError: the Hub cannot be reached.

    Example:
        >>> from lead_hf import rank_hub_models
        >>> ranking = rank_hub_models("cifar10", limit=5, max_params=30_000_000,
        ...                           max_samples_per_class=20)  # doctest: +SKIP
        >>> print(ranking)  # doctest: +SKIP
    """
    from .data import load_image_dataset
    from .hub import HubFilters, find_candidate_models

    hub_fields = {f.name for f in dataclasses.fields(HubFilters)}
    rank_options = set(inspect.signature(rank_models).parameters) - {"models", "dataset"}
    unknown = sorted(set(options) - hub_fields - rank_options)
    if unknown:
        raise InvalidInputError(f"Unknown option(s) {unknown} for rank_hub_models; valid: the Hub filters "
                                f"{sorted(hub_fields)} and the options of rank_models {sorted(rank_options)}.")
    filters = HubFilters.from_options(filters, **{k: v for k, v in options.items() if k in hub_fields})
    rank_kwargs = {k: v for k, v in options.items() if k in rank_options}
    _check_scorers(rank_kwargs.get("scorers", DEFAULT_SCORERS))
    writable_cache_dir(rank_kwargs.get("cache_dir"))
    loading = ("split", "image_column", "label_column", "max_samples_per_class", "seed")
    data = load_image_dataset(dataset_id, **{k: rank_kwargs.pop(k) for k in loading if k in rank_kwargs})
    if model_ids is not None:
        return rank_models(list(model_ids), data, **rank_kwargs)
    candidates, skipped = find_candidate_models(filters, api=api)
    if not candidates:
        examples = "; ".join(f"{s.model_id}: {s.reason}" for s in skipped[:3])
        raise InvalidInputError(
            f"No image-classification model on the Hub matches the filters ({filters.describe()})"
            + (f"; {len(skipped)} listed models were skipped ({examples})" if skipped else "")
            + ". Loosen the filters or pass model_ids=[...]."
        )
    logger.info("Ranking %d Hub models: %s", len(candidates), [c.model_id for c in candidates])
    return rank_models(candidates, data, **rank_kwargs)


# ---- validation and helpers -----------------------------------------------------------------------


def _check_scorers(scorers: Sequence[str] | str) -> tuple[str, ...]:
    from .scoring import scorer_info

    names = (scorers,) if isinstance(scorers, str) else tuple(scorers)
    if not names:
        raise InvalidInputError("scorers is empty; pass at least one name, e.g. scorers=('lead', 'logme').")
    names = tuple(scorer_info(name).name for name in names)  # raises on an unknown name, listing valid ones
    if len(set(names)) != len(names):
        raise InvalidInputError(f"scorers lists a scorer twice: {list(names)}.")
    return names


def _check_scorer_options(
    scorer_options: Mapping[str, Mapping[str, Any]] | None, scorers: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    """Copy the per-scorer options (so scorers never see the caller's dicts) and reject stray names."""
    given = dict(scorer_options or {})
    stray = sorted(set(given) - set(scorers))
    if stray:
        raise InvalidInputError(f"scorer_options names {stray}, which are not in scorers={list(scorers)}.")
    return {name: dict(given.get(name) or {}) for name in scorers}


def _check_models(models: Iterable[str | os.PathLike | CandidateModel]) -> list[tuple[str, int | None]]:
    """``(name, n_params known from the Hub)`` per model; refuses an empty list and duplicates."""
    if isinstance(models, (str, os.PathLike, CandidateModel)):
        models = [models]
    pairs = [(m.model_id, m.n_params) if isinstance(m, CandidateModel) else (os.fspath(m), None) for m in models]
    if not pairs:
        raise InvalidInputError("No models to rank; pass Hub model ids or local model folders.")
    seen: dict[str, str] = {}
    for name, _ in pairs:  # "org/m", "org/m/" and "./dir", "dir/" name one model each
        key = str(Path(name).resolve()) if Path(name).expanduser().is_dir() else name.rstrip("/")
        if key in seen:
            raise InvalidInputError(f"Models listed more than once: {seen[key]!r} and {name!r} are the same model; "
                                    "list each model once.")
        seen[key] = name
    return pairs


def _verify(ranking: Ranking, dataset: Any, *, split: str, k: int, max_samples_per_class: int | None,
            recipe: FinetuneRecipe | None, cache_dir: Path, progress: bool) -> None:
    """Fine-tune the ``k`` best ranked models, put their measured accuracy in their rows, and judge the order."""
    from .finetune import finetune

    top = [row for row in ranking.rows if row.get("error") is None and not is_missing(row.get(ranking.primary))][:k]
    for row in top:
        try:
            result = finetune(row["model"], dataset, split=split, max_samples_per_class=max_samples_per_class,
                              recipe=recipe, cache_dir=cache_dir, progress=progress)
        except Exception as err:  # a model that cannot be fine-tuned keeps its score; the row says why
            logger.warning("Fine-tuning %s failed: %s", row["model"], err)
            row["finetune_error"] = f"{type(err).__name__}: {err}"
            continue
        row.update(finetuned_accuracy=result.accuracy, finetune_seconds=result.seconds,
                   finetune_learning_rate=result.learning_rate)
    ranking.verification = verification_summary(ranking)


def verification_summary(ranking: Ranking) -> dict[str, Any]:
    """Whether the measured accuracies of the fine-tuned rows follow their predicted order.

    Returns:
        `dict`: ``models`` (in predicted order), ``accuracies``, ``agrees`` (the predicted first is the measured
        best and every measured pair is in order), and ``message``, a sentence for people.
    """
    measured = [(row["model"], row["finetuned_accuracy"]) for row in ranking.rows if "finetuned_accuracy" in row]
    models, accuracies = [m for m, _ in measured], [a for _, a in measured]
    if len(measured) < 2:
        message = "Fewer than two models could be fine-tuned: nothing to compare."
        return {"models": models, "accuracies": accuracies, "agrees": None, "message": message}
    inverted = [(models[i], accuracies[i], models[j], accuracies[j]) for i in range(len(models))
                for j in range(i + 1, len(models)) if accuracies[j] > accuracies[i]]
    if not inverted:
        message = (f"Fine-tuning the top {len(models)} confirms the order: "
                   + " > ".join(f"{short_name(m)} {a:.3f}" for m, a in measured) + ".")
    else:
        first, acc_first, second, acc_second = max(inverted, key=lambda pair: pair[3] - pair[1])
        gap = acc_second - acc_first
        verdict = (f"a gap of {gap:.3f}, within the noise of a short fine-tuning (about {NOISE_GAP:.2f}): too close to call"
                   if gap < NOISE_GAP else f"a gap of {gap:.3f}, beyond fine-tuning noise")
        message = (f"Fine-tuning contradicts the ranking: {short_name(second)} (ranked below) measured {acc_second:.3f}, "
                   f"above {short_name(first)} at {acc_first:.3f} ({verdict})" + (f"; {len(inverted)} pairs are out of "
                   "order" if len(inverted) > 1 else "") + ".")
    return {"models": models, "accuracies": accuracies, "agrees": not inverted, "message": message}


def _applicable(scorers: tuple[str, ...], *, has_source_head: bool) -> tuple[str, ...]:
    """The scorers that can run: without a trained head (a backbone), LEEP and NCE are not applicable (left nan)."""
    from .scoring import scorer_info

    return tuple(s for s in scorers if has_source_head or not scorer_info(s).needs_source_logits)


def _empty_row(name: str, scorers: tuple[str, ...], n_params: int | None) -> dict[str, Any]:
    from .scoring import diagnostics_of

    diagnostics = dict.fromkeys(diagnostics_of(scorers), math.nan)
    return {
        "model": name, **dict.fromkeys(scorers, math.nan), **diagnostics, "n_params": n_params,
        "extract_seconds": math.nan, "score_seconds": math.nan, "from_cache": None, "source_head": None,
        "n_skipped": None, "n_images": None, "error": None,
    }  # fmt: skip


def _progress(items: list, *, progress: bool, accelerator: Any, desc: str) -> Iterable:
    from tqdm.auto import tqdm

    main = accelerator is None or accelerator.is_main_process
    return tqdm(items, desc=desc, unit="model", disable=not (progress and main))

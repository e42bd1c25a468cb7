"""Find candidate image models on the Hugging Face Hub.

One request stream per pipeline tag (``HfApi.list_models`` with ``image-classification``, plus
``image-feature-extraction`` for headless backbones on request), each sorted on the server and merged
in the same order, is filtered while it is consumed: what the Hub cannot filter (several libraries at
once, parameter count from the safetensors metadata, private repos, models transformers would load for
another task) is checked here. Every option is validated before the first
request, and models that are dropped are logged with the reason.
"""

from __future__ import annotations

import heapq
import inspect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._hub_access import unreachable_hub_message
from ._logging import get_logger
from ._validation import check_count
from .errors import InvalidInputError, LeadHfError

__all__ = [
    "CandidateModel",
    "SkippedModel",
    "VALID_LIBRARIES",
    "VALID_SORTS",
    "describe_filters",
    "find_candidate_models",
    "list_candidate_models",
]

logger = get_logger(__name__)

PIPELINE_TAG = "image-classification"
BACKBONE_PIPELINE_TAG = "image-feature-extraction"
VALID_LIBRARIES = ("transformers", "timm")
# The auto classes lead-hf loads: a classifier, or a headless backbone (features only).
LOADABLE_AUTO_CLASSES = ("AutoModelForImageClassification", "AutoModel")
VALID_SORTS = ("downloads", "likes", "trending_score", "created_at", "last_modified")
# How many listed models are inspected per wanted candidate before giving up (client-side filters drop some).
SCAN_FACTOR = 10
# Only these properties are requested: keeps each page small and gives every filter what it needs.
EXPAND = [
    "downloads", "likes", "trendingScore", "createdAt", "lastModified", "library_name", "pipeline_tag",
    "gated", "private", "sha", "tags", "safetensors", "config", "transformersInfo",
]  # fmt: skip
# ModelInfo attribute of each sort key, to merge the per-tag streams in the Hub's order.
SORT_ATTRIBUTES = {"downloads": "downloads", "likes": "likes", "trending_score": "trending_score",
                   "created_at": "created_at", "last_modified": "last_modified"}


@dataclass(frozen=True)
class CandidateModel:
    """A Hub model that passed every filter of :func:`list_candidate_models`."""

    model_id: str
    library: str
    downloads: int | None = None
    likes: int | None = None
    license: str | None = None
    n_params: int | None = None  # from the safetensors metadata; None when the Hub does not know
    gated: bool = False
    sha: str | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class SkippedModel:
    """A listed model that was dropped, and why."""

    model_id: str
    reason: str


def list_candidate_models(
    *,
    # what to look for
    search: str | None = None,
    library: str | Sequence[str] = VALID_LIBRARIES,
    include_backbones: bool = False,
    trained_dataset: str | None = None,
    # what to leave out
    max_params: int | None = None,
    license: str | None = None,
    exclude_gated: bool = True,
    exclude_private: bool = True,
    # order and size of the result
    sort: str = "downloads",
    limit: int | None = 20,
    api: Any = None,
) -> Iterator[CandidateModel]:
    """Lazily list image models of the Hub that lead-hf can rank (transformers and timm classifiers, backbones).

    Options are validated when the function is called; the Hub is queried while the result is consumed.
    Models dropped by a client-side filter are logged (``logging.INFO``); use
    :func:`find_candidate_models` to get them as a list.

    Args:
        search (`str`, *optional*): a substring of the model id (e.g. ``"vit"``).
        library (`str` or sequence of `str`, *optional*, defaults to ``("transformers", "timm")``): libraries
            to accept, among ``"transformers"`` and ``"timm"`` (timm checkpoints load through transformers'
            ``TimmWrapper``).
        include_backbones (`bool`, *optional*, defaults to `False`): also list ``image-feature-extraction``
            models (headless backbones such as DINOv2: ranked from their features, without LEEP/NCE).
        trained_dataset (`str`, *optional*): only models tagged ``dataset:<trained_dataset>``.
        max_params (`int`, *optional*): drop models with more parameters. Models whose parameter count the
            Hub does not report are dropped too when this is set (they are kept otherwise).
        license (`str`, *optional*): only models with this licence tag (e.g. ``"apache-2.0"``).
        exclude_gated (`bool`, *optional*, defaults to `True`): drop gated models (they need an approved token).
        exclude_private (`bool`, *optional*, defaults to `True`): drop private models.
        sort (`str`, *optional*, defaults to ``"downloads"``): one of :data:`VALID_SORTS`, decreasing.
        limit (`int`, *optional*, defaults to 20): the most candidates to yield (``None``: no limit).
        api (`huggingface_hub.HfApi`, *optional*): the client to use (anything with ``list_models``).

    Returns:
        `Iterator[CandidateModel]`: candidates in the Hub's order.

    Raises:
        InvalidInputError: an unknown library or sort key, a non-positive ``limit`` or ``max_params``.
        LeadHfError: the Hub cannot be reached (e.g. ``HF_HUB_OFFLINE=1``), raised while iterating.

    Example:
        >>> from lead_hf.hub import list_candidate_models
        >>> models = list_candidate_models(search="vit", max_params=100_000_000, limit=5)  # doctest: +SKIP
        >>> [m.model_id for m in models]  # doctest: +SKIP
        ['google/vit-base-patch16-224', ...]
    """
    scan = _scan(**locals())  # validates now, before the generator below is first advanced
    return (item for item in scan if isinstance(item, CandidateModel))


def find_candidate_models(**filters: Any) -> tuple[list[CandidateModel], list[SkippedModel]]:
    """Eager :func:`list_candidate_models` that also returns the dropped models with their reason.

    Args:
        **filters: the keyword options of :func:`list_candidate_models`.

    Returns:
        `tuple[list[CandidateModel], list[SkippedModel]]`: the candidates and the models left out.
    """
    candidates: list[CandidateModel] = []
    skipped: list[SkippedModel] = []
    options = inspect.signature(list_candidate_models).bind(**filters)  # unknown filter -> TypeError
    options.apply_defaults()
    for item in _scan(**options.arguments):
        (candidates if isinstance(item, CandidateModel) else skipped).append(item)
    return candidates, skipped


def describe_filters(**filters: Any) -> str:
    """One-line summary of the non-default filters, for error messages (``search='vit', limit=5``)."""
    shown = {k: v for k, v in filters.items() if v is not None and k != "api"}
    return ", ".join(f"{k}={v!r}" for k, v in shown.items()) or "no filters"


def _scan(
    *,
    search: str | None,
    library: str | Sequence[str],
    include_backbones: bool,
    trained_dataset: str | None,
    max_params: int | None,
    license: str | None,
    exclude_gated: bool,
    exclude_private: bool,
    sort: str,
    limit: int | None,
    api: Any,
) -> Iterator[CandidateModel | SkippedModel]:
    """Validate eagerly, then return a generator of candidates and skipped models.

    No defaults here: they live in :func:`list_candidate_models` only (``find_candidate_models`` binds them).
    """
    libraries = _check_libraries(library)
    if sort not in VALID_SORTS:
        raise InvalidInputError(f"Unknown sort key {sort!r}; choose one of {list(VALID_SORTS)}.")
    for name, value in (("limit", limit), ("max_params", max_params)):
        check_count(value, name=name, allow_none=True)
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi()
    if not isinstance(include_backbones, bool):
        raise InvalidInputError(f"include_backbones must be True or False, got {include_backbones!r}.")
    query: dict[str, Any] = {"sort": sort, "expand": list(EXPAND)}
    tags = ([libraries[0]] if len(libraries) == 1 else []) + ([f"license:{license}"] if license else [])
    if tags:  # the Hub ANDs filter tags, so several libraries are filtered here instead
        query["filter"] = tags
    if search:
        query["search"] = search
    if trained_dataset:
        query["trained_dataset"] = trained_dataset
    if exclude_gated:
        query["gated"] = False
    if limit is not None:
        query["limit"] = limit * SCAN_FACTOR
    pipelines = (PIPELINE_TAG, BACKBONE_PIPELINE_TAG) if include_backbones else (PIPELINE_TAG,)
    wanted = dict(
        search=search, libraries=libraries, pipelines=pipelines, trained_dataset=trained_dataset,
        max_params=max_params, license=license, exclude_gated=exclude_gated, exclude_private=exclude_private,
    )  # fmt: skip
    stream = _stream(api, query, pipelines, SORT_ATTRIBUTES[sort], wanted)
    return stream if limit is None else _take(stream, limit)


def _take(items: Iterator[CandidateModel | SkippedModel], limit: int) -> Iterator[CandidateModel | SkippedModel]:
    """Pass items through until ``limit`` candidates have been yielded (skipped ones do not count)."""
    found = 0
    for item in items:
        yield item
        if isinstance(item, CandidateModel):
            found += 1
            if found >= limit:
                return


def _stream(api: Any, query: dict[str, Any], pipelines: tuple[str, ...], sort_attribute: str,
            wanted: dict[str, Any]) -> Iterator[CandidateModel | SkippedModel]:
    endpoint = getattr(api, "endpoint", None)
    unreachable = unreachable_hub_message(endpoint) if endpoint else None  # a custom client is trusted
    if unreachable:
        raise LeadHfError(f"Could not list models: {unreachable}; or pass model ids explicitly.")
    listings = [api.list_models(**query, pipeline_tag=pipeline) for pipeline in pipelines]
    try:
        # each listing is sorted by the Hub (decreasing); merging keeps that order and stays lazy
        for info in heapq.merge(*listings, key=lambda info: _sort_value(info, sort_attribute), reverse=True):
            reason = _reject_reason(info, **wanted)
            if reason is None:
                yield _to_candidate(info)
            else:
                logger.info("Skipping %s: %s", info.id, reason)
                yield SkippedModel(info.id, reason)
    except (OSError, ConnectionError) as err:  # huggingface_hub HTTP/offline errors subclass these
        raise LeadHfError(
            f"Could not list models on the Hugging Face Hub ({type(err).__name__}: {err}). "
            "Check the connection and HF_HUB_OFFLINE, or pass model ids explicitly."
        ) from err


def _sort_value(info: Any, attribute: str) -> tuple[bool, Any]:
    """Sort key of a listed model; models without the value sort last."""
    value = getattr(info, attribute, None)
    return (value is not None, value if value is not None else 0)


def _check_libraries(library: str | Sequence[str]) -> tuple[str, ...]:
    libraries = (library,) if isinstance(library, str) else tuple(library)
    bad = [lib for lib in libraries if lib not in VALID_LIBRARIES]
    if not libraries or bad:
        raise InvalidInputError(
            f"Unsupported library {bad or library!r}; choose one or more of {list(VALID_LIBRARIES)}."
        )
    return libraries


def _license(info: Any) -> str | None:
    return next((t.split(":", 1)[1] for t in info.tags or () if t.startswith("license:")), None)


def _n_params(info: Any) -> int | None:
    safetensors = getattr(info, "safetensors", None)
    return int(safetensors.total) if safetensors is not None else None


def _reject_reason(
    info: Any,
    *,
    search: str | None,
    libraries: tuple[str, ...],
    pipelines: tuple[str, ...],
    trained_dataset: str | None,
    max_params: int | None,
    license: str | None,
    exclude_gated: bool,
    exclude_private: bool,
) -> str | None:
    """Why ``info`` is not a candidate, or ``None`` when it is (checks in order of cost to the user)."""
    library = getattr(info, "library_name", None)
    if library not in libraries:
        return f"library {library!r} is not one of {list(libraries)}"
    pipeline = getattr(info, "pipeline_tag", None)
    if pipeline is not None and pipeline not in pipelines:
        return f"pipeline tag {pipeline!r} is not one of {list(pipelines)}"
    if library == "transformers":
        reason = _not_loadable_reason(info)
        if reason:
            return reason
    if exclude_private and getattr(info, "private", False):
        return "private repository (pass exclude_private=False to keep it)"
    if exclude_gated and getattr(info, "gated", False):
        return f"gated repository ({info.gated}; pass exclude_gated=False to keep it)"
    if search and search.lower() not in info.id.lower():
        return f"id does not contain {search!r}"
    if trained_dataset and f"dataset:{trained_dataset}" not in (info.tags or ()):
        return f"not tagged dataset:{trained_dataset}"
    if license and _license(info) != license:
        return f"licence {_license(info)!r} is not {license!r}"
    n_params = _n_params(info)
    if max_params is not None:
        if n_params is None:
            return "parameter count unknown (no safetensors metadata) and max_params is set"
        if n_params > max_params:
            return f"{n_params:,} parameters > max_params={max_params:,}"
    return None


def _not_loadable_reason(info: Any) -> str | None:
    """Why lead-hf would not load the model, from the listed metadata: transformers loads it for another task."""
    auto = getattr(getattr(info, "transformers_info", None), "auto_model", None)
    if auto is not None and auto not in LOADABLE_AUTO_CLASSES:
        return f"transformers loads it with {auto}, not one of {list(LOADABLE_AUTO_CLASSES)}"
    return None


def _to_candidate(info: Any) -> CandidateModel:
    return CandidateModel(
        model_id=info.id,
        library=info.library_name,
        downloads=getattr(info, "downloads", None),
        likes=getattr(info, "likes", None),
        license=_license(info),
        n_params=_n_params(info),
        gated=bool(getattr(info, "gated", False)),
        sha=getattr(info, "sha", None),
        tags=tuple(info.tags or ()),
    )

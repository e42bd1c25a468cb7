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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from ._hub_access import unreachable_hub_message
from ._logging import get_logger
from ._validation import check_count
from .errors import InvalidInputError, LeadHfError

__all__ = [
    "CandidateModel",
    "HubFilters",
    "SkippedModel",
    "VALID_LIBRARIES",
    "VALID_SORTS",
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


@dataclass(frozen=True)
class HubFilters:
    """What to look for on the Hub and what to leave out: one typed, validated set of search options.

    Attributes:
        search (`str`, *optional*): a substring of the model id (e.g. ``"vit"``).
        library (`tuple[str, ...]`, defaults to ``("transformers", "timm")``): libraries to accept (a single
            name is accepted too); timm checkpoints load through transformers' ``TimmWrapper``.
        include_backbones (`bool`, defaults to `False`): also list ``image-feature-extraction`` models
            (headless backbones such as DINOv2: ranked from their features, without LEEP/NCE).
        trained_dataset (`str`, *optional*): only models tagged ``dataset:<trained_dataset>``.
        max_params (`int`, *optional*): drop bigger models, and models whose size the Hub does not report.
        license (`str`, *optional*): only models with this licence tag (e.g. ``"apache-2.0"``).
        exclude_gated (`bool`, defaults to `True`): drop gated models (they need an approved token).
        exclude_private (`bool`, defaults to `True`): drop private models.
        sort (`str`, defaults to ``"downloads"``): one of :data:`VALID_SORTS`, decreasing.
        limit (`int`, *optional*, defaults to 10): the most candidates to return (``None``: no limit).

    Raises:
        InvalidInputError: an unknown library or sort key, a non-positive ``limit`` or ``max_params``.
    """

    search: str | None = None
    library: tuple[str, ...] = VALID_LIBRARIES
    include_backbones: bool = False
    trained_dataset: str | None = None
    max_params: int | None = None
    license: str | None = None
    exclude_gated: bool = True
    exclude_private: bool = True
    sort: str = "downloads"
    limit: int | None = 10

    def __post_init__(self) -> None:
        object.__setattr__(self, "library", _check_libraries(self.library))
        if self.sort not in VALID_SORTS:
            raise InvalidInputError(f"Unknown sort key {self.sort!r}; choose one of {list(VALID_SORTS)}.")
        for name in ("limit", "max_params"):
            check_count(getattr(self, name), name=name, allow_none=True)
        for name in ("include_backbones", "exclude_gated", "exclude_private"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidInputError(f"{name} must be True or False, got {getattr(self, name)!r}.")

    @classmethod
    def from_options(cls, filters: HubFilters | None = None, **options: Any) -> HubFilters:
        """``filters`` (default: all defaults) with some fields replaced; an unknown name is refused."""
        unknown = sorted(set(options) - {f.name for f in fields(cls)})
        if unknown:
            raise InvalidInputError(f"Unknown Hub filter(s) {unknown}; valid: {[f.name for f in fields(cls)]}.")
        return replace(filters or cls(), **options)

    def describe(self) -> str:
        """One line with the filters that differ from the defaults, for messages (``search='vit', limit=5``)."""
        default = HubFilters()
        changed = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) != getattr(default, f.name)}
        return ", ".join(f"{k}={v!r}" for k, v in changed.items()) or "the default filters"


def list_candidate_models(filters: HubFilters | None = None, *, api: Any = None, **options: Any) -> Iterator[CandidateModel]:
    """Lazily list image models of the Hub that lead-hf can rank (transformers and timm classifiers, backbones).

    Options are validated when the function is called; the Hub is queried while the result is consumed.
    Models dropped by a client-side filter are logged (``logging.INFO``); use
    :func:`find_candidate_models` to get them as a list.

    Args:
        filters (`HubFilters`, *optional*): the search; its fields can also be given as keywords.
        api (`huggingface_hub.HfApi`, *optional*): the client to use (anything with ``list_models``).
        **options: fields of :class:`HubFilters` (``search=``, ``max_params=``, ``limit=``, ...).

    Returns:
        `Iterator[CandidateModel]`: candidates in the Hub's order.

    Raises:
        InvalidInputError: an unknown or invalid filter (see :class:`HubFilters`).
        LeadHfError: the Hub cannot be reached (e.g. ``HF_HUB_OFFLINE=1``), raised while iterating.

    Example:
        >>> from lead_hf.hub import list_candidate_models
        >>> models = list_candidate_models(search="vit", max_params=100_000_000, limit=5)  # doctest: +SKIP
        >>> [m.model_id for m in models]  # doctest: +SKIP
        ['google/vit-base-patch16-224', ...]
    """
    scan = _scan(HubFilters.from_options(filters, **options), api)  # validated now, queried when iterated
    return (item for item in scan if isinstance(item, CandidateModel))


def find_candidate_models(
    filters: HubFilters | None = None, *, api: Any = None, **options: Any
) -> tuple[list[CandidateModel], list[SkippedModel]]:
    """Eager :func:`list_candidate_models` that also returns the dropped models with their reason.

    Args:
        filters, api, **options: as in :func:`list_candidate_models`.

    Returns:
        `tuple[list[CandidateModel], list[SkippedModel]]`: the candidates and the models left out.
    """
    candidates: list[CandidateModel] = []
    skipped: list[SkippedModel] = []
    for item in _scan(HubFilters.from_options(filters, **options), api):
        (candidates if isinstance(item, CandidateModel) else skipped).append(item)
    return candidates, skipped


def _scan(filters: HubFilters, api: Any) -> Iterator[CandidateModel | SkippedModel]:
    """The query for ``filters``, as a lazy stream of candidates and skipped models."""
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi()
    query: dict[str, Any] = {"sort": filters.sort, "expand": list(EXPAND)}
    tags = [filters.library[0]] if len(filters.library) == 1 else []
    tags += [f"license:{filters.license}"] if filters.license else []
    if tags:  # the Hub ANDs filter tags, so several libraries are filtered here instead
        query["filter"] = tags
    if filters.search:
        query["search"] = filters.search
    if filters.trained_dataset:
        query["trained_dataset"] = filters.trained_dataset
    if filters.exclude_gated:
        query["gated"] = False
    if filters.limit is not None:
        query["limit"] = filters.limit * SCAN_FACTOR
    pipelines = (PIPELINE_TAG, BACKBONE_PIPELINE_TAG) if filters.include_backbones else (PIPELINE_TAG,)
    stream = _stream(api, query, pipelines, filters.sort, filters)  # each sort key is also a ModelInfo attribute
    return stream if filters.limit is None else _take(stream, filters.limit)


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
            filters: HubFilters) -> Iterator[CandidateModel | SkippedModel]:
    endpoint = getattr(api, "endpoint", None)
    unreachable = unreachable_hub_message(endpoint) if endpoint else None  # a custom client is trusted
    if unreachable:
        raise LeadHfError(f"Could not list models: {unreachable}; or pass model ids explicitly.")
    listings = [api.list_models(**query, pipeline_tag=pipeline) for pipeline in pipelines]
    try:
        # each listing is sorted by the Hub (decreasing); merging keeps that order and stays lazy
        for info in heapq.merge(*listings, key=lambda info: _sort_value(info, sort_attribute), reverse=True):
            reason = _reject_reason(info, filters, pipelines)
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


def _reject_reason(info: Any, filters: HubFilters, pipelines: tuple[str, ...]) -> str | None:
    """Why ``info`` is not a candidate, or ``None`` when it is (checks in order of cost to the user)."""
    library = getattr(info, "library_name", None)
    if library not in filters.library:
        return f"library {library!r} is not one of {list(filters.library)}"
    pipeline = getattr(info, "pipeline_tag", None)
    if pipeline is not None and pipeline not in pipelines:
        return f"pipeline tag {pipeline!r} is not one of {list(pipelines)}"
    if library == "transformers":
        reason = _not_loadable_reason(info)
        if reason:
            return reason
    if filters.exclude_private and getattr(info, "private", False):
        return "private repository (pass exclude_private=False to keep it)"
    if filters.exclude_gated and getattr(info, "gated", False):
        return f"gated repository ({info.gated}; pass exclude_gated=False to keep it)"
    if filters.search and filters.search.lower() not in info.id.lower():
        return f"id does not contain {filters.search!r}"
    if filters.trained_dataset and f"dataset:{filters.trained_dataset}" not in (info.tags or ()):
        return f"not tagged dataset:{filters.trained_dataset}"
    if filters.license and _license(info) != filters.license:
        return f"licence {_license(info)!r} is not {filters.license!r}"
    n_params = _n_params(info)
    if filters.max_params is not None:
        if n_params is None:
            return "parameter count unknown (no safetensors metadata) and max_params is set"
        if n_params > filters.max_params:
            return f"{n_params:,} parameters > max_params={filters.max_params:,}"
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

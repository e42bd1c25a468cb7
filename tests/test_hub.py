"""Hub search: filters, laziness and validation, through a fake client and through the real HfApi over a mock transport."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import httpx2  # the HTTP client huggingface_hub 2.x is built on
import pytest
from huggingface_hub import HfApi, constants, set_client_factory
from huggingface_hub.hf_api import ModelInfo
from huggingface_hub.utils._http import default_client_factory, hf_request_event_hook

from lead_hf.errors import InvalidInputError, LeadHfError
from lead_hf.hub import (
    EXPAND,
    SCAN_FACTOR,
    CandidateModel,
    HubFilters,
    find_candidate_models,
    list_candidate_models,
)


def _model(model_id, *, library="transformers", n_params=5_000_000, license="apache-2.0", arch="ViTForImageClassification",
           pipeline="image-classification", downloads=100, **extra):
    item = {
        "id": model_id,
        "library_name": library,
        "pipeline_tag": pipeline,
        "downloads": downloads,
        "likes": 3,
        "gated": False,
        "private": False,
        "sha": "0" * 40,
        "tags": [library, "image-classification", f"license:{license}", "dataset:imagenet-1k"],
        "config": {"architectures": [arch]},
    }
    if n_params is not None:
        item["safetensors"] = {"parameters": {"F32": n_params}, "total": n_params}
    item.update(extra)
    return item


# The Hub's answer to the image-classification query, in its (downloads) order.
LISTING = [
    _model("org/vit-small", n_params=22_000_000),
    _model("org/clip-backbone", arch="CLIPModel"),  # no trained head: ranked from its features
    _model("org/timm-resnet", library="timm", n_params=11_000_000, config=None),
    _model("org/gated-vit", gated="manual"),
    _model("org/private-vit", private=True),
    _model("org/unknown-size", n_params=None),
    _model("org/big-vit", n_params=300_000_000),
    _model("org/mit-vit", license="mit"),
    _model("org/keras-net", library="keras"),
    _model("org/seg-former", transformersInfo={"auto_model": "AutoModelForSemanticSegmentation"}),
]


# The Hub's answer to the image-feature-extraction query (downloads order).
BACKBONES = [
    _model("org/dinov2-small", arch="Dinov2Model", pipeline="image-feature-extraction", downloads=500,
           transformersInfo={"auto_model": "AutoModel"}),
    _model("org/siglip-tower", arch="SiglipVisionModel", pipeline="image-feature-extraction", downloads=50),
]


class FakeApi:
    """Records the queries and serves the listing of the queried pipeline tag lazily (``pulled`` counts models)."""

    def __init__(self, listing=LISTING, backbones=BACKBONES):
        self.listings = {"image-classification": listing, "image-feature-extraction": backbones}
        self.calls: list[dict] = []
        self.pulled = 0

    def list_models(self, **query):
        self.calls.append(query)
        for item in self.listings[query["pipeline_tag"]]:
            self.pulled += 1
            yield ModelInfo(**json.loads(json.dumps(item)))


def _ids(models):
    return [m.model_id for m in models]


def test_default_filters_keep_loadable_public_transformers_and_timm_models():
    api = FakeApi()
    candidates, skipped = find_candidate_models(api=api)
    assert _ids(candidates) == ["org/vit-small", "org/clip-backbone", "org/timm-resnet", "org/unknown-size",
                                "org/big-vit", "org/mit-vit"]
    reasons = {s.model_id: s.reason for s in skipped}
    assert "gated" in reasons["org/gated-vit"]
    assert "private" in reasons["org/private-vit"]
    assert "library 'keras'" in reasons["org/keras-net"]
    assert "AutoModelForSemanticSegmentation" in reasons["org/seg-former"]
    (query,) = api.calls
    assert query["pipeline_tag"] == "image-classification"
    assert query["sort"] == "downloads"
    assert "filter" not in query  # the Hub ANDs tags: one library tag would drop the other
    assert query["gated"] is False
    assert query["limit"] == 10 * SCAN_FACTOR  # HubFilters.limit defaults to 10, as rank_hub_models
    assert "safetensors" in query["expand"]


def test_candidate_fields_come_from_the_listing():
    (first,) = list(list_candidate_models(api=FakeApi(), limit=1))
    assert first == CandidateModel(
        model_id="org/vit-small", library="transformers", downloads=100, likes=3, license="apache-2.0",
        n_params=22_000_000, gated=False, sha="0" * 40,
        tags=("transformers", "image-classification", "license:apache-2.0", "dataset:imagenet-1k"),
    )  # fmt: skip


def test_filters_are_one_validated_object():
    filters = HubFilters(search="vit", library="timm", limit=3)
    assert filters.library == ("timm",) and filters.describe() == "search='vit', library=('timm',), limit=3"
    assert HubFilters.from_options(filters, limit=5).limit == 5 and filters.limit == 3  # a copy, not a change
    with pytest.raises(InvalidInputError, match=r"Unknown Hub filter\(s\) \['serch'\]; valid: \['search'"):
        list_candidate_models(serch="vit", api=FakeApi())
    api = FakeApi()
    assert _ids(list_candidate_models(filters, api=api)) == _ids(list_candidate_models(api=FakeApi(), search="vit",
                                                                                      library="timm", limit=3))


def test_one_library_is_filtered_by_the_hub():
    api = FakeApi()
    candidates, skipped = find_candidate_models(library="transformers", api=api)
    assert "org/timm-resnet" not in _ids(candidates)
    assert api.calls[0]["filter"] == ["transformers"]
    assert "library 'timm'" in {s.model_id: s.reason for s in skipped}["org/timm-resnet"]


def test_backbones_are_listed_on_request_in_the_hubs_order():
    api = FakeApi()
    assert "org/dinov2-small" not in _ids(list_candidate_models(api=api, limit=None))
    assert [c["pipeline_tag"] for c in api.calls] == ["image-classification"]
    api = FakeApi()
    models = _ids(list_candidate_models(include_backbones=True, limit=None, api=api))
    # merged by downloads (decreasing): 500 before the classifiers' 100, 50 after them
    assert models[0] == "org/dinov2-small" and models[-1] == "org/siglip-tower"
    assert sorted(c["pipeline_tag"] for c in api.calls) == ["image-classification", "image-feature-extraction"]


def test_max_params_drops_unknown_and_large_models():
    candidates, skipped = find_candidate_models(max_params=100_000_000, api=FakeApi())
    assert _ids(candidates) == ["org/vit-small", "org/clip-backbone", "org/timm-resnet", "org/mit-vit"]
    reasons = {s.model_id: s.reason for s in skipped}
    assert "parameter count unknown" in reasons["org/unknown-size"]
    assert "300,000,000 parameters" in reasons["org/big-vit"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"license": "mit"}, ["org/mit-vit"]),
        ({"search": "VIT"}, ["org/vit-small", "org/big-vit", "org/mit-vit"]),  # case-insensitive substring
        ({"trained_dataset": "cifar10"}, []),
        ({"exclude_gated": False, "exclude_private": False, "limit": 5},
         ["org/vit-small", "org/clip-backbone", "org/timm-resnet", "org/gated-vit", "org/private-vit"]),
    ],
)
def test_client_side_filters(filters, expected):
    assert _ids(list_candidate_models(api=FakeApi(), **filters)) == expected


def test_server_side_query_carries_the_filters():
    api = FakeApi()
    list(list_candidate_models(license="mit", trained_dataset="cifar10", search="vit", sort="likes", limit=2, api=api))
    (query,) = api.calls
    assert query["filter"] == ["license:mit"]
    assert query["trained_dataset"] == "cifar10"
    assert query["search"] == "vit"
    assert query["sort"] == "likes"


def test_listing_is_lazy_and_stops_at_limit():
    api = FakeApi()
    models = list_candidate_models(limit=2, api=api)
    assert api.calls == []  # nothing requested until the first candidate is asked for
    assert _ids(models) == ["org/vit-small", "org/clip-backbone"]
    assert api.pulled == 2  # stopped right after the second candidate


NOT_VALID = [
    ({"library": "keras"}, r"Unsupported library.*'transformers', 'timm'"),
    ({"library": ()}, r"Unsupported library"),  # nothing to search
    ({"library": ("timm", "onnx")}, r"\['onnx'\]"),  # names the bad one
    ({"sort": "stars"}, r"Unknown sort key 'stars'.*'downloads'"),
    ({"limit": 0}, r"limit must be a positive integer"),
    ({"limit": True}, r"limit must be a positive integer"),  # bool is not a count
    ({"max_params": "100M"}, r"max_params must be a positive integer or None, got '100M'"),
    ({"include_backbones": "yes"}, r"include_backbones must be True or False, got 'yes'"),
]


@pytest.mark.parametrize(("options", "match"), NOT_VALID)
def test_bad_options_raise_before_any_request(options, match):
    api = FakeApi()
    with pytest.raises(InvalidInputError, match=match):
        list_candidate_models(api=api, **options)
    with pytest.raises(InvalidInputError, match=match):
        find_candidate_models(api=api, **options)
    assert api.calls == []


# ---- the real HfApi, served by an httpx2 mock transport -------------------------------------------


@pytest.fixture
def hub_server(monkeypatch):
    """Route huggingface_hub's shared client to a handler serving LISTING over two pages.

    huggingface_hub 2.x refuses requests in its *request event hook* when ``constants.HF_HUB_OFFLINE``
    is true (read once at import; conftest sets HF_HUB_OFFLINE=1). The mock client keeps that hook so
    the library's real request path runs, so offline mode is switched off here, for this test only,
    by patching the constant (the env var would be too late).
    """
    requests: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.path != "/api/models":  # e.g. the agent-harness registry huggingface_hub fetches once
            return httpx2.Response(404, json={"error": "not found"})
        requests.append(request)
        page = int(request.url.params.get("page", "1"))
        headers = {}
        if page == 1:
            headers["Link"] = f'<{request.url.copy_set_param("page", "2")}>; rel="next"'
        items = LISTING[:5] if page == 1 else LISTING[5:]
        return httpx2.Response(200, json=items, headers=headers)

    def factory() -> httpx2.Client:
        return httpx2.Client(transport=httpx2.MockTransport(handler), event_hooks={"request": [hf_request_event_hook]})

    set_client_factory(factory)
    yield requests
    set_client_factory(default_client_factory)


def test_real_hfapi_request_and_pagination(hub_server, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    models = list(list_candidate_models(license="apache-2.0", max_params=50_000_000, limit=4, api=HfApi()))
    assert _ids(models) == ["org/vit-small", "org/clip-backbone", "org/timm-resnet"]  # the rest fail a filter
    assert len(hub_server) == 2  # the second page was followed
    first = urlsplit(str(hub_server[0].url))
    assert first.path == "/api/models"
    query = parse_qs(first.query)
    assert query["pipeline_tag"] == ["image-classification"]
    assert query["sort"] == ["downloads"]
    assert query["filter"] == ["license:apache-2.0"]
    assert query["gated"] == ["false"]
    assert query["limit"] == [str(4 * SCAN_FACTOR)]
    assert sorted(query["expand"]) == sorted(EXPAND)


def test_real_hfapi_stops_paging_once_limit_is_reached(hub_server, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    assert _ids(list_candidate_models(limit=1, api=HfApi())) == ["org/vit-small"]
    assert len(hub_server) == 1


def test_offline_mode_gives_a_clear_error(hub_server, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(LeadHfError, match=r"Could not list models.*HF_HUB_OFFLINE"):
        next(list_candidate_models(api=HfApi()))
    assert hub_server == []  # blocked before reaching the transport

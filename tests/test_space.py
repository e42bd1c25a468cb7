"""The Gradio Space (examples/space/app.py): its Rank function, its API through gradio_client, and the
page in a real headless Chromium.

The offline example is replaced by tiny classifiers and an imagefolder written here (``_tiny``), plus a
folder that is not a model, so every call is fast and one row always fails.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no telemetry calls

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from _space_helpers import free_port, start_chromium  # noqa: E402
from _tiny import make_imagefolder, make_tiny_classifier  # noqa: E402

SPACE_DIR = Path(__file__).resolve().parents[1] / "examples" / "space"
SCORERS = ["lead", "logme"]


def _import_app():
    spec = importlib.util.spec_from_file_location("lead_hf_space_app", SPACE_DIR / "app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


app = _import_app()
from space_limits import SpaceLimits  # noqa: E402 (app.py put its folder on sys.path)


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """An imagefolder of 3 classes and three candidates: two tiny classifiers and one broken folder."""
    root = tmp_path_factory.mktemp("space_zoo")
    images = make_imagefolder(root, n_classes=3, per_class=6, mixed_modes=False)
    good = [str(make_tiny_classifier(root, arch=arch, seed=i)) for i, arch in enumerate(("resnet", "vit"))]
    broken = root / "not-a-model"
    broken.mkdir()
    (broken / "config.json").write_text("{this is not json")
    return images, good, str(broken)


def _example(images, models, ground_truth=None):
    """Stands in for lead_hf.demo.load_offline_example() (same attributes), built from the tiny zoo."""
    return SimpleNamespace(
        dataset=str(images), model_dirs=models, ground_truth=ground_truth, description="Tiny zoo."
    )


@pytest.fixture(scope="module")
def space(zoo):
    images, good, broken = zoo
    limits = SpaceLimits(max_models=3, max_samples_per_class=8, timeout_s=300)
    truth = {good[0]: 0.9, good[1]: 0.4}  # fine-tuned accuracies, as the offline example measures them
    return app.RankingSpace(limits=limits, load_example=lambda: _example(images, [*good, broken], truth))


def _names(paths):
    return [Path(path).name for path in paths]


def _rank(space, *, models="", source=None, dataset_id="", label_column="", samples=4, scorers=SCORERS):
    return space.rank(
        source or app.OFFLINE_EXAMPLE, dataset_id, "train", label_column, models, samples, scorers
    )


# ---- limits ------------------------------------------------------------------------------------------

VALID_ENV = [
    ({}, SpaceLimits()),
    ({"LEAD_HF_SPACE_MAX_MODELS": "3"}, SpaceLimits(max_models=3)),
    ({"LEAD_HF_SPACE_MAX_SAMPLES_PER_CLASS": " 20 ", "LEAD_HF_SPACE_TIMEOUT_S": "2.5"},
     SpaceLimits(max_samples_per_class=20, timeout_s=2.5)),
    ({"LEAD_HF_SPACE_MAX_MODELS": ""}, SpaceLimits()),  # empty means unset
    ({"SPACE_ID": "org/lead"}, SpaceLimits(allow_local_paths=False)),  # on a Space: no local folders
    ({"SPACE_ID": "org/lead", "LEAD_HF_SPACE_ALLOW_LOCAL_PATHS": "Yes"}, SpaceLimits()),
    ({"LEAD_HF_SPACE_ALLOW_LOCAL_PATHS": "0"}, SpaceLimits(allow_local_paths=False)),
]  # fmt: skip
NOT_VALID_ENV = [
    {"LEAD_HF_SPACE_MAX_MODELS": "0"},  # not positive
    {"LEAD_HF_SPACE_MAX_MODELS": "2.5"},  # not an int
    {"LEAD_HF_SPACE_MAX_SAMPLES_PER_CLASS": "many"},  # not a number
    {"LEAD_HF_SPACE_TIMEOUT_S": "-1"},  # negative
]


@pytest.mark.parametrize(("environ", "expected"), VALID_ENV)
def test_limits_from_env(environ, expected):
    assert SpaceLimits.from_env(environ) == expected


@pytest.mark.parametrize("environ", NOT_VALID_ENV)
def test_limits_from_env_refuses_bad_values(environ):
    ((name, value),) = environ.items()
    with pytest.raises(ValueError, match=rf"{name}={value!r} is not a positive"):
        SpaceLimits.from_env(environ)


def test_local_path_flag_refuses_values_that_are_not_yes_or_no():
    with pytest.raises(ValueError, match=r"LEAD_HF_SPACE_ALLOW_LOCAL_PATHS='maybe' is not a yes/no flag"):
        SpaceLimits.from_env({"LEAD_HF_SPACE_ALLOW_LOCAL_PATHS": "maybe"})


def test_limits_are_shown_on_the_page():
    text = SpaceLimits(max_models=4, max_samples_per_class=10, timeout_s=30).markdown()
    assert "**4 models**" in text and "**10 images per class**" in text and "**30 s**" in text
    assert "local folders are accepted" in text
    assert "local folders are refused" in SpaceLimits(allow_local_paths=False).markdown()


def test_parse_model_list():
    assert app.parse_model_list(" a/b \n\n c, a/b ,d\n") == ["a/b", "c", "d"]
    assert app.parse_model_list("") == []


# ---- the Rank function, called directly ---------------------------------------------------------------


def test_headless_rows_say_why_leep_is_empty():
    import pandas as pd

    table = pd.DataFrame({"model": ["a", "b", "c"], "leep": [0.1, float("nan"), float("nan")],
                          "lead": [1.0, 2.0, float("nan")], "source_head": [True, False, None]})
    shown = app._mark_not_applicable(app._for_display(table[["model", "leep", "lead"]]), table, ("lead", "leep"))
    assert list(shown["leep"]) == [0.1, "n/a (no source head)", ""]  # a failed model (None) stays blank
    assert list(shown["lead"]) == [1.0, 2.0, ""]


def test_rank_offline_example(space, zoo):
    _, good, broken = zoo
    with pytest.warns(UserWarning, match=r"1 of 3 models failed \(not-a-model\)"):  # gr.Warning, no request
        table, energy, plot, files, summary = _rank(space)

    assert list(table.columns) == ["rank", "model", "lead", "lead_ci", "logme", "logme_ci", "lead_group", "n_params",
                                   "ground_truth", "error"]
    low, high = (float(v) for v in table["lead_ci"].iloc[0].strip("[]").split(", "))  # formatted as in the CLI
    assert low <= table["lead"].iloc[0] <= high and table["lead_ci"].iloc[2] == ""  # the failed model has none
    assert list(table["rank"]) == [1, 2, 3] and sorted(table["model"]) == sorted(_names([*good, broken]))
    assert list(table["model"])[-1] == "not-a-model"  # a failed model comes last, with its error
    ranked, failed = table.iloc[:2], table.iloc[2]
    assert all(math.isfinite(v) for v in [*ranked["lead"], *ranked["logme"]])
    assert list(ranked["lead"]) == sorted(ranked["lead"], reverse=True)  # best first
    assert (
        failed["lead"] == ""
        and "ExtractionError" in failed["error"]
        and "not a valid JSON" in failed["error"]
    )
    assert dict(zip(ranked["model"], ranked["ground_truth"], strict=True)) == {
        "tiny-resnet": 0.9,
        "tiny-vit": 0.4,
    }

    assert list(energy.columns) == ["model", "energy0", "loss0", "acc0"]
    assert all(0.0 <= v <= 1.0 for v in energy["acc0"].iloc[:2]) and energy["acc0"].iloc[2] == ""

    assert Path(plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    csv_path, json_path = map(Path, files)
    assert csv_path.read_text().splitlines()[0] == (
        "rank,model,lead,lead_ci,lead_group,logme,logme_ci,logme_group,energy0,loss0,acc0,ground_truth,n_params,"
        "n_images,extract_seconds,score_seconds,from_cache,source_head,n_skipped,error"
    )
    rows = json.loads(json_path.read_text())["rows"]
    assert _names(row["model"] for row in rows) == list(table["model"])  # same order; full paths kept
    assert (
        rows[-1]["model"] == broken and rows[-1]["lead"] is None and "not a valid JSON" in rows[-1]["error"]
    )
    assert (
        "Best model" in summary and "2 of 3 models ranked" in summary and "(12 images, 3 classes)" in summary
    )
    logme = dict(zip(ranked["model"], ranked["logme"], strict=True))
    expected_tau = "+1.00" if logme["tiny-resnet"] > logme["tiny-vit"] else "-1.00"  # resnet has the higher truth
    assert f"logme {expected_tau}." in summary and "weighted Kendall tau): lead " in summary
    assert "Tiny zoo." in summary
    assert "- `not-a-model` failed: ExtractionError" in summary
    assert re.search(r"\*\*How sure\.\*\* By lead, tiny-\w+ beats tiny-\w+ with probability [01]\.\d\d", summary)


def test_rank_explicit_models_and_samples_per_class(space, zoo):
    _, good, _ = zoo
    table, energy, _, _, summary = _rank(space, models=good[1], samples=2, scorers=["logme"])
    assert list(table["model"]) == ["tiny-vit"] and list(table.columns)[:3] == ["rank", "model", "logme"]
    assert re.fullmatch(r"\d+\.\d\dM", table["n_params"].iloc[0])  # formatted as in the command line's table
    assert energy.empty  # the energy diagnostics come with LEAD only
    assert "1 of 1 models ranked" in summary and "(6 images, 3 classes)" in summary  # 2 per class
    assert "weighted Kendall tau" not in summary  # one model: no ranking to compare


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"models": "a\nb\nc\nd"}, r"4 models requested, but this Space ranks at most 3"),
        ({"models": "a, b, c, d"}, r"4 models requested"),
        ({"samples": 9}, r"Images per class must be between 2 and 8"),
        ({"samples": 1}, r"Images per class must be between 2 and 8"),
        ({"scorers": []}, r"Select at least one scorer"),
        ({"scorers": ["lead", "magic"]}, r"Unknown scorer\(s\) \['magic'\]"),
        ({"source": app.HUB_DATASET}, r"Enter a Hub dataset id"),
        ({"source": app.HUB_DATASET, "dataset_id": "no-such-user/no-such-dataset"},
         r"Could not load 'no-such-user/no-such-dataset'"),
    ],
)  # fmt: skip
def test_rank_refuses_bad_input(space, kwargs, message):
    with pytest.raises(gr.Error, match=message):
        _rank(space, **kwargs)


def test_rank_names_a_missing_label_column(space, zoo):
    images, good, _ = zoo
    with pytest.raises(gr.Error, match=r"Could not load .*'no_such_column'"):
        _rank(
            space,
            source=app.HUB_DATASET,
            dataset_id=str(images),
            models=good[0],
            label_column="no_such_column",
        )


def test_rank_a_local_imagefolder(space, zoo):
    images, good, _ = zoo
    table, _, plot, _, summary = _rank(
        space, source=app.HUB_DATASET, dataset_id=str(images), models="\n".join(good)
    )
    assert sorted(table["model"]) == ["tiny-resnet", "tiny-vit"] and "ground_truth" not in table
    assert Path(plot).is_file() and "2 of 2 models ranked" in summary and "offline example" not in summary


def test_a_public_space_refuses_local_folders_but_ranks_its_own_example(zoo):
    images, good, _ = zoo
    space = app.RankingSpace(
        limits=SpaceLimits(max_models=3, max_samples_per_class=8, allow_local_paths=False),
        load_example=lambda: _example(images, good),
    )
    with pytest.raises(gr.Error, match=r"does not read folders of its server \(model '.*tiny-resnet'\)"):
        _rank(space, models=good[0])
    with pytest.raises(gr.Error, match=r"does not read folders of its server \(dataset '\./images'\)"):
        _rank(space, source=app.HUB_DATASET, dataset_id="./images", models="org/model")
    with pytest.raises(gr.Error, match=r"Could not load 'no-such-user/no-such-dataset'"):  # a Hub id passes
        _rank(space, source=app.HUB_DATASET, dataset_id="no-such-user/no-such-dataset", models="org/model")
    table, *_, summary = _rank(space, scorers=["logme"])  # the example's models are the app's own folders
    assert sorted(table["model"]) == ["tiny-resnet", "tiny-vit"] and "2 of 2 models ranked" in summary


def test_the_progress_bar_moves_while_the_example_is_built(zoo):
    import time

    images, good, _ = zoo

    def slow_example():
        time.sleep(1.2)
        return _example(images, good)

    space = app.RankingSpace(load_example=slow_example)
    calls = []
    space._wait_for_example(lambda fraction, desc: calls.append((fraction, desc)))
    assert len(calls) >= 2 and calls[0][0] < calls[-1][0] <= 0.95  # it moves, and never claims to be done
    assert all("Building the offline example (first use only)" in desc for _, desc in calls)
    assert space._example is not None and space.warm_up() is space.warm_up()  # built once, one thread


def test_time_limit_reports_the_models_left_out(zoo):
    images, good, _ = zoo
    space = app.RankingSpace(limits=SpaceLimits(timeout_s=1e-9), load_example=lambda: _example(images, good))
    with pytest.warns(UserWarning, match="2 of 2 models failed"):
        table, _, plot, _, summary = _rank(space)
    assert list(table["model"]) == ["tiny-resnet", "tiny-vit"]
    assert all("time limit of 1e-09 s was reached first" in error for error in table["error"])
    assert plot is None and "No model could be ranked" in summary


def test_offline_example_is_loaded_once(zoo):
    images, good, _ = zoo
    calls = []

    def load():
        calls.append(1)
        return _example(images, good)

    space = app.RankingSpace(load_example=load)
    space.warm_up().join(timeout=30)  # what `python app.py` starts before serving
    assert space.offline_example() is space.offline_example() and len(calls) == 1


class _FakeHubApi:
    """Serves a fixed listing of image classifiers (what ``HfApi.list_models`` yields) and records the query."""

    def __init__(self, sizes):
        self.sizes, self.queries = sizes, []

    def list_models(self, **query):
        from huggingface_hub.hf_api import ModelInfo

        self.queries.append(query)
        for model_id, n_params in self.sizes.items():
            yield ModelInfo(
                id=model_id, library_name="transformers", pipeline_tag="image-classification", gated=False,
                private=False, tags=["transformers", "license:apache-2.0"],
                config={"architectures": ["ViTForImageClassification"]},
                safetensors={"parameters": {"F32": n_params}, "total": n_params},
            )  # fmt: skip


def test_search_hub_fills_the_model_list():
    sizes = {"org/vit-a": 5_000_000, "org/vit-huge": 900_000_000, "org/vit-b": 8_000_000, "org/vit-c": 1_000_000}
    api = _FakeHubApi(sizes)
    space = app.RankingSpace(limits=SpaceLimits(max_models=2), hub_api=api)
    assert space.search_hub("vit", "", 10.0, "apache-2.0") == "org/vit-a\norg/vit-b"  # <= 10M, at most 2
    assert api.queries[0]["search"] == "vit"
    with pytest.warns(UserWarning, match="No Hub model matches"):
        assert space.search_hub("", "", 0.5, "") == ""


def test_search_hub_reports_an_unreachable_hub():
    with pytest.raises(gr.Error, match="Hub search failed"):  # HF_HUB_OFFLINE=1 in the tests
        app.RankingSpace().search_hub("vit", "", None, "")


# ---- through the web server: gradio_client and a real browser -----------------------------------------


@pytest.fixture(scope="module")
def server(space):
    demo = app.build_demo(space)
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def test_client_rank_endpoint(server):
    # A generous HTTP timeout: on a busy shared machine the first request can take longer than httpx's 5 s.
    client = gradio_client.Client(server, verbose=False, analytics_enabled=False, httpx_kwargs={"timeout": 120})
    table, energy, plot, files, summary = client.predict(
        app.OFFLINE_EXAMPLE, "", "train", "", "", 4, SCORERS, api_name="/rank"
    )
    header = table["headers"]
    rows = {row[header.index("model")]: dict(zip(header, row, strict=True)) for row in table["data"]}
    assert sorted(rows) == ["not-a-model", "tiny-resnet", "tiny-vit"]
    assert all(math.isfinite(rows[m][s]) for m in ("tiny-resnet", "tiny-vit") for s in SCORERS)
    assert "not a valid JSON" in rows["not-a-model"]["error"]
    assert energy["headers"] == ["model", "energy0", "loss0", "acc0"]
    assert Path(plot).stat().st_size > 0 and sorted(Path(f).suffix for f in files) == [".csv", ".json"]
    assert "2 of 3 models ranked" in summary

    with pytest.raises(Exception, match="ranks at most 3"):  # the gr.Error reaches the client
        client.predict(app.OFFLINE_EXAMPLE, "", "train", "", "a\nb\nc\nd", 4, SCORERS, api_name="/rank")


def test_browser_ranks_the_offline_example(server, tmp_path):
    browser = start_chromium(tmp_path / "chromium-profile")
    if isinstance(browser, str):
        pytest.skip(browser)
    try:
        browser.navigate(server)
        browser.wait_for("!!document.querySelector('#rank-button')", timeout=60)
        browser.evaluate("document.querySelector('#rank-button').click()")
        summary = browser.wait_for(
            "document.querySelector('#summary')?.innerText.includes('Best model') && "
            "document.querySelector('#summary').innerText",
            timeout=120,
        )
        browser.wait_for("!!document.querySelector('#ranking-plot img')", timeout=30)
        table = browser.evaluate("document.querySelector('#ranking-table').innerText")
        energy = browser.evaluate("document.querySelector('#energy-table').innerText")
        shot = browser.screenshot(tmp_path / "space.png")
    finally:
        browser.close()
    assert "2 of 3 models ranked" in summary
    assert all(word in table for word in ("lead", "logme", "error", "tiny-resnet", "tiny-vit", "not-a-model"))
    assert "energy0" in energy and "acc0" in energy
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000

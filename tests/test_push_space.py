"""examples/push_space.py: argument handling over a fake HfApi (the Hub is never contacted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _load_script():
    spec = importlib.util.spec_from_file_location("push_space", REPO / "examples" / "push_space.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


push_space = _load_script()


class FakeApi:
    """Records the calls push_space makes; the upload 'reads' the files the real one would send."""

    def __init__(self):
        self.calls: list[tuple[str, tuple, dict]] = []

    def create_repo(self, *args, **kwargs):
        self.calls.append(("create_repo", args, kwargs))

    def upload_folder(self, **kwargs):
        folder = Path(kwargs["folder_path"])
        self.uploaded = {name: (folder / name).read_bytes() for name in kwargs["allow_patterns"]}
        self.calls.append(("upload_folder", (), kwargs))


VALID_IDS = ["my-org/lead", "user_1/lead.metric", "A-b/c"]
NOT_VALID_IDS = [
    "lead",  # no namespace: evaluate.load("lead") would look in evaluate-metric
    "a/b/c",  # two slashes
    "my org/lead",  # space
    "my-org/lead!",  # character the Hub refuses
    "my-org/",  # empty name
    "my--org/lead",  # double dash
]


@pytest.mark.parametrize("repo_id", VALID_IDS)
def test_valid_space_ids(repo_id):
    assert push_space.check_space_id(repo_id) == repo_id


@pytest.mark.parametrize("repo_id", NOT_VALID_IDS)
def test_invalid_space_ids_stop_before_any_call(repo_id, capsys):
    api = FakeApi()
    with pytest.raises(SystemExit) as exit_info:
        push_space.main([repo_id], api=api)
    assert exit_info.value.code == 2
    assert repr(repo_id) in capsys.readouterr().err
    assert api.calls == []


def test_creates_a_gradio_space_and_uploads_the_module_files(capsys):
    api = FakeApi()
    assert push_space.main(["my-org/lead"], api=api) == 0
    (create, create_args, create_kwargs), (upload, _, upload_kwargs) = api.calls
    assert (create, create_args) == ("create_repo", ("my-org/lead",))
    assert create_kwargs == {"repo_type": "space", "space_sdk": "gradio", "private": False, "exist_ok": True, "token": None}
    assert upload == "upload_folder"
    assert upload_kwargs["repo_id"] == "my-org/lead" and upload_kwargs["repo_type"] == "space"
    assert Path(upload_kwargs["folder_path"]) == REPO / "metric" / "lead"
    # The symlinked script goes up with the packaged module's content.
    assert api.uploaded["lead.py"] == (REPO / "lead_hf" / "metric_module" / "lead.py").read_bytes()
    assert sorted(api.uploaded) == ["README.md", "app.py", "lead.py", "requirements.txt"]
    assert 'evaluate.load("my-org/lead")' in capsys.readouterr().out


def test_private_flag_and_token_are_passed_and_never_printed(capsys):
    api = FakeApi()
    push_space.main(["my-org/lead", "--private", "--token", "hf_secret123"], api=api)
    (_, _, create_kwargs), (_, _, upload_kwargs) = api.calls
    assert create_kwargs["private"] is True
    assert create_kwargs["token"] == upload_kwargs["token"] == "hf_secret123"
    captured = capsys.readouterr()
    assert "hf_secret123" not in captured.out + captured.err


def test_default_client_gets_the_token(monkeypatch):
    created = []

    class RecordingApi(FakeApi):
        def __init__(self, token=None):
            super().__init__()
            created.append(token)

    monkeypatch.setattr(push_space, "HfApi", RecordingApi)
    push_space.push_space("my-org/lead", token="hf_abc")
    assert created == ["hf_abc"]


def test_dry_run_contacts_nobody(monkeypatch, capsys):
    def no_client(*args, **kwargs):
        raise AssertionError("dry run created a Hub client")

    monkeypatch.setattr(push_space, "HfApi", no_client)
    assert push_space.main(["my-org/lead", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Would upload lead.py, README.md, app.py, requirements.txt to the Space my-org/lead.")
    assert "evaluate.load" not in out


def test_missing_module_file_is_reported(tmp_path):
    (tmp_path / "lead.py").write_text("")
    with pytest.raises(FileNotFoundError, match=r"\['README.md', 'app.py', 'requirements.txt'\]"):
        push_space.push_space("my-org/lead", folder=tmp_path, api=FakeApi())


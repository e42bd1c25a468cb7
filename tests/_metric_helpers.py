"""Fixtures for the evaluate-module tests: a fresh evaluate modules cache and a fake Hub on 127.0.0.1.

The fake Hub answers the two requests ``evaluate.load("<org>/<name>")`` makes per revision (evaluate
0.4.x, ``HubEvaluationModuleFactory``): ``HEAD`` then ``GET`` of
``{HF_ENDPOINT}/spaces/<org>/<name>/resolve/<revision>/<name>.py``, first for ``v<evaluate version>``,
then for ``main`` after a 404. Everything else is a 404.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


class FakeHub:
    """Serves ``files`` (URL path -> bytes) and records every ``(method, path)`` requested."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.requests: list[tuple[str, str]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, with_body: bool) -> None:
                hub.requests.append((self.command, self.path))
                body = hub.files.get(self.path)
                if body is None:
                    self.send_error(404, "Entry not found")
                    return
                self.send_response(200)
                self.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()}"')
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if with_body:
                    self.wfile.write(body)

            def do_HEAD(self) -> None:
                self._answer(with_body=False)

            def do_GET(self) -> None:
                self._answer(with_body=True)

            def log_message(self, *args) -> None:  # keep test output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()


@contextmanager
def fake_hub(files: dict[str, bytes]) -> Iterator[FakeHub]:
    hub = FakeHub(files)
    try:
        yield hub
    finally:
        hub.stop()


def space_files(org: str, name: str, folder: Path) -> dict[str, bytes]:
    """URL paths of a Space's files at revision ``main``, as the Hub's resolve endpoint serves them."""
    return {
        f"/spaces/{org}/{name}/resolve/main/{path.name}": path.read_bytes()
        for path in sorted(folder.iterdir())
        if path.is_file()
    }


def go_online(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    """Turn the test-wide offline mode off and point evaluate and huggingface_hub at ``endpoint``.

    Both libraries read these variables into module constants at import, so the constants are patched
    as well; monkeypatch restores everything after the test.
    """
    import evaluate.config
    import huggingface_hub.constants

    for var, value in {"HF_ENDPOINT": endpoint, "HF_HUB_OFFLINE": "0", "HF_EVALUATE_OFFLINE": "0"}.items():
        monkeypatch.setenv(var, value)
    for var in ("NO_PROXY", "no_proxy"):  # never send 127.0.0.1 through a proxy
        monkeypatch.setenv(var, ",".join(filter(None, [os.environ.get(var), "127.0.0.1", "localhost"])))
    monkeypatch.setattr(evaluate.config, "HF_ENDPOINT", endpoint)
    monkeypatch.setattr(evaluate.config, "HUB_EVALUATE_URL", endpoint + "/spaces/{path}/resolve/{revision}/{name}")
    monkeypatch.setattr(evaluate.config, "HF_EVALUATE_OFFLINE", False)
    monkeypatch.setattr(evaluate.config, "HF_UPDATE_DOWNLOAD_COUNTS", False)  # else a HEAD to S3
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", endpoint)


def go_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    import evaluate.config

    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")
    monkeypatch.setattr(evaluate.config, "HF_EVALUATE_OFFLINE", True)


def isolated_modules_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty evaluate modules cache, as in a fresh ``HF_HOME``, used by default until the generator ends.

    evaluate imports cached scripts as ``evaluate_modules.*`` from the first ``evaluate_modules`` package
    on ``sys.path``, so the session's package is hidden (path entry and imported modules) meanwhile.
    """
    import evaluate.config

    cache = tmp_path / "modules"
    monkeypatch.setattr(evaluate.config, "HF_MODULES_CACHE", cache)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if not Path(p, "evaluate_modules").is_dir()])
    before = {name for name in sys.modules if name.split(".")[0] == "evaluate_modules"}
    for name in before:
        monkeypatch.delitem(sys.modules, name)
    yield cache
    for name in [name for name in sys.modules if name.split(".")[0] == "evaluate_modules"]:
        del sys.modules[name]  # this test's imports; monkeypatch then restores the session's

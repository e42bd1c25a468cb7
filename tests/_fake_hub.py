"""A Hugging Face Hub on 127.0.0.1 for end-to-end tests: the HTTP API that lead-hf's users' code path takes.

No test functions here. The HTTP server is pytest-httpserver's (werkzeug, threaded); this module writes only the
Hub's semantics on top of it, for real repositories held in memory:

- ``GET /api/models``: listing with ``pipeline_tag``, ``filter`` (tags, ANDed), ``search``, ``gated``, ``sort``,
  ``expand`` and ``limit``, paginated with a ``Link: <...>; rel="next"`` header like the Hub;
- ``GET /api/{models,datasets}/<repo>[/revision/<rev>]``: repo info with its commit ``sha`` and files;
- ``GET /api/datasets/<repo>/tree/<rev>/<path>`` and ``POST .../paths-info/<rev>``: file listings;
- ``HEAD``/``GET /[datasets/]<repo>/resolve/<rev>/<file>``: files with ``X-Repo-Commit``, ``ETag`` and
  ``Content-Length`` headers.

Errors use the Hub's ``X-Error-Code`` header (``RepoNotFound`` 404, ``GatedRepo`` 401, ``EntryNotFound`` 404), and
:meth:`FakeHub.fail_next` injects transient failures (e.g. one 503). Every request is logged in ``FakeHub.requests``
as ``(method, path)``, so a test can assert that a second run downloads nothing.

Alternatives looked at: ``olah`` (a self-hosted Hub mirror) serves git mirrors but has no model listing or search,
no way to declare a repo gated or to inject a 503, and needs each repo as a git repository.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

PAGE_SIZE = 4  # small, so that listings of a dozen models take several pages
SORT_FIELDS = {"downloads": "downloads", "likes": "likes", "trending_score": "trendingScore",
               "created_at": "createdAt", "last_modified": "lastModified"}


@dataclass
class Repo:
    """One repository: its files at every commit (oldest first) and its listing metadata."""

    repo_id: str
    kind: str  # "model" or "dataset"
    commits: list[tuple[str, dict[str, bytes]]] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    gated: str | bool = False

    @property
    def sha(self) -> str:
        return self.commits[-1][0]

    def files(self, revision: str) -> dict[str, bytes] | None:
        if revision == "main":
            return self.commits[-1][1]
        return next((files for sha, files in self.commits if sha == revision), None)

    def commit(self, files: dict[str, bytes]) -> str:
        digest = hashlib.sha1()
        for name in sorted(files):
            digest.update(name.encode() + hashlib.sha256(files[name]).digest())
        digest.update(str(len(self.commits)).encode())  # a commit that restores old files is still new
        self.commits.append((digest.hexdigest(), dict(files)))
        return self.sha


def read_folder(folder: str | Path) -> dict[str, bytes]:
    """The files of a folder, by their path relative to it."""
    root = Path(folder)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


class FakeHub:
    """Real repositories served over HTTP with the Hub's API. Use :attr:`url` as ``HF_ENDPOINT``."""

    def __init__(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log line per request
        self.server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[tuple[str, str]] = []
        self._failures: list[list] = []  # [method, path regex, status, remaining]
        self._lock = threading.Lock()
        self.server.expect_request(re.compile(".*")).respond_with_handler(self._handle)

    # ---- set-up --------------------------------------------------------------------------------

    def start(self) -> FakeHub:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.clear()
        if self.server.is_running():
            self.server.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def add_model(self, repo_id: str, files: dict[str, bytes], *, library: str = "transformers",
                  pipeline_tag: str = "image-classification", downloads: int = 0, gated: str | bool = False,
                  tags: tuple[str, ...] = ()) -> Repo:
        config = json.loads(files.get("config.json", b"{}"))
        n_params = _safetensors_parameters(files.get("model.safetensors"))
        meta = {"library_name": library, "pipeline_tag": pipeline_tag, "downloads": downloads, "likes": 0,
                "tags": [library, pipeline_tag, "license:apache-2.0", *tags], "config": config,
                "createdAt": "2026-01-01T00:00:00.000Z", "lastModified": "2026-01-01T00:00:00.000Z",
                "trendingScore": 0}
        if n_params:
            meta["safetensors"] = {"parameters": {"F32": n_params}, "total": n_params}
        return self._add(Repo(repo_id, "model", meta=meta, gated=gated), files)

    def add_dataset(self, repo_id: str, files: dict[str, bytes]) -> Repo:
        return self._add(Repo(repo_id, "dataset", meta={"tags": [], "downloads": 0, "likes": 0}), files)

    def _add(self, repo: Repo, files: dict[str, bytes]) -> Repo:
        repo.commit(files)
        self.repos[(repo.kind, repo.repo_id)] = repo
        return repo

    def fail_next(self, method: str, path_pattern: str, status: int, *, times: int = 1) -> None:
        """Answer the next ``times`` requests whose path matches ``path_pattern`` with ``status``."""
        with self._lock:
            self._failures.append([method, re.compile(path_pattern), status, times])

    def downloads(self, since: int = 0) -> list[str]:
        """Paths of the file bodies fetched (``GET .../resolve/...``) since request number ``since``."""
        return [path for method, path in self.requests[since:] if method == "GET" and "/resolve/" in path]

    # ---- HTTP --------------------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        with self._lock:
            self.requests.append((request.method, request.path))
            for failure in self._failures:
                method, pattern, status, remaining = failure
                if remaining and request.method == method and pattern.search(request.path):
                    failure[3] -= 1
                    return _error(status, "ServiceUnavailable" if status == 503 else "Error", "injected failure")
        path = request.path
        if path == "/api/models" and request.method == "GET":
            return self._list_models(request)
        if path == "/":
            return Response("a fake Hugging Face Hub", content_type="text/plain")
        match = re.fullmatch(r"/api/datasets/([^/]+/[^/]+)/(tree|paths-info)/([^/]+)(?:/(.*))?", path)
        if match:
            return self._tree(match[1], match[3], match[2], match[4] or "", request)
        match = re.fullmatch(r"/api/(models|datasets)/([^/]+/[^/]+)(?:/revision/([^/]+))?", path)
        if match and request.method == "GET":
            return self._info(match[1][:-1], match[2], match[3] or "main")
        match = re.fullmatch(r"/(datasets/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if match and request.method in ("GET", "HEAD"):
            return self._resolve("dataset" if match[1] else "model", match[2], match[3], match[4], request)
        return _error(404, "NotFound", f"no route for {request.method} {path}")

    def _repo(self, kind: str, repo_id: str) -> Repo | None:
        return self.repos.get((kind, repo_id))

    def _info(self, kind: str, repo_id: str, revision: str) -> Response:
        repo = self._repo(kind, repo_id)
        if repo is None:
            return _error(404, "RepoNotFound", f"Repository Not Found for url: {repo_id}")
        files = repo.files(revision)
        if files is None:
            return _error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        sha = repo.sha if revision == "main" else revision
        return Response(json.dumps(self._payload(repo, sha, files)), content_type="application/json")

    def _payload(self, repo: Repo, sha: str, files: dict[str, bytes]) -> dict:
        return {"_id": repo.repo_id, "id": repo.repo_id, "modelId": repo.repo_id, "sha": sha, "private": False,
                "gated": repo.gated, "disabled": False, "siblings": [{"rfilename": name} for name in files],
                **repo.meta}

    def _list_models(self, request: Request) -> Response:
        args = request.args
        models = [repo for (kind, _), repo in self.repos.items() if kind == "model"]
        if args.get("pipeline_tag"):
            models = [m for m in models if m.meta["pipeline_tag"] == args["pipeline_tag"]]
        for tag in args.getlist("filter"):
            models = [m for m in models if tag in m.meta["tags"]]
        if args.get("search"):
            models = [m for m in models if args["search"].lower() in m.repo_id.lower()]
        if args.get("gated", "").lower() == "false":
            models = [m for m in models if not m.gated]
        key = SORT_FIELDS.get(args.get("sort", "downloads"), "downloads")
        models.sort(key=lambda m: m.meta.get(key) or 0, reverse=True)
        offset = int(args.get("cursor", 0))
        size = min(int(args.get("limit", PAGE_SIZE)), PAGE_SIZE)
        page = models[offset : offset + size]
        headers = {}
        if offset + size < len(models):
            query = [(k, v) for k, v in args.items(multi=True) if k != "cursor"] + [("cursor", offset + size)]
            headers["Link"] = f'<{self.url}/api/models?{urlencode(query)}>; rel="next"'
        body = [self._payload(m, m.sha, m.files("main")) for m in page]
        return Response(json.dumps(body), content_type="application/json", headers=headers)

    def _tree(self, repo_id: str, revision: str, verb: str, prefix: str, request: Request) -> Response:
        repo = self._repo("dataset", repo_id)
        files = repo.files(revision) if repo else None
        if files is None:
            return _error(404, "RepoNotFound" if repo is None else "RevisionNotFound", f"{repo_id}@{revision}")
        if verb == "paths-info":
            wanted = request.form.getlist("paths") or (request.get_json(silent=True) or {}).get("paths", [])
            return Response(json.dumps([e for e in _entries(files) if e["path"] in wanted]),
                            content_type="application/json")
        recursive = request.args.get("recursive", "false").lower() == "true"
        entries = [e for e in _entries(files) if _under(e["path"], prefix, recursive)]
        return Response(json.dumps(entries), content_type="application/json")

    def _resolve(self, kind: str, repo_id: str, revision: str, filename: str, request: Request) -> Response:
        repo = self._repo(kind, repo_id)
        if repo is None:
            return _error(404, "RepoNotFound", f"Repository Not Found for url: {repo_id}")
        if repo.gated:
            return _error(401, "GatedRepo", f"Access to model {repo_id} is restricted. You must have access to it "
                                            "and be authenticated to access it. Please log in.")
        files = repo.files(revision)
        if files is None:
            return _error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        if filename not in files:
            return _error(404, "EntryNotFound", f"{filename} does not exist at {revision}")
        body = files[filename]
        sha = repo.sha if revision == "main" else revision
        response = Response(body, headers={"X-Repo-Commit": sha}, content_type="application/octet-stream")
        response.set_etag(hashlib.sha256(body).hexdigest())
        # Range requests (HfFileSystem reads parquet footers) get 206; HEAD keeps the full Content-Length
        return response.make_conditional(request, accept_ranges=True, complete_length=len(body))


def _error(status: int, code: str, message: str) -> Response:
    return Response(json.dumps({"error": message}), status=status, content_type="application/json",
                    headers={"X-Error-Code": code, "X-Error-Message": message})


def _entries(files: dict[str, bytes]) -> list[dict]:
    """Tree entries of every file and every folder, like the Hub's tree API."""
    folders = sorted({"/".join(name.split("/")[:i]) for name in files for i in range(1, name.count("/") + 1)})
    entries = [{"type": "directory", "oid": hashlib.sha1(f.encode()).hexdigest(), "size": 0, "path": f}
               for f in folders]
    entries += [{"type": "file", "oid": hashlib.sha1(body).hexdigest(), "size": len(body), "path": name}
                for name, body in sorted(files.items())]
    return entries


def _under(path: str, prefix: str, recursive: bool) -> bool:
    prefix = prefix.strip("/")
    if prefix and not path.startswith(prefix + "/"):
        return False
    rest = path[len(prefix) + 1 :] if prefix else path
    return recursive or "/" not in rest


def _safetensors_parameters(weights: bytes | None) -> int | None:
    """Parameter count from a safetensors header (what the Hub reports as ``safetensors.total``)."""
    if not weights:
        return None
    size = int.from_bytes(weights[:8], "little")
    header = json.loads(weights[8 : 8 + size])
    total = 0
    for name, tensor in header.items():
        if name != "__metadata__":
            count = 1
            for dim in tensor["shape"]:
                count *= dim
            total += count
    return total

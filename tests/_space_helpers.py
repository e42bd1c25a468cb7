"""Drive headless Chromium through the DevTools protocol for the Space's real-browser test.

Only the Debian ``chromium`` package and ``websocket-client`` are needed: no chromedriver and no
browser download. ``start_chromium`` returns ``None`` with a reason when Chromium cannot run here,
so the test can skip and say why.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

# Flags that keep headless Chromium off the (closed) network and independent of any profile.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Browser:
    """One headless Chromium process and a DevTools session on its first page."""

    def __init__(self, process: subprocess.Popen, connection: Any) -> None:
        self.process = process
        self._connection = connection
        self._ids = itertools.count(1)

    def send(self, method: str, **params: Any) -> dict:
        """Send one DevTools command and return its result (events received meanwhile are dropped)."""
        message_id = next(self._ids)
        self._connection.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._connection.recv())
            if message.get("id") != message_id:
                continue
            if "error" in message:
                raise RuntimeError(f"DevTools {method} failed: {message['error']}")
            return message["result"]

    def evaluate(self, expression: str) -> Any:
        """Evaluate a JavaScript expression in the page and return its JSON value."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"JavaScript error in {expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, *, timeout: float, interval: float = 0.25) -> Any:
        """Poll ``expression`` until it is truthy; return its value or raise ``TimeoutError``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(interval)
        raise TimeoutError(f"{expression!r} stayed falsy for {timeout} s")

    def navigate(self, url: str, *, timeout: float = 60.0) -> None:
        self.send("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'", timeout=timeout)

    def screenshot(self, path: Path) -> Path:
        """Save a PNG of the whole page (beyond the viewport) to ``path``."""
        height = self.evaluate("Math.ceil(document.documentElement.scrollHeight)")
        width = self.evaluate("Math.ceil(document.documentElement.scrollWidth)")
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        self._connection.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_chromium(user_data_dir: Path, *, window: tuple[int, int] = (1280, 1000)) -> Browser | str:
    """Start headless Chromium with remote debugging; return a ``Browser`` or the reason it cannot run."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        return "Chromium is not installed (`make browser-deps` installs the Debian package as root)"
    try:
        import websocket  # websocket-client, in the dev extra
    except ImportError:
        return "websocket-client is not installed (`pip install -e '.[dev]'`)"
    command = [
        executable,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={user_data_dir}",
        f"--window-size={window[0]},{window[1]}",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        "about:blank",
    ]
    log_path = user_data_dir.with_name(user_data_dir.name + ".log")
    with log_path.open("wb") as log:  # a file, not a pipe: nobody drains Chromium's chatter
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
    port_file = user_data_dir / "DevToolsActivePort"
    deadline = time.monotonic() + 30
    while not port_file.exists() or not port_file.read_text().strip():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            lines = log_path.read_text(errors="replace").strip().splitlines()
            return f"Chromium did not start: {lines[-1] if lines else 'no output'}"
        time.sleep(0.1)
    port = int(port_file.read_text().splitlines()[0])
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
        pages = [target for target in json.load(response) if target["type"] == "page"]
    # suppress_origin: Chromium refuses DevTools websockets that send an Origin it does not allow.
    connection = websocket.create_connection(
        pages[0]["webSocketDebuggerUrl"], timeout=60, suppress_origin=True
    )
    browser = Browser(process, connection)
    browser.send("Page.enable")
    browser.send("Runtime.enable")
    return browser

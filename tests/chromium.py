"""Headless Chromium driven over the DevTools protocol, with the standard library only.

Chromium started with `--remote-debugging-pipe` reads protocol commands from its file
descriptor 3 and writes replies and events to 4, each a JSON text ended by a NUL byte; no
websocket, port or extra package is needed. Tests use it to load a page, read it with
JavaScript and press the mouse where a user would.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

needs_chromium = pytest.mark.skipif(
    shutil.which("chromium") is None, reason="needs Debian's chromium"
)


def _pipe(high: int) -> tuple[int, int]:
    """A pipe (read end, write end) whose end `high` (0 or 1) is numbered 10 or above."""
    ends = list(os.pipe())
    moved = fcntl.fcntl(ends[high], fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(ends[high])
    ends[high] = moved
    return ends[0], ends[1]


class Chromium:
    """One headless browser with one page of `width` × `height` CSS pixels."""

    def __init__(self, profile: Path, width: int = 800, height: int = 600, timeout: float = 60):
        self.timeout = timeout
        self.events: list[dict] = []
        self._next = 0
        self._buffer = b""
        self.session: str | None = None  # commands go to the browser until a page is attached
        # Chromium's ends are moved above 9 first, so that moving them to 3 and 4 cannot clash.
        commands, self._to_browser = _pipe(high=0)
        self._from_browser, replies = _pipe(high=1)
        arguments = [
            "--headless",
            "--no-sandbox",  # CI containers run as root
            "--disable-gpu",
            "--hide-scrollbars",
            "--remote-debugging-pipe",
            f"--user-data-dir={profile}",
            "about:blank",
        ]
        wire = f'exec chromium "$@" 3<&{commands} 4>&{replies}'
        self.log = profile.parent / "chromium.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                ["bash", "-c", wire, "chromium", *arguments],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                pass_fds=(commands, replies),
            )
        os.close(commands)
        os.close(replies)
        try:
            targets = self.send("Target.getTargets")["targetInfos"]
            page = next(t["targetId"] for t in targets if t["type"] == "page")
            attached = self.send("Target.attachToTarget", targetId=page, flatten=True)
            self.session = attached["sessionId"]
            self.send("Page.enable")
            self.send(
                "Emulation.setDeviceMetricsOverride",
                width=width,
                height=height,
                deviceScaleFactor=1,
                mobile=False,
            )
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *_) -> None:
        self.close()

    def close(self) -> None:
        os.close(self._to_browser)
        os.close(self._from_browser)
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def send(self, method: str, **params) -> dict:
        """Send one command (to the page once attached) and wait for its result."""
        self._next += 1
        message = {"id": self._next, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def _read(self) -> dict:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError(f"chromium did not answer; its output is in {self.log}")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise ConnectionError(f"chromium closed its pipe; its output is in {self.log}")
            self._buffer += chunk
        text, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(text)

    def open(self, url: str) -> None:
        """Load `url` and wait until its load event."""
        self.events.clear()
        self.send("Page.navigate", url=url)
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self.events.append(self._read())

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (JSON-serialisable)."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def screenshot(self) -> bytes:
        """The viewport as a PNG."""
        return base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"])

    def click(self, x: float, y: float) -> None:
        """Move the mouse to (x, y) in the viewport and press and release its left button."""
        self.send("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

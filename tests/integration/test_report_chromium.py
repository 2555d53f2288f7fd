"""Open the report in headless Chromium: every figure loads, nothing logs an error, the page renders.

Two views of the same page: a DevTools session over --remote-debugging-pipe (images decoded with a
real size, console and network errors collected) and a plain --screenshot (a PNG with the plots'
colours in it). Under CI=true a missing Chromium is a failure, not a skip.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from testbed.report import build_comparison, build_report

FIXTURES = Path(__file__).resolve().parents[1] / "unit" / "fixtures"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]
TIMEOUT_S = 90
PLOT_BLUE = (31, 119, 180)      # matplotlib's first colour: flows and run A
FAULT_RED = (214, 39, 40)       # fault markers and failed badges


def chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if path is None:
        msg = "chromium is not installed (apt-get install chromium, or `make setup`)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: {msg}")
        pytest.skip(msg)
    return path


class DevTools:
    """A minimal Chrome DevTools Protocol client over --remote-debugging-pipe (fd 3 in, fd 4 out)."""

    def __init__(self, exe: str, profile: Path):
        cmd_r, self._cmd_w = os.pipe()
        self._resp_r, resp_w = os.pipe()

        def child_fds() -> None:
            # move both ends above 4 first, so that neither dup2 clobbers the other
            a, b = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10), fcntl.fcntl(resp_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3, inheritable=True)
            os.dup2(b, 4, inheritable=True)

        self.proc = subprocess.Popen([exe, *FLAGS, "--remote-debugging-pipe", f"--user-data-dir={profile}",
                                      "--window-size=1280,2000", "about:blank"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     preexec_fn=child_fds, close_fds=False)
        os.close(cmd_r)
        os.close(resp_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def wait_for(self, method: str) -> dict[str, Any]:
        for e in self.events:
            if e.get("method") == method:
                return e
        while True:
            m = self._read()
            if m.get("method") == method:
                return m

    def _read(self) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT_S
        while b"\0" not in self._buf:
            if time.monotonic() > deadline:
                raise AssertionError("chromium did not answer within the timeout")
            chunk = os.read(self._resp_r, 65536)
            if not chunk:
                raise AssertionError(f"chromium exited: {self.proc.stderr.read().decode(errors='replace')[-2000:]}")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        msg = json.loads(raw)
        if "method" in msg:
            self.events.append(msg)
        return msg

    def close(self) -> None:
        try:
            os.write(self._cmd_w, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
        except OSError:
            pass
        os.close(self._cmd_w)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        os.close(self._resp_r)
        self.proc.stderr.close()


def inspect_page(exe: str, url: str, profile: Path) -> tuple[list[dict[str, Any]], list[str], int]:
    """Load url; return (images as {src_kind, complete, width}, errors logged, number of <figure>)."""
    dt = DevTools(exe, profile)
    try:
        target = dt.send("Target.createTarget", url="about:blank")["targetId"]
        session = dt.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            dt.send(f"{domain}.enable", session)
        dt.send("Page.navigate", session, url=url)
        dt.wait_for("Page.loadEventFired")
        js = ("JSON.stringify({imgs: Array.from(document.images).map(i => ({src: i.getAttribute('src').slice(0, 22), "
              "complete: i.complete, width: i.naturalWidth, height: i.naturalHeight})), "
              "figures: document.querySelectorAll('figure img').length})")
        got = json.loads(dt.send("Runtime.evaluate", session, expression=js, returnByValue=True)["result"]["value"])
        errors = []
        for e in dt.events:
            if e.get("method") == "Runtime.consoleAPICalled" and e["params"].get("type") in ("error", "assert"):
                errors.append(f"console: {e['params'].get('args')}")
            if e.get("method") == "Runtime.exceptionThrown":
                errors.append(f"exception: {e['params']}")
            if e.get("method") == "Log.entryAdded" and e["params"]["entry"].get("level") == "error":
                errors.append(f"log: {e['params']['entry'].get('text')} {e['params']['entry'].get('url', '')}")
        return got["imgs"], errors, got["figures"]
    finally:
        dt.close()


def screenshot(exe: str, url: str, png: Path, profile: Path) -> str:
    r = subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}", "--window-size=1280,3000",
                        "--enable-logging=stderr", "--v=0", url],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stderr


def colour_share(png: Path, rgb: tuple[int, int, int], tol: int = 30) -> tuple[float, float]:
    """(share of pixels close to rgb, share of non-white pixels)."""
    import numpy as np
    from PIL import Image
    px = np.asarray(Image.open(png).convert("RGB"), dtype=np.int16)
    near = (np.abs(px - np.array(rgb, dtype=np.int16)) <= tol).all(axis=2).mean()
    ink = (px.sum(axis=2) < 720).mean()
    return float(near), float(ink)


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("reports")
    v1 = Path(shutil.copytree(FIXTURES / "bundle-v1", tmp / "v1"))
    v2 = Path(shutil.copytree(FIXTURES / "bundle-v2", tmp / "v2"))
    return {"report": build_report(v1), "compare": build_comparison(v1, v2)}


@pytest.mark.parametrize("which, figures", [("report", 5), ("compare", 5)])
def test_chromium_loads_every_figure_without_errors(pages: dict[str, Path], which: str, figures: int,
                                                    tmp_path: Path) -> None:
    exe = chromium()
    imgs, errors, n_fig = inspect_page(exe, pages[which].as_uri(), tmp_path / "profile")
    assert errors == []
    assert n_fig == figures
    assert len(imgs) == figures
    for img in imgs:
        assert img["src"] == "data:image/png;base64,"
        assert img["complete"] and img["width"] > 300 and img["height"] > 150, img


@pytest.mark.parametrize("which", ["report", "compare"])
def test_screenshot_shows_the_plots(pages: dict[str, Path], which: str, tmp_path: Path) -> None:
    exe = chromium()
    png = tmp_path / f"{which}.png"
    stderr = screenshot(exe, pages[which].as_uri(), png, tmp_path / "profile")
    assert "CONSOLE" not in stderr, stderr
    assert png.stat().st_size > 50_000
    from PIL import Image
    assert Image.open(png).size == (1280, 3000)
    blue, ink = colour_share(png, PLOT_BLUE)
    red, _ = colour_share(png, FAULT_RED)
    assert ink > 0.05, "the page is (nearly) blank"
    assert blue > 0.0005 and red > 0.0005, f"plot colours missing (blue {blue:.4f}, red {red:.4f})"
    keep = os.environ.get("TESTBED_KEEP_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(keep) / png.name)

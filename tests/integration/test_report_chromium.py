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
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from testbed.pytest_plugin import skip_or_fail
from testbed.report import build_comparison, build_report

FIXTURES = Path(__file__).resolve().parents[1] / "unit" / "fixtures"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]
TIMEOUT_S = 90
WIDTH, HEIGHT = 1280, 3000


def chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if path is None:
        skip_or_fail("chromium is not installed (apt-get install chromium, or `make setup`)")
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
                                      f"--window-size={WIDTH},{HEIGHT}", "about:blank"],
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
    """Load url; return (images {src, complete, width, height, box}, errors logged, number of figure images)."""
    dt = DevTools(exe, profile)
    try:
        target = dt.send("Target.createTarget", url="about:blank")["targetId"]
        session = dt.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            dt.send(f"{domain}.enable", session)
        dt.send("Page.navigate", session, url=url)
        dt.wait_for("Page.loadEventFired")
        js = ("JSON.stringify({imgs: Array.from(document.images).map(i => ({src: i.getAttribute('src').slice(0, 22), "
              "complete: i.complete, width: i.naturalWidth, height: i.naturalHeight, "
              "box: (r => [r.left, r.top, r.right, r.bottom])(i.getBoundingClientRect())})), "
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
    r = subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={png}", f"--window-size={WIDTH},{HEIGHT}",
                        "--enable-logging=stderr", "--v=0", url],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stderr


def ink(png: Path, box: tuple[int, int, int, int] | None = None) -> tuple[float, int]:
    """(share of non-white pixels, number of distinct colours) in the screenshot, or in one box of it."""
    import numpy as np
    from PIL import Image
    im = Image.open(png).convert("RGB")
    if box:
        im = im.crop(box)
    px = np.asarray(im, dtype=np.int32)
    colours = len(np.unique(px.reshape(-1, 3) @ np.array([65536, 256, 1])))
    return float((px.sum(axis=2) < 720).mean()), colours


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("reports")
    v1 = Path(shutil.copytree(FIXTURES / "bundle-v1", tmp / "v1"))
    v2 = Path(shutil.copytree(FIXTURES / "bundle-v2", tmp / "v2"))
    return {"report": build_report(v1), "compare": build_comparison(v1, v2)}


@pytest.mark.parametrize("which", ["report", "compare"])
def test_chromium_renders_every_figure_without_errors(pages: dict[str, Path], which: str, tmp_path: Path) -> None:
    exe = chromium()
    imgs, errors, n_fig = inspect_page(exe, pages[which].as_uri(), tmp_path / "devtools")
    assert errors == []
    assert n_fig == len(imgs) == 6       # map, throughput, RTT, user-felt quality, utilisation, drops
    for img in imgs:
        assert img["src"] == "data:image/png;base64,"
        assert img["complete"] and img["width"] > 300 and img["height"] > 150, img

    png = tmp_path / f"{which}.png"
    stderr = screenshot(exe, pages[which].as_uri(), png, tmp_path / "shot")
    assert "CONSOLE" not in stderr, stderr
    from PIL import Image
    assert Image.open(png).size == (WIDTH, HEIGHT)
    share, colours = ink(png)
    assert share > 0.03 and colours > 200, f"the page looks blank ({share:.3f} ink, {colours} colours)"
    # every figure the first screen shows was painted: its box holds a plot, not a white hole
    shown = [i for i in imgs if i["box"][3] <= HEIGHT]
    assert len(shown) >= 2, [i["box"] for i in imgs]
    for img in shown:
        box = tuple(int(round(v)) for v in img["box"])
        share, colours = ink(png, box)
        assert share > 0.02 and colours > 20, f"figure at {box} looks empty ({share:.3f} ink, {colours} colours)"
    keep = os.environ.get("TESTBED_KEEP_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(keep) / png.name)


def test_chromium_paints_an_experiment_report(tmp_path: Path) -> None:
    """A 2 x 2 x 3 sweep's report (built from stored run folders): every error-bar figure is painted."""
    from testbed.experiment.spec import load_experiment, point_id
    from testbed.experiment.sweep import write_outputs
    from testbed.report.experiment import build_experiment_report
    sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
    from contract_docs import results_json  # a contract-complete results.json, as the sweep reads it
    scen = FIXTURES / "scenario" / "bloat.yaml"
    f = tmp_path / "e.yaml"
    f.write_text(f"name: e\nscenario: {scen}\nrepeat: 3\nmatrix:\n  links.server--home.queue: [20, 150]\n"
                 "  traffic.bulk.cc: [cubic, bbr]\nmetrics: [probe.rtt.p95]\n")
    exp = load_experiment(f)
    out = tmp_path / "out"
    for i, pt in enumerate(exp.points()):
        for r in (1, 2, 3):
            d = out / "points" / point_id(i, pt) / f"run-{r:02d}"
            d.mkdir(parents=True)
            rtt = 0.03 + 0.1 * i + 0.01 * r
            (d / "results.json").write_text(json.dumps(results_json({"status": "passed", "expectations": [], "flows": {
                "probe": {"series": {"rtt": [[0, rtt], [1, rtt]]}, "probes": []}}})))
    write_outputs(exp, out)
    page = build_experiment_report(out)
    exe = chromium()
    imgs, errors, n_fig = inspect_page(exe, page.as_uri(), tmp_path / "devtools")
    assert errors == [] and n_fig == len(imgs) == 2          # p95 RTT against each of the two parameters
    for img in imgs:
        assert img["complete"] and img["width"] > 300 and img["height"] > 150, img
    png = tmp_path / "experiment.png"
    screenshot(exe, page.as_uri(), png, tmp_path / "shot")
    for img in [i for i in imgs if i["box"][3] <= HEIGHT]:
        share, colours = ink(png, tuple(int(round(v)) for v in img["box"]))
        assert share > 0.02 and colours > 20, f"figure at {img['box']} looks empty"

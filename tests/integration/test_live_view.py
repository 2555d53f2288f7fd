"""The live view in a real headless Chromium (Debian's, driven by Playwright) during a real run of the
fiber-cut scenario, then `testbed view` replaying the bundle that run wrote.

Live: the map shows the scenario's cut within 2 s of the event; a click on "cut" for another link is
applied (the ping's RTT moves to the satellite's) and lands in results.json with source "live"; a wrong or
missing token gets 403; the page asks nothing of any host but 127.0.0.1. Replay: at scrubber time t the
links and the plotted values are those results.json holds at t.

TESTBED_DOC_SHOTS=1 also writes the screenshots to docs/img/ (docs/live.md shows them).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from conftest import ROOT, require_emulation

from testbed.pytest_plugin import skip_or_fail
from testbed.results.documents import plain, read_results

pytestmark = [pytest.mark.root, pytest.mark.emulation]

SCENARIO = ROOT / "scenarios" / "fiber-cut-failover.yaml"
SCALE = 0.5                       # 60 s scenario -> 30 s: the cut at 10 s, the splice at 20 s
SCENARIO_CUT = "internet--mithi-pop"
LIVE_CUT = "mithi-pop--tower-islamkot"   # with it cut, school-a reaches the server over the GEO backup
LIVE_CUT_AT = 24.0                # scenario s: OSPF back on the fiber after the splice; 6 s left to see the RTT
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
DOC_IMG = ROOT / "docs" / "img"


def browser(pw: Any) -> Any:
    exe = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(exe):
        skip_or_fail("chromium is not installed (apt-get install chromium, or `make setup`)")
    return pw.chromium.launch(executable_path=exe, args=FLAGS)


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def shot(page: Any, tmp: Path, name: str) -> None:
    page.screenshot(path=str(tmp / name))
    if os.environ.get("TESTBED_DOC_SHOTS"):
        DOC_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp / name, DOC_IMG / name)


class Proc:
    """A testbed command whose first URL line is read as it prints."""

    def __init__(self, argv: list[str]):
        self.proc = subprocess.Popen([sys.executable, "-m", "testbed.cli", *argv], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, cwd=ROOT)
        self.lines: list[str] = []
        self.url_ready = threading.Event()
        self.url = ""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            m = re.search(r"(http://127\.0\.0\.1:\d+/\?token=[\w-]+)", line)
            if m and not self.url:
                self.url = m.group(1)
                self.url_ready.set()

    def wait_url(self, timeout: float = 60) -> str:
        if not self.url_ready.wait(timeout):
            self.stop()
            pytest.fail("no live view URL printed:\n" + "".join(self.lines))
        return self.url

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()      # Ctrl-C's way out: results so far, then teardown
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def link_shown(page: Any, link: str) -> dict[str, Any]:
    """What the page shows for a link: its state in the page's data and on the map element."""
    return page.evaluate("""(id) => { const S = window.tbLive, l = S.links[id];
        return { up: l ? l.up : null, state: S.cy ? S.cy.getElementById('L:' + id).data('state') : null, t: S.t }; }""",
                         link)


def click_link(page: Any, link: str) -> None:
    """Click the link on the map, as a user does (at its midpoint on screen)."""
    xy = page.evaluate("""(id) => { const e = window.tbLive.cy.getElementById('L:' + id), p = e.renderedMidpoint(),
        r = document.getElementById('map').getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }""", link)
    page.mouse.click(xy[0], xy[1])
    page.wait_for_function("(id) => window.tbLive.selected && window.tbLive.selected.id === id", arg=link)


@pytest.fixture(scope="module")
def live_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The fiber-cut scenario run with --live and watched (and acted on) in Chromium; what was seen."""
    require_emulation()
    from playwright.sync_api import sync_playwright
    tmp = tmp_path_factory.mktemp("live")
    out = tmp / "run"
    run = Proc(["run", str(SCENARIO), "--time-scale", str(SCALE), "--live", "--out", str(out), "--no-report", "-q"])
    seen: dict[str, Any] = {"out": out, "tmp": tmp, "requests": []}
    try:
        url = run.wait_url()
        base = url.split("/?")[0]
        seen["base"], token = base, url.split("token=")[1]
        seen["no_token"] = status(base + "/")
        seen["wrong_token"] = status(base + "/?token=" + token[:-2] + "xx")
        seen["stream_no_token"] = status(base + "/api/stream")
        seen["with_token"] = status(url)
        with sync_playwright() as pw:
            b = browser(pw)
            page = b.new_context(viewport={"width": 1400, "height": 900}).new_page()
            page.on("request", lambda r: seen["requests"].append(r.url))
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(url)
            page.wait_for_function("() => window.tbLive && window.tbLive.mapBuilt", timeout=60_000)
            # the scenario's cut: when does the map first show it?
            deadline = time.time() + 120
            while time.time() < deadline and run.proc.poll() is None:
                shown = link_shown(page, SCENARIO_CUT)
                if shown["up"] is False and shown["state"] == "down":
                    seen["cut_shown_wall"] = time.time()
                    break
                page.wait_for_timeout(100)
            # after the splice, cut another link with the page's button
            page.wait_for_function(f"() => window.tbLive.t >= {LIVE_CUT_AT}", timeout=60_000)
            click_link(page, LIVE_CUT)
            page.click("#btn-cut")
            page.wait_for_function("() => document.getElementById('action-msg').textContent.startsWith('applied')",
                                   timeout=10_000)
            seen["action_msg"] = page.inner_text("#action-msg")
            page.wait_for_function("(id) => window.tbLive.links[id].up === false", arg=LIVE_CUT, timeout=10_000)
            page.mouse.move(5, 890)
            page.wait_for_timeout(3000)
            shot(page, tmp, "live.png")
            seen["update_ms"] = page.evaluate("() => window.tbLive.updateMs.slice(1)")
            seen["errors"] = errors
            b.close()
        run.proc.wait(timeout=180)
    finally:
        run.stop()
    seen["rc"] = run.proc.returncode
    seen["output"] = "".join(run.lines)
    yield seen


def test_the_live_page_shows_the_cut_acts_and_stays_on_loopback(live_run: dict[str, Any]) -> None:
    s = live_run
    assert s["rc"] in (0, 1), s["output"]            # 1: the live cut makes the last window's RTT miss
    assert (s["no_token"], s["wrong_token"], s["stream_no_token"], s["with_token"]) == (403, 403, 403, 200)
    doc = plain(read_results(s["out"] / "results.json"))
    cut = next(e for e in doc["events"] if e["kind"] == "link-down" and e["links"] == [SCENARIO_CUT]
               and not e["revert"])
    t0 = dt.datetime.fromisoformat(doc["started_at"]).timestamp()
    assert "cut_shown_wall" in s, "the map never showed the scenario's cut"
    lag = s["cut_shown_wall"] - (t0 + cut["t_s"])
    assert -0.2 < lag < 2.0, f"the map showed the cut {lag:.2f}s after it"
    live = [e for e in doc["events"] if e.get("source") == "live"]
    assert [(e["kind"], e["links"], e["ok"]) for e in live] == [("link-down", [LIVE_CUT], True)]
    assert s["action_msg"] == f"applied: link-down {LIVE_CUT}"
    assert all(e.get("source", "scenario") == "scenario" for e in doc["events"] if e not in live)
    # the click rerouted the ping: over the fiber before it, over the GEO satellite after
    rtt = doc["flows"]["probe"]["series"]["rtt"]
    t_cut = live[0]["t_s"]
    before = [v for t, v in rtt if t_cut - 2.5 <= t < t_cut]
    after = [v for t, v in rtt if t_cut + 2 <= t <= doc["scenario"]["duration_s"]]
    assert statistics.median(before) < 0.3 and statistics.median(after) > 0.5, (before, after)
    hosts = {urlparse(u).hostname for u in s["requests"] if not u.startswith("data:")}
    assert hosts == {"127.0.0.1"}, s["requests"]
    assert not s["errors"], s["errors"]


def test_view_replays_the_bundle_as_results_json_holds_it(live_run: dict[str, Any]) -> None:
    from playwright.sync_api import sync_playwright
    out, tmp = live_run["out"], live_run["tmp"]
    doc = plain(read_results(out / "results.json"))
    view = Proc(["view", str(out)])
    try:
        url = view.wait_url()
        with sync_playwright() as pw:
            b = browser(pw)
            page = b.new_context(viewport={"width": 1400, "height": 900}).new_page()
            page.goto(url)
            page.wait_for_function("() => window.tbLive && window.tbLive.frameT !== undefined", timeout=30_000)
            click_link(page, SCENARIO_CUT)
            for t in (15.0, 25.0):
                page.evaluate("(t) => window.tbLive.seek(t)", t)
                page.wait_for_function("(t) => window.tbLive.frameT === t", arg=t, timeout=10_000)
                page.wait_for_timeout(300)     # the selected link's history follows the frame
                for link in (SCENARIO_CUT, LIVE_CUT):
                    assert link_shown(page, link)["up"] is expected_up(doc, link, t), (link, t)
                    assert link_shown(page, link)["state"] == ("up" if expected_up(doc, link, t) else "down")
                rtt = [v for tt, v in doc["flows"]["probe"]["series"]["rtt"] if tt <= t]
                shown = page.evaluate("() => { const d = window.tbLive.plots['probe.rtt'].data; "
                                      "return [d[0][d[0].length - 1], d[1][d[1].length - 1]]; }")
                assert shown[1] == pytest.approx(rtt[-1] * 1e3)
                link_row = page.evaluate("() => { const d = window.tbLive.plots.__link.data; "
                                         "return [d[0][d[0].length - 1], d[1][d[1].length - 1]]; }")
                assert link_row == pytest.approx(expected_bps(doc, SCENARIO_CUT, t), rel=1e-3, abs=1e-6)
                if t == 15.0:
                    page.mouse.move(5, 890)
                    shot(page, tmp, "replay.png")
            b.close()
    finally:
        view.stop()


def expected_up(doc: dict[str, Any], link: str, t: float) -> bool:
    """Is the link up at t by results.json: no cut on it that had started by t and not yet ended."""
    return not any(e["kind"] == "link-down" and link in e["links"] and e["ok"] and not e["revert"]
                   and e["t_s"] <= t and (e["end_s"] is None or e["end_s"] > t) for e in doc["events"])


def expected_bps(doc: dict[str, Any], link: str, t: float) -> list[float]:
    """[time, a->b Mbit/s] of the last engine sample interval ending by t, from the stored counters."""
    samples = [x for x in doc["links"] if x["t"] <= t]
    a, b = samples[-2], samples[-1]
    bits = 8 * (b["stats"][link]["ab"]["bytes_out"] - a["stats"][link]["ab"]["bytes_out"])
    return [round(b["t"], 3), round(bits / (b["t"] - a["t"]), 1) / 1e6]

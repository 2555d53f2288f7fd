"""The live view at scale: a generated district's page in headless Chromium with every link changing each
second (no root, no network: the engine samples are synthetic). Page update time is the page's own time to
apply a batch and redraw (performance.now around it); server CPU is this process's CPU time over the
window (the server, its batcher and the sample feeder: the page and Chromium are other processes).
"to painted" runs on to the second animation frame after the batch: the map's redraw included."""

from __future__ import annotations

import os
import random
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from testbed.live.feed import Batcher, Feed
from testbed.live.model import LiveModel
from testbed.live.server import LiveServer
from testbed.topology.load import load_topology

from .district import district_yaml

TITLE = "Live view: page update time and server CPU at 1 Hz, every link changing (generated districts)"
SIZES = (100, 500)
WINDOW_S = 20
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


class Feeder(threading.Thread):
    """An engine sample a second with new counters on every link direction, as the EngineCollector's."""

    def __init__(self, feed: Feed, links: list[str]):
        super().__init__(daemon=True)
        self.feed, self.links, self.stop_evt = feed, links, threading.Event()
        self.bytes = dict.fromkeys(links, 0)
        self.rng = random.Random(1)
        self.t = 0.0

    def run(self) -> None:
        while not self.stop_evt.wait(1.0):
            self.t += 1.0
            stats = {}
            for lk in self.links:
                self.bytes[lk] += self.rng.randrange(1, 12_000_000)
                c = {"bytes_out": self.bytes[lk], "frames_out": self.bytes[lk] // 1500,
                     "drops": {"queue": self.rng.randrange(0, 3)}, "rate_bps": 1e8, "queue_depth": 1}
                stats[lk] = {"ab": c, "ba": dict(c)}
            with self.feed.lock:
                self.feed.model.apply_sample({"t": self.t, "stats": stats})
                self.feed.model.t = self.t


def row(n: int, tmp: Path) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright
    path = tmp / f"district-{n}.yaml"
    path.write_text(district_yaml(n, "ospf"))
    topo = load_topology(str(path))
    feed = Feed(LiveModel(topo, name=f"district-{n}", duration_s=3600, mode="live"), read_only=True)
    server = LiveServer(feed).start()
    batcher, feeder = Batcher(feed), Feeder(feed, [lk.name for lk in topo.links])
    batcher.start()
    feeder.start()
    try:
        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=FLAGS)
            page = b.new_page(viewport={"width": 1400, "height": 900})
            t_load = time.perf_counter()
            page.goto(server.url)
            page.wait_for_function("() => window.tbLive && window.tbLive.mapBuilt", timeout=120_000)
            load_s = time.perf_counter() - t_load
            page.wait_for_timeout(2000)
            cpu0, wall0, n0 = os.times(), time.monotonic(), len(feed.cut_s)
            page.wait_for_timeout(WINDOW_S * 1000)
            cpu1, wall1 = os.times(), time.monotonic()
            ms = page.evaluate("() => window.tbLive.updateMs.slice(1)")[-WINDOW_S:]
            paint = page.evaluate("() => window.tbLive.paintMs.slice(1)")[-WINDOW_S:]
            b.close()
    finally:
        feeder.stop_evt.set()
        batcher.stop()
        server.stop()
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    cuts = feed.cut_s[n0:]
    return {"routers": n, "nodes": len(topo.nodes), "links": len(topo.links), "first paint s": round(load_s, 2),
            "updates": len(ms), "update ms p50": round(statistics.median(ms), 1),
            "update ms max": round(max(ms), 1), "to painted ms p50": round(statistics.median(paint), 1),
            "to painted ms max": round(max(paint), 1), "batch cut ms p50": round(1e3 * statistics.median(cuts), 2),
            "server CPU %": round(100 * cpu / (wall1 - wall0), 1)}


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        return [row(n, Path(tmp)) for n in SIZES]


if __name__ == "__main__":
    from . import format_table
    print(format_table(run()))

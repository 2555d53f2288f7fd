"""Between a run and the page: the model under a lock, its changes batched once a second for every stream.

The runner's thread feeds it through on_progress (events as they are recorded, the engine sample the
EngineCollector took each second: the engine is not asked again); a batcher thread of its own reads the
flows' output and cuts a batch each second, so neither a slow tab nor the page's work slows the timeline.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from ..scenario.expect import evaluate
from .model import LIVE_METRICS, LiveModel
from .paths import Paths

if TYPE_CHECKING:
    from ..scenario.runner import Progress, ScenarioRun

log = logging.getLogger(__name__)

KEEP_BATCHES = 120       # a stream that fell further behind than this gets a fresh snapshot
JUDGE_AFTER_S = 2.0     # a window is judged this long after its end: the last probes' replies are in
LIVE_FLOW_KINDS = ("ping",)   # flows whose output can be read while they run (fping prints each reply)


class Feed:
    """The model, its batches (seq, changes) and the time each batch took to cut."""

    def __init__(self, model: LiveModel, *, read_only: bool):
        self.model = model
        self.read_only = read_only
        self.lock = threading.Lock()
        self.batches: collections.deque[tuple[int, dict[str, Any]]] = collections.deque(maxlen=KEEP_BATCHES)
        self.seq = 0
        self.cut_s: list[float] = []        # seconds each batch took (the bench reads them)
        self.wake = threading.Event()       # set: cut the next batch now (a state change to show)

    def snapshot(self) -> tuple[int, dict[str, Any]]:
        """The full state and the seq of the last batch it already includes."""
        with self.lock:
            return self.seq, self.model.snapshot()

    def since(self, seq: int) -> list[tuple[int, dict[str, Any]]] | None:
        """Batches after seq; None when some of them are gone (the stream must start over)."""
        with self.lock:
            if seq >= self.seq:
                return []
            if not self.batches or self.batches[0][0] > seq + 1:
                return None
            return [b for b in self.batches if b[0] > seq]

    def cut(self) -> None:
        """Close a batch: the changes since the last one (none: no batch)."""
        t0 = time.perf_counter()
        with self.lock:
            self.refresh()
            ch = self.model.changes()
            if ch["changes"] or ch["t"] != (self.batches[-1][1]["t"] if self.batches else None):
                self.seq += 1
                self.batches.append((self.seq, ch))
        self.cut_s.append(time.perf_counter() - t0)

    def refresh(self) -> None:
        """Read what has to be read before a batch (under the lock); a finished run has nothing."""

    def link_history(self, name: str) -> list[list[float | None]] | None:
        with self.lock:
            if name not in self.model.links:
                return None
            return list(self.model.history.get(name, []))


class Batcher(threading.Thread):
    """Cuts the feed's batch once a second until stopped."""

    def __init__(self, feed: Feed, period_s: float = 1.0):
        super().__init__(name="live-batcher", daemon=True)
        self.feed = feed
        self.period_s = period_s
        self._stop_evt = threading.Event()

    def run(self) -> None:
        next_s = time.monotonic() + self.period_s
        while not self._stop_evt.is_set():
            # an event (a cut, a power-off) goes out at once; counters and series wait for the second
            self.feed.wake.wait(max(0.0, next_s - time.monotonic()))
            self.feed.wake.clear()
            if self._stop_evt.is_set():
                return
            if time.monotonic() >= next_s:
                next_s += self.period_s * max(1, int((time.monotonic() - next_s) / self.period_s) + 1)
            try:
                self.feed.cut()
            except Exception:  # noqa: BLE001 - the page must never stop the run
                log.exception("live view: a batch failed")

    def stop(self) -> None:
        self._stop_evt.set()
        self.feed.wake.set()
        if self.is_alive():
            self.join(timeout=5)


class RunFeed(Feed):
    """A running scenario's feed: on_progress takes the runner's reports."""

    def __init__(self, model: LiveModel):
        super().__init__(model, read_only=False)
        self.run: ScenarioRun | None = None
        self.paths: Paths | None = None

    def on_progress(self, p: Progress) -> None:
        with self.lock:
            self.model.t = max(self.model.t, p.t)
            if p.kind == "start":
                self.model.status = "running" if p.run is not None else "settling"
                if p.run is not None:
                    self.run = p.run
                    self.paths = Paths(p.run.tb.plan)
                    for r in p.run.runners:
                        self.model.add_flow(r.spec.name, r.spec.kind)
            elif p.kind == "event" and p.record is not None:
                self.model.apply_event(dict(p.record.to_doc()))
                self.wake.set()
            elif p.kind == "tick" and p.sample is not None:
                self.model.apply_sample(p.sample)
            elif p.kind == "end":
                self.model.status = p.text

    def flow_paths(self, run: ScenarioRun) -> None:
        """Each flow's path now: the routers' tables as last sampled, else the plan's routes."""
        if self.paths is None:
            return
        rc = run.route_collector
        tables = dict(rc.tables) if rc is not None else {}
        for r in run.runners:
            src, dst = r.spec.src, r.spec.dst
            if src in self.paths.plan.nodes and dst in self.paths.plan.nodes:
                self.model.set_path(r.spec.name, self.paths.path(src, dst, tables).doc())

    def refresh(self) -> None:
        """The flows that print as they go: their series so far (read here, not in the runner's thread)."""
        run = self.run
        if run is None:
            return
        if run.fault_context is not None:      # what the faults set each direction to (one-way cuts)
            current = list(run.fault_context.params.current.items())
            self.model.set_losses({k: p.loss_prob for k, p in current})
        self.flow_paths(run)
        for r in run.runners:
            if r.spec.kind not in LIVE_FLOW_KINDS or r.started_at is None:
                continue
            try:
                fr = r.result()
            except Exception as e:  # noqa: BLE001 - a half-written output is expected; try again next second
                log.debug("live view: reading %s: %s", r.spec.name, e)
                continue
            for metric, pts in fr.series.items():
                if metric in LIVE_METRICS:
                    self.model.set_series(r.spec.name, metric, pts)
            self.judge(run, r.spec.name, fr.series, fr.probes)

    def judge(self, run: ScenarioRun, flow: str, series: dict[str, list[tuple[float, float]]],
              probes: list[tuple[float, bool]]) -> None:
        """Judge each expectation on `flow` whose window has ended, by the run's own evaluator, on the
        samples so far. The run's end judges them again on everything: results.json's verdict is the one."""
        for e in run.sc.expect:
            if e.target != flow or e.window is None or self.model.t < e.window.end_s + JUDGE_AFTER_S:
                continue
            if any(v["expr"] == e.text for v in self.model.verdicts):
                continue
            self.model.add_verdict(dict(evaluate(e, series, probes).to_dict(), at_s=e.window.end_s))

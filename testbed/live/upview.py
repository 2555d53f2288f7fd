"""`testbed up --live`: the live page on a network held open at the prompt. No timeline runs there, so
this samples the link engine itself once a second (the counters the EngineCollector reads during a run)
and plays the page's actions as the prompt plays a typed fault (scenario.live.play)."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from ..errors import TestbedError, UsageError
from ..scenario import live
from .actions import words_for
from .feed import Feed
from .model import LiveModel

if TYPE_CHECKING:
    from ..network import Network

log = logging.getLogger(__name__)


class UpFeed(Feed):
    """A feed over a network at the prompt: engine samples of its own, actions played now."""

    def __init__(self, tb: Network):
        topo = tb.plan.topology
        super().__init__(LiveModel(topo, name=topo.name, duration_s=0.0, mode="live"), read_only=False)
        self.model.status = "up"
        self.tb = tb
        self.t0 = time.monotonic()
        self._seq = itertools.count()
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, name="live-sampler", daemon=True)
        self._acting = threading.Lock()       # one action at a time, as at the prompt

    def start(self) -> None:
        self._sampler.start()

    def stop(self) -> None:
        self._stop.set()

    def _sample(self) -> None:
        while not self._stop.wait(1.0):
            try:
                stats = self.tb.link_stats()
            except Exception as e:  # noqa: BLE001 - torn down under us, or the engine died: the page just stops
                log.debug("live view: engine stats: %s", e)
                continue
            if stats is None:
                continue
            with self.lock:
                self.model.apply_sample({"t": time.monotonic() - self.t0, "stats": stats})

    def act(self, action: dict[str, Any]) -> str:
        kind, words = words_for(action)
        sc = live.prompt_event(self.tb.plan.topology, kind, words)
        ev = sc.events[0]
        with self._acting:
            t = time.monotonic() - self.t0
            error = None
            try:
                live.play(sc, self.tb)
            except TestbedError as e:
                error = str(e)
            doc = {"seq": next(self._seq), "kind": kind, "label": ev.label(), "scheduled_s": round(t, 3),
                   "t_s": round(t, 3), "event": None, "links": [ev.options["link"]] if "link" in ev.options else [],
                   "nodes": [ev.options["node"]] if "node" in ev.options else [], "revert": False, "closes": None,
                   "end_s": None, "ok": error is None, "error": error, "source": "live"}
            with self.lock:
                self.model.apply_event(doc)
            self.wake.set()
        if error is not None:
            raise UsageError(f"{ev.label()} failed: {error}")
        return ev.label()


"""A finished run on the live page: the view at any scenario time t, rebuilt from results.json's events,
engine samples and flow series (read through results.documents, the one reader), read-only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputError
from ..results.documents import RESULTS_FILE, plain, read_results
from ..topology.model import Topology
from .feed import Feed
from .model import LIVE_METRICS, LiveModel, positions

BUNDLE_TOPOLOGY = "topology.yaml"     # the copy `testbed run` keeps beside results.json


def load_bundle(run_dir: str | Path) -> tuple[dict[str, Any], Topology]:
    """results.json and the bundle's own copy of the topology (the paths named inside are not followed)."""
    from ..report.bundle import load_bundle_topology
    d = Path(run_dir)
    if d.is_file():
        d = d.parent
    doc = plain(read_results(d / RESULTS_FILE))
    path = d / BUNDLE_TOPOLOGY
    if not path.is_file() or path.is_symlink():
        raise InputError(f"{d}: the bundle holds no {BUNDLE_TOPOLOGY} (a run from before the copy was kept): "
                         "the live view has no map to draw")
    return doc, load_bundle_topology(d)


def frame(doc: dict[str, Any], topo: Topology, t: float,
          pos: tuple[dict[str, tuple[float, float]], bool] | None = None) -> LiveModel:
    """The model as the live page showed it at scenario time t: events fired by t, the rates of the engine
    sample interval ending at or before t, each flow's samples up to t."""
    sc = doc["scenario"]
    m = LiveModel(topo, name=sc["name"], duration_s=float(sc["duration_s"]), mode="replay", pos=pos)
    m.status = doc["status"]
    for ev in doc["events"]:
        if ev["t_s"] <= t:
            m.apply_event(ev)
    samples = [s for s in doc["links"] if s["t"] <= t]
    for s in samples:      # every one: the selected link's history is the plot's
        m.apply_sample(s)
    m.t = t
    for v in doc.get("verdicts") or []:      # judged once its window ended (a windowless one: at the end)
        at = v["window"][1] if v.get("window") else float(sc["duration_s"])
        if at <= t:
            m.add_verdict(dict(v, at_s=at))
    for name, f in doc["flows"].items():
        m.add_flow(name, f["kind"])
        for metric, pts in f["series"].items():
            if metric in LIVE_METRICS:
                m.set_series(name, metric, [p for p in pts if p[0] <= t and p[1] is not None])
    return m


class ReplayFeed(Feed):
    """A finished bundle: no stream of changes, a frame at any t on request."""

    def __init__(self, doc: dict[str, Any], topo: Topology):
        self.doc = doc
        self.topo = topo
        self.pos = positions(topo)       # once: every frame draws the same map
        self.end_s = max([float(doc["elapsed_s"])] + [float(s["t"]) for s in doc["links"][-1:]])
        super().__init__(frame(doc, topo, self.end_s, self.pos), read_only=True)

    def snapshot(self) -> tuple[int, dict[str, Any]]:
        seq, snap = super().snapshot()
        return seq, dict(snap, end_s=self.end_s)

    def frame(self, t: float) -> dict[str, Any]:
        t = min(max(0.0, t), self.end_s)
        snap = frame(self.doc, self.topo, t, self.pos).snapshot()
        # the timeline shows what is still to come at t, as the live page shows a scenario's upcoming events
        snap["upcoming"] = [{"t_s": e["t_s"], "label": e["label"]} for e in self.doc["events"]
                            if e["t_s"] > t and e["kind"] != "traffic"]
        snap["end_s"] = self.end_s
        return snap

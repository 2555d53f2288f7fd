"""What the live page shows, as plain data: the map's nodes and links with their state, the events, the
flows' series. Pure: fed event documents and engine samples, it gives a snapshot or the changes since the
last call. The same model serves a running network and the replay of a finished one."""

from __future__ import annotations

from typing import Any

from ..results.contract import NOT_FAULTS
from ..topology.model import Topology

CUT_KINDS = ("link-down", "flap", "partition")     # an open record of these: the link has no carrier
BLACKHOLE_KINDS = ("blackhole",)                   # carrier kept, every frame dropped
OFF_KINDS = ("node-down", "schedule", "battery")   # an open record of these on a node: it is off
LIVE_METRICS = ("rtt", "throughput", "loss", "delay", "mos", "jitter")   # flow series the page plots
HISTORY_MAX = 3600      # link history points kept per link (an hour at 1 Hz): the page asks for one link's


def _direction(p: Any) -> dict[str, Any]:
    """A direction's nominal impairments, for the hover."""
    return {"rate_bps": p.rate_bps, "delay_s": p.delay_s, "jitter_s": p.jitter_s, "loss_prob": p.loss_prob,
            "bursty_loss": p.loss_ge is not None, "queue_packets": p.queue_packets, "aqm": p.aqm.kind if p.aqm else None}


def positions(topo: Topology) -> tuple[dict[str, tuple[float, float]], bool]:
    """Map positions: from the sites when the topology has them, else a stable layout (computed once)."""
    from ..viz.topomap import layout
    return layout(topo)


class LiveModel:
    """The page's state. Not thread-safe: feed.Feed holds it under a lock."""

    def __init__(self, topo: Topology, *, name: str, duration_s: float, mode: str,
                 pos: tuple[dict[str, tuple[float, float]], bool] | None = None,
                 upcoming: list[dict[str, Any]] | None = None):
        xy, geo = pos if pos is not None else positions(topo)
        self.mode = mode                    # "live" | "replay"
        self.name = name
        self.duration_s = duration_s
        self.geo = geo
        self.t = 0.0
        self.status = "starting"
        self.nodes: dict[str, dict[str, Any]] = {
            n.name: {"id": n.name, "kind": n.kind, "x": round(xy.get(n.name, (0.0, 0.0))[0], 6),
                     "y": round(xy.get(n.name, (0.0, 0.0))[1], 6), "off": False} for n in topo.nodes}
        self.links: dict[str, dict[str, Any]] = {}
        self._built_up: dict[str, bool] = {}
        for lk in topo.links:
            self._built_up[lk.name] = lk.up
            self.links[lk.name] = {
                "id": lk.name, "a": lk.a.node, "b": lk.b.node, "up": lk.up, "blackhole": False, "faults": [],
                "dirs": {d: {"nominal": _direction(getattr(lk.params, d)), "rate_bps": getattr(lk.params, d).rate_bps,
                             "bps": 0.0, "util": 0.0, "drops": 0, "queue": 0,
                             # the loss in effect as the faults set it; 100 %: this direction is cut
                             "loss_prob": getattr(lk.params, d).loss_prob, "cut": False} for d in ("ab", "ba")}}
        self.events: list[dict[str, Any]] = []
        self.upcoming = list(upcoming or [])
        self.flows: dict[str, dict[str, Any]] = {}        # name -> {kind, series: {metric: [[t, v]]}}
        self.verdicts: list[dict[str, Any]] = []          # expectations judged so far (window ended), in order
        self.history: dict[str, list[list[float | None]]] = {}   # link -> [[t, ab bit/s, ba bit/s, ab rate, ba rate]]
        self._open: dict[int, dict[str, Any]] = {}        # seq -> the event document still in effect
        self._prev: dict[str, Any] | None = None          # the engine sample before the last
        self._sent_nodes: dict[str, dict[str, Any]] = {}
        self._sent_links: dict[str, dict[str, Any]] = {}
        self._sent_events = 0
        self._sent_points: dict[tuple[str, str], int] = {}
        self._sent_status = ""
        self._sent_paths: dict[str, Any] = {}
        self._sent_verdicts = 0
        self.mark_sent()

    # ---- inputs

    def add_flow(self, name: str, kind: str) -> None:
        self.flows.setdefault(name, {"kind": kind, "series": {}})

    def set_series(self, flow: str, metric: str, points: list[list[float]] | list[tuple[float, float]]) -> None:
        """A flow's series so far (the whole of it: the page receives only the new points)."""
        self.flows.setdefault(flow, {"kind": "", "series": {}})["series"][metric] = [list(p) for p in points]

    def apply_event(self, doc: dict[str, Any]) -> None:
        """A results.json event document: what it opened or closed changes the links' and nodes' state."""
        self.events.append(dict(doc))
        if not doc.get("ok", True):
            return
        if doc.get("closes") is not None:
            self._open.pop(int(doc["closes"]), None)
        elif doc["kind"] in ("link-up", "node-up"):       # standalone: ends whatever cut / powered it off
            targets = set(doc.get("links") or []) | set(doc.get("nodes") or [])
            kinds = CUT_KINDS if doc["kind"] == "link-up" else OFF_KINDS
            for seq, o in list(self._open.items()):
                if o["kind"] in kinds and targets & (set(o.get("links") or []) | set(o.get("nodes") or [])):
                    del self._open[seq]
        elif doc["kind"] not in NOT_FAULTS and not doc.get("revert"):
            self._open[int(doc["seq"])] = doc
        self._derive()

    def _derive(self) -> None:
        off = {n for o in self._open.values() if o["kind"] in OFF_KINDS for n in o.get("nodes") or []}
        for name, n in self.nodes.items():
            n["off"] = name in off
        for name, lk in self.links.items():
            on_it = [o for o in self._open.values() if name in (o.get("links") or [])]
            cut = any(o["kind"] in CUT_KINDS for o in on_it)
            # a powered-off end takes the carrier with it
            lk["up"] = self._built_up[name] and not cut and lk["a"] not in off and lk["b"] not in off
            lk["blackhole"] = any(o["kind"] in BLACKHOLE_KINDS for o in on_it)
            lk["faults"] = sorted({o["label"] for o in on_it})

    def set_path(self, flow: str, path: dict[str, Any]) -> None:
        """The path the flow's packets take now (paths.FlowPath.doc())."""
        self.flows.setdefault(flow, {"kind": "", "series": {}})["path"] = path

    def add_verdict(self, doc: dict[str, Any]) -> None:
        """An expectation judged (a Verdict.to_dict() with `at_s`, when it could be: its window's end)."""
        if all(v["expr"] != doc["expr"] for v in self.verdicts):
            self.verdicts.append(dict(doc))

    def set_losses(self, losses: dict[tuple[str, str], float]) -> None:
        """The loss in effect on each (link, direction), as the fault machinery set it: a direction whose
        loss is 100 % is cut one way (the carrier stays, so the link is not down)."""
        for (name, d), loss in losses.items():
            view = self.links.get(name, {}).get("dirs", {}).get(d)
            if view is not None:
                view.update(loss_prob=loss, cut=loss >= 1.0)

    def apply_sample(self, sample: dict[str, Any]) -> None:
        """One engine sample ({t, stats: {link: {ab, ba: counters}}}): rates since the previous one."""
        t = float(sample["t"])
        prev = self._prev
        dt = t - float(prev["t"]) if prev is not None else 0.0
        if prev is not None and dt <= 0:
            return
        self.t = max(self.t, t)
        for name, dirs in (sample.get("stats") or {}).items():
            lk = self.links.get(name)
            if lk is None:
                continue
            row: list[float | None] = [round(t, 3)]
            for d in ("ab", "ba"):
                c = dirs.get(d)
                view = lk["dirs"][d]
                if not c:
                    row.append(None)
                    continue
                rate = c.get("rate_bps", view["nominal"]["rate_bps"])
                drops = sum((c.get("drops") or {}).values())
                p = (prev["stats"].get(name) or {}).get(d) if prev is not None else None
                if p is not None:
                    bps = max(0.0, 8 * (c["bytes_out"] - p["bytes_out"]) / dt)
                    new_drops = max(0, drops - sum((p.get("drops") or {}).values()))
                else:
                    bps, new_drops = 0.0, 0
                view.update(rate_bps=rate, bps=round(bps, 1), util=round(bps / rate, 4) if rate else 0.0,
                            drops=new_drops, queue=c.get("queue_depth", 0))
                row.append(round(bps, 1))
            row += [lk["dirs"]["ab"]["rate_bps"], lk["dirs"]["ba"]["rate_bps"]]
            if prev is not None:
                hist = self.history.setdefault(name, [])
                hist.append(row)
                del hist[:-HISTORY_MAX]
        self._prev = sample

    # ---- outputs

    def snapshot(self) -> dict[str, Any]:
        """Everything the page needs to draw from nothing (a new tab)."""
        return {"mode": self.mode, "name": self.name, "duration_s": self.duration_s, "t": round(self.t, 3),
                "status": self.status, "geo": self.geo, "nodes": list(self.nodes.values()),
                "links": list(self.links.values()), "events": list(self.events), "upcoming": self.upcoming,
                "flows": self.flows, "verdicts": list(self.verdicts)}

    def changes(self) -> dict[str, Any]:
        """What changed since the last call, typed: link, node, event, metrics (and the time and status)."""
        out: list[dict[str, Any]] = []
        for name, n in self.nodes.items():
            if self._sent_nodes.get(name) != n:
                out.append({"type": "node", **n})
        for name, lk in self.links.items():
            if self._sent_links.get(name) != lk:
                out.append({"type": "link", **lk})
        for ev in self.events[self._sent_events:]:
            out.append({"type": "event", "event": ev})
        for flow, f in self.flows.items():
            for metric, pts in f["series"].items():
                done = self._sent_points.get((flow, metric), 0)
                if len(pts) > done:
                    out.append({"type": "metrics", "flow": flow, "kind": f["kind"], "metric": metric,
                                "points": pts[done:]})
        for v in self.verdicts[self._sent_verdicts:]:
            out.append({"type": "verdict", "verdict": v})
        for flow, f in self.flows.items():
            if f.get("path") is not None and self._sent_paths.get(flow) != f["path"]:
                out.append({"type": "path", "flow": flow, **f["path"]})
        self.mark_sent()
        return {"t": round(self.t, 3), "status": self.status, "changes": out}

    def mark_sent(self) -> None:
        self._sent_nodes = {k: dict(v) for k, v in self.nodes.items()}
        self._sent_links = {k: {**v, "dirs": {d: dict(x) for d, x in v["dirs"].items()}, "faults": list(v["faults"])}
                            for k, v in self.links.items()}
        self._sent_events = len(self.events)
        self._sent_points = {(f, m): len(p) for f, fl in self.flows.items() for m, p in fl["series"].items()}
        self._sent_status = self.status
        self._sent_verdicts = len(self.verdicts)
        self._sent_paths = {f: fl.get("path") for f, fl in self.flows.items()}

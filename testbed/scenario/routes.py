"""Routing changes over a run: each router's kernel routing table sampled once a second, diffed.

OSPF's work is visible in the tables it installs, so a fiber cut shows up as the moment the
routes to the far side move to the satellite interface and back. Read with `ip -j route` inside
each router's namespace (the same view the kernel forwards with).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from ..errors import TestbedError

if TYPE_CHECKING:
    import subprocess

    from ..network import Network

log = logging.getLogger(__name__)


def route_table(ip_json: str) -> dict[str, str]:
    """`ip -j route` output -> {destination: "via X dev Y" or "dev Y"} (pure)."""
    out: dict[str, str] = {}
    try:
        routes = json.loads(ip_json or "[]")
    except json.JSONDecodeError:
        return out
    for r in routes:
        dest = r.get("dst", "")
        if not dest:
            continue
        hop = f"via {r['gateway']} dev {r.get('dev', '?')}" if r.get("gateway") else f"dev {r.get('dev', '?')}"
        if "linkdown" in r.get("flags", []):
            hop += " (linkdown)"
        out[dest] = hop
    return out


def dump_problem(cp: subprocess.CompletedProcess[str]) -> str | None:
    """Why an `ip -j route` run is no table at all, or None when it is one (pure).

    A failed dump must not be read as an empty table: that would record every route as gone
    (and back again at the next good sample), changes the network never made."""
    if cp.returncode != 0:
        lines = (cp.stderr or "").strip().splitlines()
        return f"exit {cp.returncode}" + (f": {lines[-1]}" if lines else "")
    try:
        routes = json.loads(cp.stdout)
    except (json.JSONDecodeError, TypeError):
        return "output is not JSON"
    if not isinstance(routes, list):
        return "output is not a JSON list"
    return None


def diff(t: float, node: str, before: dict[str, str], after: dict[str, str]) -> list[dict[str, Any]]:
    """One change record per destination whose next hop appeared, went or moved (pure)."""
    return [{"t": round(t, 3), "node": node, "dest": d, "before": before.get(d), "after": after.get(d)}
            for d in sorted(set(before) | set(after)) if before.get(d) != after.get(d)]


class RouteCollector(threading.Thread):
    """Samples every router's table each `period_s`; `changes` lists what moved, when."""

    def __init__(self, tb: Network, t0_mono: float, period_s: float = 1.0):
        super().__init__(name="route-collector", daemon=True)
        self.tb = tb
        self.t0 = t0_mono
        self.period_s = period_s
        self.routers = [n for n, pn in tb.plan.nodes.items() if pn.kind == "router"]
        self.tables: dict[str, dict[str, str]] = {}
        self.changes: list[dict[str, Any]] = []
        self._stop_evt = threading.Event()

    def sample(self) -> None:
        for node in self.routers:
            try:
                cp = self.tb.node(node).ctl(["ip", "-j", "route", "show"], timeout=5)
            except TestbedError as e:
                log.warning("routes of %s: %s", node, e)
                continue
            problem = dump_problem(cp)
            if problem is not None:
                # keep the previous table: this sample says nothing about the routes
                log.warning("routes of %s: sample skipped, `ip -j route show` failed (%s)", node, problem)
                continue
            table = route_table(cp.stdout)
            t = time.monotonic() - self.t0
            if node in self.tables:
                self.changes += diff(t, node, self.tables[node], table)
            self.tables[node] = table

    def run(self) -> None:
        while not self._stop_evt.wait(self.period_s):
            self.sample()

    def stop(self) -> None:
        self._stop_evt.set()

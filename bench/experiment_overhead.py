"""Per-point overhead of an experiment: a fresh network for every run against the running network reused and
reset (testbed.experiment.runs.Networks), on the same topologies in the same run, beside plain Mininet.

The overhead of a point is what passes between one run's timeline and the next's: for a fresh network the
teardown of the one before plus the bring-up (setup) and the wait until every node reaches every other
(settle: routing convergence); for a reused one the reset (new link parameters, queues emptied, counters
zeroed, caches flushed) plus the same settle. Each point changes the queue of one engine link, as a
`links.<link>.queue` sweep does, and sends a little traffic so the reset has something to clear.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import time
from dataclasses import replace
from pathlib import Path

from testbed.topology.load import load_topology
from testbed.topology.model import Topology
from testbed.topology.plan import Plan, make_plan

TITLE = "Experiment per-point overhead: fresh network vs reused and reset"
ROOT = Path(__file__).resolve().parents[1]
TOPOLOGIES = (("bloat (2 hosts, static)", ROOT / "tests/unit/fixtures/scenario/bloat-topo.yaml"),
              ("remote-valley-geo (static)", ROOT / "topologies/remote-valley-geo.yaml"),
              ("school-leo-backup (OSPF)", ROOT / "topologies/school-leo-backup.yaml"))
POINTS = (20, 50, 100, 200)          # the swept queue sizes (packets)


def _with_queue(topo: Topology, q: int) -> Plan:
    plan = make_plan(topo)
    name = next(lk.name for lk in plan.links if lk.backend == "engine")
    links = tuple(replace(lk, params=replace(lk.params, ab=replace(lk.params.ab, queue_packets=q, queue_bytes=None),
                                             ba=replace(lk.params.ba, queue_packets=q, queue_bytes=None)))
                  if lk.name == name else lk for lk in topo.links)
    return make_plan(replace(topo, links=links))


def _sweep(label: str, topo: Topology, fresh: bool) -> dict:
    from testbed.experiment.runs import Networks
    from testbed.scenario.model import Scenario
    setup, settle, per_point, ways = [], [], [], []
    plans = [_with_queue(topo, q) for q in POINTS]
    ends = [n for n, pn in plans[0].nodes.items() if pn.kind not in ("switch", "external")]
    with Networks(fresh=fresh) as nets:
        for plan in plans:
            t0 = time.monotonic()
            tb, net = nets.get(plan)
            t1 = time.monotonic()
            tb.wait_reachable(timeout_s=60)
            t2 = time.monotonic()
            setup.append(t1 - t0)
            settle.append(t2 - t1)
            per_point.append(t2 - t0)
            ways.append(net["way"])
            # a short burst, as a run would leave queues and caches behind
            tb.node(ends[0]).cmd(["ping", "-q", "-c", "30", "-i", "0.01", tb.address_of(ends[-1])], timeout=30)
            # a run with traffic only (no events) that passed: what decides whether the next one may reuse
            nets.done(Scenario("bench", "", str(topo.file), plan.topology, 1, 1.0, (), (), ()), plan, "passed")
        t3 = time.monotonic()
    down = time.monotonic() - t3
    # the first point builds a network either way: the per-point figures are over the points after it
    rest = per_point[1:]
    return {"network": label, "way": "fresh" if fresh else "reused", "points": len(plans),
            "reused": ways.count("reused"), "setup_s": statistics.mean(setup[1:]),
            "settle_s": statistics.mean(settle[1:]), "per_point_s": statistics.mean(rest),
            "per_point_max_s": max(rest), "first_point_s": per_point[0], "last_teardown_s": down}


def _mininet() -> dict:
    t0 = time.monotonic()
    cp = subprocess.run(["mn", "--topo", "linear,2", "--switch", "lxbr", "--controller", "none", "--test", "none"],
                        capture_output=True, text=True, timeout=600)
    total = time.monotonic() - t0
    return {"network": "plain mn linear,2 (start+stop)" + ("" if cp.returncode == 0 else ": mn failed"),
            "way": "baseline", "per_point_s": total}


def run() -> list[dict]:
    rows = []
    if shutil.which("mn"):
        rows.append(_mininet())
    for label, path in TOPOLOGIES:
        topo = load_topology(path)
        for fresh in (True, False):
            rows.append(_sweep(label, topo, fresh))
    return rows

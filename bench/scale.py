"""Scaling: generated districts (bench/district.py) of 100-500 routers, OSPF and static, beside
plain Mininet in the same run.

Each row: bring-up (`up_s`: nodes, engine links, addresses, FRR daemons), the O(n) readiness
wait (`converged_s`: adjacencies Full, every router's table complete, pings along the longest
paths), teardown (`down_s`), the machine's peak memory above its idle level while the network
lived (`peak_mib`, sampled every 0.5 s from /proc/meminfo), the proportional memory of one router
(`router_kib`: zebra + ospfd + node shell), and whether anything was left after teardown.
Plain Mininet: `mn --topo linear,N --switch lxbr --controller none --test none` as one command
(N hosts + N switches, build and teardown, no routing).

The districts' backhaul links are unnumbered (bench/district.py); `ospf-numbered` gives every link a
/30 instead, the same network with ~1,260 routes per router at 500 instead of ~550.

BENCH_SCALE="ospf:100,ospf:500,static:100,mn:100" picks the rows (default: all of ROWS).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from testbed.topology.load import load_topology
from testbed.topology.plan import make_plan

from .district import district_yaml

TITLE = "Scaling: generated OSPF/static districts vs plain Mininet (bring-up, convergence, teardown, memory)"
ROWS = ("ospf:100", "ospf:300", "ospf:500", "ospf-numbered:500", "static:100", "static:500", "mn:100", "mn:300")


def _mem_used_kib() -> int:
    info = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        k, v = line.split(":", 1)
        info[k] = int(v.split()[0])
    return info["MemTotal"] - info["MemAvailable"]


class PeakMemory:
    """The highest memory use above the level at start, sampled in a thread."""

    def __init__(self, every_s: float = 0.5) -> None:
        self.base = _mem_used_kib()
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, args=(every_s,), daemon=True)

    def _run(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            self.peak = max(self.peak, _mem_used_kib() - self.base)

    def __enter__(self) -> PeakMemory:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


def district_row(kind: str, n: int, tmp: str) -> dict:
    from testbed.emulation import Testbed
    from testbed.emulation.clean import leftovers
    routing, numbered = kind.removesuffix("-numbered"), kind.endswith("-numbered")
    path = Path(tmp) / f"district-{kind}-{n}.yaml"
    path.write_text(district_yaml(n, routing, numbered=numbered))
    plan = make_plan(load_topology(str(path)))
    row: dict = {"network": f"district {kind} {n}", "routers": n, "nodes": len(plan.nodes),
                 "links": len(plan.links)}
    with PeakMemory() as peak:
        tb = Testbed(plan)
        t0 = time.monotonic()
        try:
            tb.start()
            row["up_s"] = time.monotonic() - t0
            rd = tb.wait_converged(timeout_s=300)
            row["converged_s"] = rd.waited_s
            row["up+converged_s"] = row["up_s"] + rd.waited_s
            row["probe_hops"] = max((p["hops"] for p in rd.pings), default=0)
            mem = tb.memory()
            row["router_kib"] = mem["per_router_kb"]["total"] if routing == "ospf" else mem["per_router_kb"]["shell"]
        finally:
            t1 = time.monotonic()
            tb.stop()
            row["down_s"] = time.monotonic() - t1
    row["peak_mib"] = peak.peak / 1024
    left = leftovers(tb.run_id)
    row["left"] = len(left) or "nothing"
    return row


def mininet_row(n: int) -> dict:
    with PeakMemory() as peak:
        t0 = time.monotonic()
        cp = subprocess.run(["mn", "--topo", f"linear,{n}", "--switch", "lxbr", "--controller", "none",
                             "--test", "none"], capture_output=True, text=True, timeout=1200)
        total = time.monotonic() - t0
    return {"network": f"plain mn linear,{n}" + ("" if cp.returncode == 0 else " (FAILED)"), "routers": 0,
            "nodes": 2 * n, "links": 2 * n - 1, "up+converged_s": None, "down_s": None, "total_s": total,
            "peak_mib": peak.peak / 1024}


def one_row(spec: str, tmp: str) -> dict:
    kind, n = spec.split(":")
    if kind == "mn":
        return mininet_row(int(n))
    row = district_row(kind, int(n), tmp)
    row["total_s"] = row.get("up+converged_s", 0) + row.get("down_s", 0)
    return row


def run() -> list[dict]:
    """Every row is printed (stderr) as it finishes, and a row that fails is kept with its error
    instead of ending the benchmark: one slow network must not cost the rows after it."""
    rows = []
    wanted = os.environ.get("BENCH_SCALE", ",".join(ROWS)).split(",")
    with tempfile.TemporaryDirectory(prefix="testbed-bench-") as tmp:
        for spec in wanted:
            if spec.startswith("mn:") and not shutil.which("mn"):
                continue
            try:
                row = one_row(spec, tmp)
            except Exception as e:  # noqa: BLE001 - reported in the table
                row = {"network": spec, "error": f"{type(e).__name__}: {str(e)[:160]}"}
            print(f"  {spec}: " + ", ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                                          for k, v in row.items()), file=sys.stderr, flush=True)
            rows.append(row)
    return rows

"""Engine speed beside plain veth in one run: the issue 29 rows.

- pass-through: one engine link with no impairment vs one veth pair, unpaced iperf3 UDP (bench/engine.py's
  measurement), frames/s delivered to the iperf3 receiver, at 1514 and 64 B;
- through a router: one CUBIC TCP flow (iperf3, 10 s) from a to b across router r, on two unimpaired
  engine links vs two veth links, each a Testbed with static routing and the pinned environment
  (offloads off, pfifo_fast), so every frame on both paths is at most one MTU.

Each measurement is repeated BENCH_SPEED_REPEATS times (default 3), veth and engine back to back each
time, so a busy spell of the shared machine hits both sides of a pair: engine and veth are medians,
x_veth the median of the pairs' ratios with their range; target is the issue's "Done when". The router
row is run for every engine count of BENCH_ENGINES (bench/engine_district.py's rule): with two engines
each link may sit in a daemon of its own. lat_p99_ms, cpu_us_per_frame (the engine processes' user + sys
time per frame written) and retransmits (engine / veth) are the last repetition's.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from bench.nspair import NsPair
from testbed.emulation import Testbed
from testbed.engine.client import EngineClient, EngineProcess
from testbed.linkparams import DirectionParams as P
from testbed.topology.load import load_topology
from testbed.topology.plan import Plan, make_plan

from .engine import _udp_blast
from .engine_district import cpu_s, engine_counts, engine_pids, testbed_kwargs

TITLE = "Engine speed vs veth (issue 29): pass-through link, CUBIC through a router"
TCP_SECONDS = 10
TARGETS = {1514: 0.8, 64: 0.6, "router": 0.5}


def router_topology(backend: str) -> dict:
    """a -- r -- b, both links unimpaired on `backend` (engine or veth)."""
    return {"name": f"speed-router-{backend}", "defaults": {"routing": "static", "backend": backend},
            "nodes": {"a": {"kind": "host"}, "r": {"kind": "router"}, "b": {"kind": "host"}},
            "links": [{"endpoints": ["a", "r"]}, {"endpoints": ["r", "b"]}]}


def plan_of(topo: dict, tmp: Path) -> Plan:
    path = tmp / f"{topo['name']}.yaml"
    path.write_text(yaml.safe_dump(topo, sort_keys=False))
    return make_plan(load_topology(str(path)))


def tcp_through_router(backend: str, tmp: Path, engines: int | None = None) -> dict[str, Any]:
    """Mbit/s of one CUBIC flow a -> b, and the engines' CPU per frame over it."""
    plan = plan_of(router_topology(backend), tmp)
    with Testbed(plan, **(testbed_kwargs(engines) if backend == "engine" else {})) as tb:
        tb.wait_converged(timeout_s=60)
        addr = tb.address_of("b")
        server = tb.node("b").popen(["iperf3", "-s", "-1", "-B", addr],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        tb.ping("a", "b", count=2)   # neighbours resolved before the clock starts; also waits for the server
        if backend == "engine":
            tb.reseed_links(plan.topology.seed)
        pids = engine_pids(tb.run_id) if backend == "engine" else []
        c0 = cpu_s(pids)
        cp = tb.node("a").cmd(["iperf3", "-c", addr, "-C", "cubic", "-t", str(TCP_SECONDS), "-J"],
                              timeout=TCP_SECONDS + 30)
        cpu = cpu_s(pids) - c0
        server.wait(timeout=10)
        rep = json.loads(cp.stdout or "{}")
        if "end" not in rep:
            raise RuntimeError(f"iperf3 a -> b on {backend}: {rep.get('error') or cp.stderr.strip()}")
        out: dict[str, Any] = {"value": rep["end"]["sum_received"]["bits_per_second"] / 1e6,
                               "retransmits": rep["end"]["sum_sent"].get("retransmits")}
        if backend == "engine":
            stats = tb.link_stats() or {}
            frames = sum(d.get("frames_out", 0) for dirs in stats.values() for d in dirs.values()
                         if isinstance(d, dict))
            p99 = max((d["lateness_s"]["p99"] for dirs in stats.values() for d in dirs.values()
                       if isinstance(d, dict) and d.get("frames_out")), default=0.0)
            out.update({"engine_procs": len(pids), "lat_p99_ms": p99 * 1e3,
                        "cpu_us_per_frame": 1e6 * cpu / max(frames, 1)})
    return out


def _pass_through(client: EngineClient, path: str, frame: int) -> tuple[float, float | None]:
    """(frames/s the iperf3 receiver got, the engine's lateness p99 in ms) through one fresh link."""
    pr = NsPair()
    try:
        if path == "veth":
            pr.open_veth()
        else:
            pr.open_engine(client, P(), P(), seed=1)
        fps, _, _ = _udp_blast(pr, frame)
        if path == "veth":
            return fps, None
        return fps, client.stats(pr.link_id)[pr.link_id]["ab"]["lateness_s"]["p99"] * 1e3
    finally:
        pr.close()


def _summary(test: str, unit: str, engines: int, target: float, pairs: list[tuple[float, float]]) -> dict:
    """One row from (engine, veth) pairs measured back to back: medians, and the ratio's median and range."""
    ratios = [e / v for e, v in pairs]
    ratio = statistics.median(ratios)
    return {"test": test, "unit": unit, "engines": engines, "engine": statistics.median(e for e, _ in pairs),
            "veth": statistics.median(v for _, v in pairs), "x_veth": ratio,
            "x_veth_range": f"{min(ratios):.2f}-{max(ratios):.2f}", "target": f">= {target}",
            "met": "yes" if ratio >= target else "no"}


def _pass_through_rows(repeats: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="tbe-speed-") as work:
        with EngineProcess(work, name="speed") as client:
            for frame in (1514, 64):
                pairs, late = [], []
                for _ in range(repeats):
                    veth, _ = _pass_through(client, "veth", frame)
                    eng, p99 = _pass_through(client, "engine", frame)
                    pairs.append((eng, veth))
                    late.append(p99 or 0.0)
                row = _summary(f"pass-through, UDP -b 0, {frame} B", "frames/s", 1, TARGETS[frame], pairs)
                rows.append({**row, "lat_p99_ms": max(late)})
    return rows


def _router_rows(repeats: int) -> list[dict]:
    counts = engine_counts()
    pairs: dict[int | None, list[tuple[float, float]]] = {n: [] for n in counts}
    last: dict[int | None, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="tbe-speed-") as work:
        for _ in range(repeats):
            veth = tcp_through_router("veth", Path(work))
            for n in counts:
                eng = tcp_through_router("engine", Path(work), n)
                pairs[n].append((eng["value"], veth["value"]))
                last[n] = {**eng, "veth_retransmits": veth["retransmits"]}
    rows = []
    for n in counts:
        eng = last[n]
        row = _summary("CUBIC TCP through a router, 2 links", "Mbit/s", eng["engine_procs"], TARGETS["router"],
                       pairs[n])
        rows.append({**row, "lat_p99_ms": eng["lat_p99_ms"], "cpu_us_per_frame": eng["cpu_us_per_frame"],
                     "retransmits": f"{eng['retransmits']} / {eng['veth_retransmits']}"})
    return rows


def run() -> list[dict]:
    repeats = int(os.environ.get("BENCH_SPEED_REPEATS", "3"))
    return _pass_through_rows(repeats) + _router_rows(repeats)

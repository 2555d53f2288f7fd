"""A district under load: 10 CUBIC downloads at once through a 50-router district, engine links vs
plain veth capped at the same rates, in one run (issue 29).

The district is bench/district.py's (static routing, so no routing daemons share the CPU), with a
village host on every 4th tower; the 10 hosts farthest from the internet node (5-7 hops) each pull
one iperf3 TCP flow (CUBIC, -R) from it for SECONDS, all at once. Every link is 100 Mbit/s (the
microwave hops are capped from 359 Mbit/s; the LANs and the gw--pop fiber already are); delays are
the generator's (distance plus equipment). All flows share internet--gw--pop, so the total is
bounded by 100 Mbit/s there: the row says whether the engine delivers what veth does and how late
it is meanwhile, not how much it can carry.

Beside it, the same district with `backend: veth` on every link (no delay: netem does not exist on
this kernel) and a tbf qdisc on each veth end at that end's rate, in place of the pass-through
pfifo_fast the pinned environment sets.

Engine columns: trunk_Mbit_s, the bytes the engine wrote on internet->gw over SECONDS (its own count of
what all flows shared, beside iperf3's); lateness p99 of the worst link direction and the largest max over all directions
(counters zeroed just before the flows start), the frames the engine(s) wrote (every hop of a frame
counts), and the engine processes' CPU time (user + sys, /proc/PID/stat) per frame written. The daemon
busy-polls when its next departure is under ~20 us away, likely much of the time at these frame rates:
cpu_us_per_frame is then an upper bound on the cost of a frame (a busy core divided by the frames), not
the cost itself.

BENCH_DISTRICT_REPEATS (default 2) repeats the pair; BENCH_ENGINES="1,2" sets the engine counts to run,
"default" meaning Testbed's own choice (default: 1 and 2 when Testbed takes `engines`, else its one engine).
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import subprocess
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

import yaml

from testbed.emulation import Testbed, names, registry
from testbed.topology.load import load_topology
from testbed.topology.plan import Plan, make_plan

from .district import district

log = logging.getLogger(__name__)

TITLE = "District under load: 50 routers, 10 CUBIC downloads on 100 Mbit/s links, engine vs tbf-capped veth"
ROUTERS = 50
HOST_EVERY = 4          # 12 village hosts on 48 towers; the 10 farthest get a flow
FLOWS = 10
RATE = "100Mbit"
SECONDS = 12
TBF_BURST_B = 15140     # ten full frames: tbf lets a short burst through at line rate, the engine none
PORT0 = 5201


def district_topology(backend: str) -> dict:
    """The 50-router district at 100 Mbit/s everywhere ("engine"), or the same nodes and links as
    unimpaired veth pairs ("veth"; the rates go on as tbf after bring-up)."""
    topo = district(ROUTERS, "static", host_every=HOST_EVERY)
    for lk in topo["links"]:
        if backend == "engine":
            lk["rate"] = RATE
        else:
            lk.pop("profile", None)
            lk.pop("rate", None)
            lk["backend"] = "veth"
    topo["name"] = f"{topo['name']}-{backend}"
    return topo


def plan_of(topo: dict, tmp: Path) -> Plan:
    path = tmp / f"{topo['name']}.yaml"
    path.write_text(yaml.safe_dump(topo, sort_keys=False))
    return make_plan(load_topology(str(path)))


def hops_from(topo: dict, src: str) -> dict[str, int]:
    """Links crossed from src to every node on the cheapest path (the tree: the ring hops cost 50)."""
    adj: dict[str, list[str]] = {}
    for lk in topo["links"]:
        if lk.get("cost", 10) > 10:
            continue
        a, b = lk["endpoints"]
        adj.setdefault(a, []).append(b)
        adj.setdefault(b, []).append(a)
    dist = {src: 0}
    todo = deque([src])
    while todo:
        u = todo.popleft()
        for v in adj.get(u, []):
            if v not in dist:
                dist[v] = dist[u] + 1
                todo.append(v)
    return dist


def far_hosts(topo: dict, n: int) -> list[tuple[str, int]]:
    """The n village hosts farthest from the internet node, with their hop counts."""
    dist = hops_from(topo, "internet")
    hosts = [h for h, nd in topo["nodes"].items() if nd["kind"] == "host" and h != "internet"]
    return sorted(((h, dist[h]) for h in hosts), key=lambda x: (-x[1], x[0]))[:n]


def cap_veth(tb: Testbed, rates: dict[str, tuple[float, float]]) -> int:
    """A tbf on every veth end at the rate the engine link gives that direction; returns qdiscs set."""
    per_node: dict[str, list[str]] = {}
    for lk in tb.plan.links:
        ab, ba = rates[lk.name]
        for end, rate_bps in ((lk.a, ab), (lk.b, ba)):
            # limit: the engine's 1000-packet queue in bytes, so both drop at the same backlog
            per_node.setdefault(end.node, []).append(
                f"qdisc replace dev {end.name} root tbf rate {int(rate_bps)}bit burst {TBF_BURST_B} "
                f"limit {1000 * 1514}")
    for node, lines in per_node.items():
        cp = tb.node(node).ctl(["tc", "-batch", "-"], input="\n".join(lines) + "\n", timeout=30)
        if cp.returncode != 0:
            raise RuntimeError(f"{node}: tc could not set tbf: {cp.stderr.strip()}")
    return sum(map(len, per_node.values()))


# ---- engine processes and their CPU -------------------------------------------------------------

def engine_pids(run_id: str) -> list[int]:
    """The run's live engine processes (as its marker records them) and their descendants."""
    pids = [r.pid for r in registry.read_records(names.marker_dir(run_id))
            if r.role == "engine" and registry.still_ours(r)]
    seen: list[int] = []
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.append(pid)
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    return seen


def cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds of these processes (all their threads) so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def lateness(stats: dict[str, Any]) -> dict[str, Any]:
    """Worst p99 (with its link direction), largest max and frames written, over every link direction."""
    worst = ("", 0.0)
    late_max = 0.0
    frames = 0
    for link, dirs in stats.items():
        for d, c in dirs.items():
            if not isinstance(c, dict) or "lateness_s" not in c:
                continue
            frames += c.get("frames_out", 0)
            lat = c["lateness_s"]
            if c.get("frames_out", 0) and lat["p99"] > worst[1]:
                worst = (f"{link} {d}", lat["p99"])
            late_max = max(late_max, lat["max"] or 0.0)
    return {"lat_p99_ms": worst[1] * 1e3, "worst_dir": worst[0], "lat_max_ms": late_max * 1e3, "frames": frames}


# ---- the flows ------------------------------------------------------------------------------------

def download(tb: Testbed, hosts: list[str], seconds: int = SECONDS) -> tuple[float, list[float]]:
    """Each host pulls one CUBIC flow from the internet node, all at once: (total Mbit/s, Mbit/s each).

    The total is all bytes received over the longest flow's time: the flows start a few ms apart, and a
    sum of averages over different windows can exceed what the shared links carry."""
    server = tb.node("internet")
    addr = tb.address_of("internet")
    servers = [server.popen(["iperf3", "-s", "-1", "-p", str(PORT0 + i), "-B", addr],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(len(hosts))]
    time.sleep(0.5)
    clients = [tb.node(h).popen(["iperf3", "-c", addr, "-p", str(PORT0 + i), "-R", "-C", "cubic",
                                 "-t", str(seconds), "-J"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for i, h in enumerate(hosts)]
    out = []
    try:
        for h, c in zip(hosts, clients, strict=True):
            stdout, stderr = c.communicate(timeout=seconds + 30)
            rep = json.loads(stdout or "{}")
            if "error" in rep or "end" not in rep:
                raise RuntimeError(f"iperf3 on {h}: {rep.get('error') or stderr.strip()}")
            out.append(rep["end"]["sum_received"])
    finally:
        for p in servers:
            try:
                p.wait(timeout=5)
            except Exception:  # noqa: BLE001 - the teardown stops what is left
                pass
    total = sum(r["bytes"] for r in out) * 8 / max(r["seconds"] for r in out) / 1e6
    return total, [r["bits_per_second"] / 1e6 for r in out]


def testbed_kwargs(engines: int | None) -> dict[str, Any]:
    return {} if engines is None else {"engines": engines}


def engine_counts() -> list[int | None]:
    """BENCH_ENGINES, else 1 and 2 once Testbed shards links over engines, else the one engine."""
    env = os.environ.get("BENCH_ENGINES")
    if env:
        return [None if x == "default" else int(x) for x in env.split(",")]
    return [1, 2] if "engines" in inspect.signature(Testbed.__init__).parameters else [None]


def district_run(backend: str, tmp: Path, hosts: list[str], rates: dict[str, tuple[float, float]],
                 engines: int | None = None) -> dict[str, Any]:
    """One bring-up of the district on `backend`, the downloads, the counters; one table row."""
    plan = plan_of(district_topology(backend), tmp)
    label = backend if engines is None else f"{backend} x{engines}"
    row: dict[str, Any] = {"path": label}
    with Testbed(plan, **(testbed_kwargs(engines) if backend == "engine" else {})) as tb:
        row["up_s"] = tb.timings["up_s"]
        tb.wait_converged(timeout_s=120)
        if backend == "veth":
            cap_veth(tb, rates)
        else:
            tb.reseed_links(plan.topology.seed)     # zero the counters: only the flows' frames count
        pids = engine_pids(tb.run_id) if backend == "engine" else []
        c0 = cpu_s(pids)
        total, flows = download(tb, hosts)
        cpu = cpu_s(pids) - c0
        row.update({"goodput_Mbit_s": total, "flow_min": min(flows), "flow_max": max(flows)})
        if backend == "engine":
            stats = tb.link_stats() or {}
            late = lateness(stats)
            # the engine's own count of the shared first hop: a check on iperf3's total
            row["trunk_Mbit_s"] = stats["internet--gw"]["ab"]["bytes_out"] * 8 / SECONDS / 1e6
            row.update({k: late[k] for k in ("lat_p99_ms", "worst_dir", "lat_max_ms")})
            row.update({"engine_procs": len(pids), "frames": late["frames"], "cpu_s": cpu,
                        "cpu_us_per_frame": 1e6 * cpu / max(late["frames"], 1)})
    return row


def link_rates(tmp: Path) -> dict[str, tuple[float, float]]:
    """Each link's (a->b, b->a) rate as the engine district has it: the veth caps copy these."""
    plan = plan_of(district_topology("engine"), tmp)
    rates = {lk.name: (lk.params.ab.rate_bps, lk.params.ba.rate_bps) for lk in plan.links}
    uncapped = sorted(name for name, (ab, ba) in rates.items() if ab != 100e6 or ba != 100e6)
    if uncapped:
        raise RuntimeError(f"links not at {RATE} in the engine district: {', '.join(uncapped)}")
    return {name: (float(ab or 0), float(ba or 0)) for name, (ab, ba) in rates.items()}


def run() -> list[dict]:
    repeats = int(os.environ.get("BENCH_DISTRICT_REPEATS", "2"))
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="tbe-district-") as work:
        tmp = Path(work)
        chosen = far_hosts(district_topology("engine"), FLOWS)
        hosts = [h for h, _ in chosen]
        rates = link_rates(tmp)
        for rep in range(1, repeats + 1):
            veth = district_run("veth", tmp, hosts, rates)
            veth["run"] = rep
            rows.append(veth)
            for n in engine_counts():
                eng = district_run("engine", tmp, hosts, rates, n)
                eng["run"] = rep
                eng["x_veth"] = eng["goodput_Mbit_s"] / veth["goodput_Mbit_s"]
                rows.append(eng)
            log.info("district run %d: %s", rep, rows[-1])
    hops = sorted({h for _, h in chosen})
    for r in rows:
        r["flows"] = f"{FLOWS} x {SECONDS}s, {hops[0]}-{hops[-1]} hops"
    order = ["run", "path", "flows", "goodput_Mbit_s", "x_veth", "trunk_Mbit_s", "flow_min", "flow_max", "lat_p99_ms",
             "worst_dir", "lat_max_ms", "engine_procs", "frames", "cpu_s", "cpu_us_per_frame", "up_s"]
    return [{k: r.get(k) for k in order} for r in rows]

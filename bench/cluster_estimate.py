"""Cluster (issue 27): the 1-server rows measured here, and a paper estimate for a 5,000-site province.

Measured: generated OSPF districts (bench/district.py, unnumbered backhaul) of 100 and 300 routers on
this machine: bring-up, convergence, teardown, memory per router (`Testbed.memory()`: PSS of zebra,
ospfd and the node shell; the engines' total), the machine's peak memory above idle, and the CPU
seconds of this process and everything it started (FRR daemons, shells, engine, helpers) per router,
split by phase, zebra and ospfd apart. Kernel work in softirq or kworkers is not in those seconds.

The rows for 1, 2 and 3 fake servers are bench/cluster_spread.py's (a district spread over servers).

Estimated, from those rows only (docs/cluster.md, "What a province would take (estimate)"): a
5,000-router district placed on 10 servers of 32 cores by testbed's own placement (the cut links and
the busiest server's routers are counted, not assumed), then per server: memory, bring-up and
convergence, each a range with the inputs it came from.

BENCH_CLUSTER_SIZES="100,300" picks the measured sizes (two are needed for the estimate),
BENCH_CLUSTER_RUNS=2 the runs of each (the fastest is kept, all are shown), BENCH_PROVINCE=5000 the
province's routers.
"""

from __future__ import annotations

import math
import os
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testbed.cluster.model import Cluster, Server
from testbed.cluster.placement import place
from testbed.topology.load import load_topology
from testbed.topology.plan import make_plan

from .district import district_yaml
from .scale import PeakMemory

TITLE = "Cluster: 1-server district rows (measured) and a 5,000-site province on 10 servers (paper estimate)"
SIZES = (100, 300)
RUNS = 2                 # per size; the fastest is kept (the machine is shared: a busy moment only adds time)
PROVINCE_ROUTERS = 5000
PROVINCE_SERVERS = 10
SERVER_CORES = 32
SERVER_MEMORY_BYTES = 128 << 30
UNDERLAY_MTU = 1600
# zebra opens two rtnetlink sockets that listen to route changes (docs/performance.md, "Why unnumbered
# links halve the cost"): each installed route is announced to every one of them on the same kernel.
LISTENERS_PER_ROUTER = 2
CONVERGE_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Measured:
    """What one 1-server district row gives the estimate."""

    routers: int
    routes: float          # prefixes per router in its table
    up_s: float
    converged_s: float
    router_kib: float      # PSS of zebra + ospfd + shell
    engine_kib: float      # the engines' PSS, per router
    peak_kib: float        # the machine's peak above idle, per router (kernel, testbed and hosts included)
    zebra_cpu_s: float     # CPU seconds per router, bring-up and convergence
    ospfd_cpu_s: float
    cpu_up_s: float        # everything's CPU seconds per router during bring-up

    @property
    def notifications(self) -> float:
        """Route announcements x listeners on this kernel: the cost docs/emulation.md calls cubic."""
        return self.routers * self.routes * LISTENERS_PER_ROUTER * self.routers


# ---- CPU of this process and its descendants -------------------------------------------------------

def proc_stats() -> dict[int, tuple[int, str, float]]:
    """pid -> (ppid, comm, CPU seconds of it and its reaped children), from /proc/PID/stat."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            text = (d / "stat").read_text()
        except OSError:      # it ended while we looked
            continue
        comm = text[text.index("(") + 1:text.rindex(")")]
        f = text[text.rindex(")") + 2:].split()
        # after the comm: state ppid ... utime(12th) stime cutime cstime, counted from state as 0
        out[int(d.name)] = (int(f[1]), comm, sum(int(x) for x in f[11:15]) / tick)
    return out


def tree_cpu_s() -> dict[str, float]:
    """CPU seconds of this process and every descendant, live or reaped: zebra, ospfd and the rest."""
    stats = proc_stats()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    out = {"zebra": 0.0, "ospfd": 0.0, "rest": 0.0}
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        ru = resource.getrusage(who)
        out["rest"] += ru.ru_utime + ru.ru_stime
    todo = list(children.get(os.getpid(), []))
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        _, comm, cpu = stats[pid]
        out[comm if comm in out else "rest"] += cpu
    return out


def _delta(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {k: b[k] - a[k] for k in a}


# ---- measured rows ------------------------------------------------------------------------------------

def measure(n: int, tmp: str) -> tuple[dict[str, Any], Measured]:
    """Bring a district of n routers up on this machine, converge, measure, tear down."""
    from testbed.emulation import Testbed
    from testbed.emulation.clean import leftovers
    path = Path(tmp) / f"district-{n}.yaml"
    path.write_text(district_yaml(n, "ospf"))
    plan = make_plan(load_topology(str(path)))
    with PeakMemory() as peak:
        tb = Testbed(plan)
        cpu0 = tree_cpu_s()
        t0 = time.monotonic()
        try:
            tb.start()
            up_s = time.monotonic() - t0
            cpu1 = tree_cpu_s()
            rd = tb.wait_converged(timeout_s=CONVERGE_TIMEOUT_S)
            cpu2 = tree_cpu_s()
            mem = tb.memory()
        finally:
            t1 = time.monotonic()
            tb.stop()
            down_s = time.monotonic() - t1
    up, both = _delta(cpu0, cpu1), _delta(cpu0, cpu2)
    m = Measured(routers=n, routes=rd.prefixes / max(rd.routers, 1), up_s=up_s, converged_s=rd.waited_s,
                 router_kib=mem["per_router_kb"]["total"], engine_kib=mem["engine_kb"] / n, peak_kib=peak.peak / n,
                 zebra_cpu_s=both["zebra"] / n, ospfd_cpu_s=both["ospfd"] / n, cpu_up_s=sum(up.values()) / n)
    left = leftovers(tb.run_id)
    row = {"row": f"1 server, {n} routers (measured)", "servers": 1, "routers": n, "routers/server": n,
           "up_s": up_s, "converged_s": rd.waited_s, "down_s": down_s,
           "memory/server_gib": peak.peak / 2**20, "cut_links": 0, "left": len(left) or "nothing",
           "from": (f"{m.routes:.0f} routes/router; per router: PSS {m.router_kib / 1024:.1f} MiB (zebra "
                    f"{mem['per_router_kb']['zebra'] / 1024:.1f}, ospfd {mem['per_router_kb']['ospfd'] / 1024:.1f}, "
                    f"shell {mem['per_router_kb']['shell'] / 1024:.1f}), engines {m.engine_kib:.0f} KiB, "
                    f"peak {m.peak_kib / 1024:.1f} MiB; CPU/router: bring-up {1000 * m.cpu_up_s:.0f} ms, "
                    f"to converged zebra {1000 * m.zebra_cpu_s:.0f} ms, ospfd {1000 * m.ospfd_cpu_s:.0f} ms, "
                    f"rest {1000 * both['rest'] / n:.0f} ms")}
    return row, m


# ---- the province: placement and estimate ----------------------------------------------------------------

@dataclass(frozen=True)
class Province:
    """A generated district of `routers` placed on `servers` servers by testbed's placement."""

    routers: int
    servers: int
    busiest_routers: int    # routers on the server that got the most
    busiest_nodes: int
    cut_links: int
    most_tunnels: int       # cut links ending on one server
    server_pairs: int       # pairs of servers with at least one tunnel between them
    cut_mbps: float
    overhead: int
    place_s: float


def province_cluster(servers: int = PROVINCE_SERVERS) -> Cluster:
    """10 real-sized servers (addresses from TEST-NET-1: the placement never connects)."""
    return Cluster(servers=tuple(Server(name=f"s{i}", address=f"192.0.2.{10 + i}", cores=SERVER_CORES,
                                        mtu=UNDERLAY_MTU, memory_bytes=SERVER_MEMORY_BYTES)
                                 for i in range(1, servers + 1)))


def place_province(routers: int, tmp: str, servers: int = PROVINCE_SERVERS) -> Province:
    path = Path(tmp) / f"province-{routers}.yaml"
    path.write_text(district_yaml(routers, "ospf"))
    topo = load_topology(str(path))
    t0 = time.monotonic()
    pl = place(topo, province_cluster(servers))
    place_s = time.monotonic() - t0
    kinds = {n.name: n.kind for n in topo.nodes}
    per = {s: pl.nodes_on(s) for s in pl.servers}
    ends: dict[str, int] = {}
    for c in pl.cut:
        for s in (c.server_a, c.server_b):
            ends[s] = ends.get(s, 0) + 1
    return Province(routers=routers, servers=servers,
                    busiest_routers=max(sum(kinds[n] == "router" for n in ns) for ns in per.values()),
                    busiest_nodes=max(len(ns) for ns in per.values()), cut_links=len(pl.cut),
                    most_tunnels=max(ends.values(), default=0),
                    server_pairs=len({frozenset((c.server_a, c.server_b)) for c in pl.cut}),
                    cut_mbps=pl.cost_mbps, overhead=pl.overhead, place_s=place_s)


def _exponent(y1: float, y2: float, x1: float, x2: float) -> float:
    """k in y = c * x^k through two points."""
    return math.log(y2 / y1) / math.log(x2 / x1)


def _range(a: float, b: float, digits: int = 0) -> str:
    lo, hi = sorted((a, b))
    return f"{lo:,.{digits}f}-{hi:,.{digits}f}"


def estimate(small: Measured, large: Measured, prov: Province, small_up_s: Sequence[float] = (),
             large_up_s: Sequence[float] = ()) -> list[dict[str, Any]]:
    """Per-server memory, bring-up and convergence for the province, each a range, from two measured rows.

    small_up_s, large_up_s: every run's bring-up time at each size (default: the rows' own); the bring-up
    exponent's range is what every pairing of them gives, so a noisy machine widens the range.

    Pure: no root, no network. The province is one OSPF area like the districts, so every router holds
    the whole province's routes whichever server it is on; a server's kernel announces each of its
    routers' routes to its own zebras' listeners only.
    """
    n = prov.busiest_routers
    # routes per router grow linearly with the district (loopbacks and village LANs)
    r_slope = (large.routes - small.routes) / (large.routers - small.routers)
    routes = large.routes + r_slope * (prov.routers - large.routers)
    # memory: PSS per router is linear in its routes (zebra's RIB, ospfd's LSDB)
    # (clamped at 0: two noisy rows can fit a shrinking router, which no router does)
    kib_per_route = max((large.router_kib - small.router_kib) / (large.routes - small.routes), 0.0)
    router_kib = large.router_kib + kib_per_route * (routes - large.routes)
    pss_gib = n * (router_kib + large.engine_kib) / 2**20
    # the machine's peak per router (kernel tables, testbed and hosts too), grown by its own fitted slope
    peak_per_route = max((large.peak_kib - small.peak_kib) / (large.routes - small.routes), kib_per_route)
    peak_gib = n * (large.peak_kib + peak_per_route * (routes - large.routes)) / 2**20
    # bring-up: linear growth from the larger size, and the exponents the runs measured, each from its own
    # larger run (an exponent from a busy 300 with a quiet 100 belongs with the busy 300)
    ks = [(_exponent(a, b, small.routers, large.routers), b)
          for a in (small_up_s or [small.up_s]) for b in (large_up_s or [large.up_s])]
    ups = [b * (n / large.routers) ** k for k, b in ks] + [large.up_s * n / large.routers]
    k_lo, k_hi = min(k for k, _ in ks), max(k for k, _ in ks)
    # convergence: zebra CPU per router = a + b * (routes x listeners): b is the cost of one announcement
    # to one listener. The kernel holds the global RTNL lock while it announces (docs/performance.md), so
    # that part is serial however many cores a server has; the rest spreads over them.
    x_s = small.routes * LISTENERS_PER_ROUTER * small.routers
    x_l = large.routes * LISTENERS_PER_ROUTER * large.routers
    b = (large.zebra_cpu_s - small.zebra_cpu_s) / (x_l - x_s)
    a = small.zebra_cpu_s - b * x_s
    announce = routes * LISTENERS_PER_ROUTER * n
    serial_s = n * max(b, 0.0) * announce
    k_ospfd = _exponent(small.ospfd_cpu_s, large.ospfd_cpu_s, small.routes, large.routes)
    ospfd_s = n * large.ospfd_cpu_s * (routes / large.routes) ** k_ospfd
    parallel_s = (n * max(a, 0.0) + ospfd_s) / SERVER_CORES
    w = n * routes * LISTENERS_PER_ROUTER * n
    k_conv = _exponent(small.converged_s, large.converged_s, small.notifications, large.notifications)
    conv_exp = large.converged_s * (w / large.notifications) ** k_conv
    conv_cpu = large.converged_s + serial_s + parallel_s
    inputs = (f"measured {small.routers} and {large.routers} routers on 1 server; province "
              f"{prov.routers:,} routers placed on {prov.servers} x {SERVER_CORES}-core servers, busiest "
              f"{n} routers ({prov.busiest_nodes} nodes), {routes:,.0f} routes/router")
    name = f"province {prov.routers:,} routers, {prov.servers} x {SERVER_CORES}-core servers (estimate)"
    return [
        {"row": f"{name}: placement", "servers": prov.servers, "routers": prov.routers, "routers/server": n,
         "cut_links": prov.cut_links,
         "from": (f"testbed.cluster.placement on a generated {prov.routers:,}-router district in {prov.place_s:.0f} s: "
                  f"{prov.cut_links} tunnels ({prov.overhead}-byte overhead each), at most {prov.most_tunnels} "
                  f"ending on one server, {prov.server_pairs} server pairs, {prov.cut_mbps:,.0f} Mbit/s of link "
                  "rate cut; counted, not estimated")},
        {"row": f"{name}: memory per server", "servers": prov.servers, "routers/server": n,
         "memory/server_gib": _range(pss_gib, peak_gib, 1),
         "from": (f"{inputs}; per router {router_kib / 1024:.1f} MiB PSS (+{kib_per_route:.1f} KiB per route, "
                  f"fitted on the two rows) + engines {large.engine_kib:.0f} KiB; other end: the machine's peak "
                  f"per router at {large.routers} ({large.peak_kib / 1024:.1f} MiB) + {peak_per_route:.1f} KiB "
                  "per route (its own slope, machine-wide so noisier); "
                  f"against {SERVER_MEMORY_BYTES >> 30} GiB a server")},
        {"row": f"{name}: bring-up per server", "servers": prov.servers, "routers/server": n,
         "up_s": _range(min(ups), max(ups)),
         "from": (f"extrapolation: up_s {small.up_s:.1f} -> {large.up_s:.1f} s measured, exponent "
                  f"{_range(k_lo, k_hi, 2)} in routers over every pair of runs, and linear; on this 2-core machine's speed (32 cores are not "
                  "credited: links and addresses go through the one RTNL lock); servers in parallel, "
                  f"ssh and tunnel set-up not counted; {inputs}")},
        {"row": f"{name}: convergence", "servers": prov.servers, "routers/server": n,
         "converged_s": _range(conv_exp, conv_cpu),
         "from": (f"extrapolation: low, converged_s {small.converged_s:.1f} -> {large.converged_s:.1f} s "
                  f"measured, exponent {k_conv:.2f} in announcements (routers x routes x listeners: "
                  f"{w:.2e} per server against {large.notifications:.2e}); high, {large.converged_s:.0f} s + "
                  f"route announcements serial under RTNL {serial_s:.0f} s ({b * 1e9:.0f} ns each, fitted on "
                  f"zebra's CPU) + the rest of zebra and ospfd (ospfd exponent {k_ospfd:.2f} in routes) "
                  f"over {SERVER_CORES} cores {parallel_s:.0f} s; {inputs}")},
    ]


def run() -> list[dict[str, Any]]:
    """Measured rows first (each run printed to stderr as it finishes), then the pending rows, then the estimate."""
    sizes = [int(s) for s in os.environ.get("BENCH_CLUSTER_SIZES", ",".join(map(str, SIZES))).split(",")]
    province = int(os.environ.get("BENCH_PROVINCE", str(PROVINCE_ROUTERS)))
    runs = int(os.environ.get("BENCH_CLUSTER_RUNS", str(RUNS)))
    rows: list[dict[str, Any]] = []
    measured: list[Measured] = []
    up_s: list[list[float]] = []
    with tempfile.TemporaryDirectory(prefix="testbed-bench-") as tmp:
        for n in sizes:
            tries = []
            for _ in range(runs):
                row, m = measure(n, tmp)
                print(f"  {row['row']}: up {m.up_s:.1f} s, converged {m.converged_s:.1f} s, down "
                      f"{row['down_s']:.1f} s; {row['from']}", file=sys.stderr, flush=True)
                tries.append((row, m))
            # the least disturbed run stands for the machine's own cost (others' work only adds to it)
            row, m = min(tries, key=lambda t: t[1].up_s + t[1].converged_s)
            row["runs (up+converged s)"] = ", ".join(f"{t.up_s:.1f}+{t.converged_s:.1f}" for _, t in tries)
            rows.append(row)
            measured.append(m)
            up_s.append([t.up_s for _, t in tries])
        if len(measured) >= 2:
            prov = place_province(province, tmp)
            rows += estimate(measured[0], measured[-1], prov, up_s[0], up_s[-1])
    return rows

"""Cluster (issue 27): a 300-router district on 1, 2 and 3 fake servers, beside one machine in the same run.

Each cluster row starts a fake cluster of that many servers (tests/integration/cluster_fixture.py: sshd in
its own network, mount, PID and UTS namespaces, all on a 1500-byte bridge) and brings the district up
through the cluster path (testbed.cluster.network.ClusterNetwork: placement, one agent per server over
ssh, vxlan tunnels for the cut links), also with one server. Measured: bring-up (`up_s`, from the first
ssh to every server's part up; `part_up_s`: what each agent took for its own part), convergence
(`converged_s`: every adjacency Full, cut links too, every router's table complete, pings along the
longest paths), teardown (`down_s`), cut links, nodes and memory per server.

Memory per server: the proportional set size (PSS, so pages shared between processes, here or on another
server of the same kernel, are split between them) of every process of that server, read on this machine
from /proc: the server's PID 1 and all its descendants (sshd, the agent, FRR daemons, node shells, the
engine). Processes only: the kernel's memory for the namespaces, interfaces, routes and sockets is not in
it, nor this machine's ssh clients. The baseline counts this benchmark's own process and all its
descendants the same way.

The baseline row: the same district on this machine with testbed.emulation.Testbed (start,
wait_converged, stop), run first. All rows use one engine daemon (`engines=1`) and the district's OSPF
timers (hello 10 s, dead 40 s); every link has MTU 1450 so a cut link fits vxlan on the 1500-byte
underlay (docs/cluster.md).

BENCH_SPREAD_ROUTERS=300 sets the district's routers, BENCH_SPREAD_SERVERS="1,2,3" the cluster rows;
`python -m bench.cluster_spread --routers 60 [--servers 1,2,3] [--no-baseline]` for a quick check.
Needs root, sshd and unshare (the fake cluster's prerequisites).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from testbed.procs import pss_kib

from .cluster_estimate import proc_stats
from .district import district

TITLE = "Cluster: a district on 1, 2 and 3 fake servers beside one machine (bring-up, convergence, teardown, memory)"
ROUTERS = 300
SERVERS = (1, 2, 3)
CUT_MTU = 1450              # vxlan over the fake cluster's 1500-byte underlay (docs/cluster.md)
CONVERGE_TIMEOUT_S = 600.0
FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "integration" / "cluster_fixture.py"


def fixture() -> ModuleType:
    """tests/integration/cluster_fixture.py (not a package: loaded from its file, under the name its tests
    import it by, so the two are one module when both are loaded)."""
    if (mod := sys.modules.get("cluster_fixture")) is not None:
        return mod
    spec = importlib.util.spec_from_file_location("cluster_fixture", FIXTURE)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {FIXTURE}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["cluster_fixture"] = mod       # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def topology(tmp: Path, routers: int) -> Path:
    d = district(routers)
    d["defaults"]["link"] = {"mtu": CUT_MTU}
    f = tmp / f"district-{routers}.yaml"
    f.write_text(yaml.safe_dump(d, sort_keys=False))
    return f


# ---- memory: PSS of a process tree ----------------------------------------------------------------------

def tree_pss_kib(root: int) -> tuple[int, int]:
    """(PSS in KiB, processes) of root and every descendant."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in proc_stats().items():
        children.setdefault(ppid, []).append(pid)
    todo, total, count = [root], 0, 0
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        total += pss_kib(pid)
        count += 1
    return total, count


def _load() -> float:
    return os.getloadavg()[0]


# ---- rows ------------------------------------------------------------------------------------------------

def baseline(topo: Path, routers: int) -> dict[str, Any]:
    """The same district on this machine, one Testbed."""
    from testbed.emulation import Testbed
    from testbed.emulation.clean import leftovers
    from testbed.topology.load import load_topology
    from testbed.topology.plan import make_plan
    plan = make_plan(load_topology(str(topo)))
    load0 = _load()
    tb = Testbed(plan, engines=1)
    row: dict[str, Any] = {"row": "this machine (Testbed)", "servers": "-", "routers": routers,
                           "nodes/server": str(len(plan.nodes)), "cut_links": 0}
    t0 = time.monotonic()
    try:
        tb.start()
        row["up_s"] = time.monotonic() - t0
        row["part_up_s"] = None         # one part: up_s (the cluster rows' column order)
        row["converged_s"] = tb.wait_converged(timeout_s=CONVERGE_TIMEOUT_S).waited_s
        kib, procs = tree_pss_kib(os.getpid())
        row["memory/server_mib"] = f"{kib / 1024:,.0f}"
        row["memory_mib"] = kib / 1024
        row["processes"] = str(procs)
    finally:
        t1 = time.monotonic()
        tb.stop()
        row["down_s"] = time.monotonic() - t1
    row["left"] = len(leftovers(tb.run_id)) or "nothing"
    row["load_1min"] = f"{load0:.1f}-{_load():.1f}"
    return row


@contextmanager
def fake_cluster(tmp: Path, servers: int) -> Iterator[Any]:
    fx = fixture()
    if (why := fx.missing_prerequisites()) is not None:
        raise RuntimeError(why)
    tmp.mkdir(parents=True, exist_ok=True)
    with fx.start_fake_cluster(tmp, servers) as fc:
        yield fc


def spread(topo: Path, routers: int, servers: int, tmp: Path) -> dict[str, Any]:
    """The district through the cluster path on `servers` fake servers."""
    from testbed.cluster.load import load_cluster
    from testbed.cluster.network import ClusterNetwork
    row: dict[str, Any] = {"row": f"{servers} fake server{'s' if servers > 1 else ''}", "servers": servers,
                           "routers": routers}
    with fake_cluster(tmp / f"fake-{servers}", servers) as fc:
        load0 = _load()
        net = ClusterNetwork(topo, load_cluster(fc.inventory("vxlan")), fc.tmp, engines=1)
        names = [s.name for s in fc.servers]
        row["nodes/server"] = " / ".join(str(len(net.placement.nodes_on(s))) for s in names)
        row["cut_links"] = len(net.cuts)
        net.start()
        left: list[str] = []
        try:
            row["up_s"] = net.timings["up_s"]
            row["part_up_s"] = " / ".join(f"{(net.members[s].info or {}).get('seconds', 0):.1f}" for s in names)
            row["converged_s"] = net.wait_converged(CONVERGE_TIMEOUT_S).waited_s
            mem = [tree_pss_kib(s.init_pid) for s in fc.servers]
            row["memory/server_mib"] = " / ".join(f"{kib / 1024:,.0f}" for kib, _ in mem)
            row["memory_mib"] = sum(kib for kib, _ in mem) / 1024
            row["processes"] = " / ".join(str(n) for _, n in mem)
        finally:
            left = net.stop()
            row["down_s"] = net.timings["down_s"]
        row["left"] = "; ".join(left)[:200] or "nothing"
        row["load_1min"] = f"{load0:.1f}-{_load():.1f}"
    return row


def rows(routers: int = ROUTERS, servers: tuple[int, ...] = SERVERS, with_baseline: bool = True) -> list[dict[str, Any]]:
    """The baseline row, then one row per server count; each printed (stderr) as it finishes, and a row
    that fails is kept with its error: the rows after it still run."""
    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="testbed-bench-") as tmp:
        topo = topology(Path(tmp), routers)
        jobs: list[tuple[str, Any]] = [("this machine (Testbed)", lambda: baseline(topo, routers))] if with_baseline else []
        jobs += [(f"{k} fake servers", lambda k=k: spread(topo, routers, k, Path(tmp))) for k in servers]
        for name, job in jobs:
            try:
                row = job()
            except Exception as e:  # noqa: BLE001 - reported in the table
                row = {"row": name, "routers": routers, "error": f"{type(e).__name__}: {str(e)[:300]}"}
            print(f"  {row['row']}: " + ", ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                                                 for k, v in row.items() if k != "row"), file=sys.stderr, flush=True)
            out.append(row)
    return out


def run() -> list[dict[str, Any]]:
    routers = int(os.environ.get("BENCH_SPREAD_ROUTERS", str(ROUTERS)))
    servers = tuple(int(s) for s in os.environ.get("BENCH_SPREAD_SERVERS", ",".join(map(str, SERVERS))).split(","))
    return rows(routers, servers)


def main(argv: list[str]) -> int:
    import logging

    from . import format_table
    p = argparse.ArgumentParser(prog="python -m bench.cluster_spread", description=TITLE)
    p.add_argument("--routers", type=int, default=int(os.environ.get("BENCH_SPREAD_ROUTERS", str(ROUTERS))))
    p.add_argument("--servers", default=os.environ.get("BENCH_SPREAD_SERVERS", ",".join(map(str, SERVERS))),
                   help="server counts, comma-separated (default 1,2,3)")
    p.add_argument("--no-baseline", action="store_true", help="skip the one-machine row")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    out = rows(a.routers, tuple(int(s) for s in a.servers.split(",")), not a.no_baseline)
    print(f"\n## {TITLE}\n\n{format_table(out)}", flush=True)
    return 1 if any("error" in r for r in out) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

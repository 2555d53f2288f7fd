"""Bring-up and teardown time of emulated networks, beside plain Mininet in the same run.

Ours: chains of 10/50/100 routers and a 100-node tree with static routing over plain veth links
(what `mn --topo linear` builds too), plus a 50-router chain on engine links. Plain Mininet:
`mn --topo linear,N --switch lxbr --controller none --test none` (N hosts + N switches), timed
as a whole command (start, build, stop).
"""

from __future__ import annotations

import shutil
import subprocess
import time

from testbed.topology.load import load_topology
from testbed.topology.plan import make_plan

TITLE = "Bring-up and teardown: testbed vs plain Mininet"
SIZES = (10, 50, 100)


def chain_yaml(n: int, backend: str = "veth") -> str:
    extra = "" if backend == "veth" else ", delay: 1ms"
    lines = [f"name: chain-{n}", "defaults: {routing: static}", "nodes:"]
    lines += [f"  r{i}: {{kind: router}}" for i in range(n)]
    lines.append("links:")
    lines += [f"  - {{endpoints: [r{i}, r{i + 1}]{extra}}}" for i in range(n - 1)]
    return "\n".join(lines) + "\n"


def tree_yaml(n: int, fanout: int = 3) -> str:
    lines = [f"name: tree-{n}", "defaults: {routing: static}", "nodes:"]
    lines += [f"  n{i}: {{kind: {'router' if i * fanout + 1 < n else 'host'}}}" for i in range(n)]
    lines.append("links:")
    lines += [f"  - {{endpoints: [n{(i - 1) // fanout}, n{i}]}}" for i in range(1, n)]
    return "\n".join(lines) + "\n"


def _ours(label: str, text: str, tmp: str) -> dict:
    from testbed.emulation import Testbed
    path = f"{tmp}/{label}.yaml"
    with open(path, "w") as f:
        f.write(text)
    plan = make_plan(load_topology(path))
    t0 = time.monotonic()
    tb = Testbed(plan)
    tb.start()
    up = time.monotonic() - t0
    # replies leave with the kernel's default TTL (64): ping a node at most 60 hops away
    first, last = plan.topology.nodes[0].name, plan.topology.nodes[min(60, len(plan.nodes) - 1)].name
    ok = tb.node(first).cmd(["ping", "-c", "1", "-W", "2", "-t", "255", tb.address_of(last)]).returncode == 0
    t1 = time.monotonic()
    tb.stop()
    down = time.monotonic() - t1
    return {"network": label, "nodes": len(plan.nodes), "links": len(plan.links), "up_s": up, "down_s": down,
            "total_s": up + down, "end-to-end ping": "ok" if ok else "FAIL"}


def _mininet(n: int) -> dict:
    t0 = time.monotonic()
    cp = subprocess.run(["mn", "--topo", f"linear,{n}", "--switch", "lxbr", "--controller", "none",
                         "--test", "none"], capture_output=True, text=True, timeout=600)
    total = time.monotonic() - t0
    return {"network": f"plain mn linear,{n}", "nodes": 2 * n, "links": 2 * n - 1, "up_s": None,
            "down_s": None, "total_s": total, "end-to-end ping": "ok" if cp.returncode == 0 else "mn failed"}


def run() -> list[dict]:
    import tempfile
    rows = []
    with tempfile.TemporaryDirectory(prefix="testbed-bench-") as tmp:
        for n in SIZES:
            rows.append(_ours(f"chain-{n}", chain_yaml(n), tmp))
            if shutil.which("mn"):
                rows.append(_mininet(n))
        rows.append(_ours("tree-100", tree_yaml(100), tmp))
        rows.append(_ours("chain-50-engine", chain_yaml(50, "engine"), tmp))
    return rows


def table(rows: list[dict]) -> str:
    from . import format_table
    return format_table(rows)

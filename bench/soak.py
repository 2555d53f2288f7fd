"""Soak: many short runs back to back, and two side by side; nothing may pile up.

30 short scenario runs (OSPF ring with engine links: ping + TCP for 3 s, bring-up and teardown
each time) in this one process, then 3 rounds of 2 `testbed run` processes side by side. After
each, counted: this process's open fds, resident memory and threads; entries under /run
(markers, engine socket folders), testbed folders in /tmp, network namespaces and root
interfaces on the machine. Baseline in the same run: 30 plain Mininet networks (3 hosts, 3
Linux-bridge switches) started and stopped in-process, counted the same way.

Run it alone (it counts machine-wide): `flock /tmp/testbed-root.lock python -m bench soak`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TITLE = "Soak: 30 runs back to back, 2 side by side (counts must stay flat)"
RUNS = 30
SIDE_BY_SIDE_ROUNDS = 3

TOPOLOGY = """name: soak
defaults: {routing: ospf}
ospf: {hello: 1s, dead: 3s}
nodes:
  server: {kind: host}
  gw: {kind: router}
  pop: {kind: router}
  tower: {kind: router}
  village: {kind: host}
links:
  - {endpoints: [server, gw], backend: veth}
  - {endpoints: [gw, pop], delay: 2ms, rate: 50Mbit}
  - {endpoints: [pop, tower], delay: 1ms, rate: 50Mbit}
  - {endpoints: [tower, gw], delay: 20ms, rate: 10Mbit, cost: 100}
  - {endpoints: [tower, village], backend: veth}
"""

SCENARIO = """name: soak-run
topology: {topology}
duration: 3s
traffic:
  - {{name: probe, kind: ping, from: village, to: server, interval: 100ms}}
  - {{name: bulk, kind: tcp, from: server, to: village, start: 0.5s, duration: 2s}}
expect: [probe.loss < 50%]
"""


def counts() -> dict[str, int]:
    """What could pile up: ours (fds, memory, threads) and the machine's (/run, /tmp, netns, links)."""
    rss_kb = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
    spaces = set()
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                spaces.add(os.stat(p / "ns" / "net").st_ino)
            except OSError:
                pass
    run_entries = len(list(Path("/run/testbed").iterdir())) if Path("/run/testbed").is_dir() else 0
    run_entries += len(list(Path("/run").glob("testbed-*")))
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout.count("\n")
    return {"fds": len(os.listdir("/proc/self/fd")), "rss_MiB": rss_kb // 1024,
            "threads": len(os.listdir("/proc/self/task")), "/run entries": run_entries,
            "/tmp folders": len(list(Path("/tmp").glob("testbed-*"))), "netns": len(spaces),
            "root interfaces": links}


def _row(what: str, i: int, c: dict[str, int], took_s: float, status: str) -> dict:
    return {"what": what, "after run": i, **c, "run_s": round(took_s, 2), "status": status}


def _ours(tmp: Path) -> list[dict]:
    from testbed.emulation import Testbed
    from testbed.results.bundle import write_bundle
    from testbed.scenario.load import load_scenario
    from testbed.scenario.runner import ScenarioRun
    from testbed.topology.plan import make_plan
    (tmp / "soak.yaml").write_text(TOPOLOGY)
    (tmp / "run.yaml").write_text(SCENARIO.format(topology=tmp / "soak.yaml"))
    sc = load_scenario(tmp / "run.yaml")
    plan = make_plan(sc.topology)
    rows = [_row("testbed runs", 0, counts(), 0.0, "-")]
    for i in range(1, RUNS + 1):
        t0 = time.monotonic()
        out = tmp / f"out{i}"
        with Testbed(plan) as tb:
            result = ScenarioRun(sc, tb, out).run()
            write_bundle(result, out, tb.run_id, plan)
        shutil.rmtree(out)
        if i in (1, 2, 10, 20, RUNS) or result.status != "passed":
            rows.append(_row("testbed runs", i, counts(), time.monotonic() - t0, result.status))
    return rows


def _side_by_side(tmp: Path) -> list[dict]:
    rows = []
    testbed = [sys.executable, "-m", "testbed.cli", "run", str(tmp / "run.yaml"), "-q", "--no-report"]
    for r in range(1, SIDE_BY_SIDE_ROUNDS + 1):
        t0 = time.monotonic()
        procs = [subprocess.Popen([*testbed, "--out", str(tmp / f"pair{r}-{k}")], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True) for k in (1, 2)]
        codes = [p.wait(timeout=300) for p in procs]
        rows.append(_row("2 side by side", r, counts(), time.monotonic() - t0,
                         "passed" if codes == [0, 0] else f"exit {codes}"))
    return rows


def _mininet() -> list[dict]:
    from mininet.log import setLogLevel
    from mininet.net import Mininet
    from mininet.nodelib import LinuxBridge
    from mininet.topo import LinearTopo
    setLogLevel("error")
    rows = [_row("plain Mininet", 0, counts(), 0.0, "-")]
    for i in range(1, RUNS + 1):
        t0 = time.monotonic()
        net = Mininet(topo=LinearTopo(3), switch=LinuxBridge, controller=None, waitConnected=False)
        net.start()
        loss = net.pingAll(timeout=1)
        net.stop()
        if i in (1, 2, 10, 20, RUNS):
            rows.append(_row("plain Mininet", i, counts(), time.monotonic() - t0, f"ping loss {loss:.0f}%"))
    return rows


def run() -> list[dict]:
    tmp = Path(tempfile.mkdtemp(prefix="soak-"))
    try:
        rows = _ours(tmp)
        rows += _side_by_side(tmp)
        rows += _mininet()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


if __name__ == "__main__":
    from . import format_table
    print(format_table(run()))

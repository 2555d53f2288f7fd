"""Link engine departure lateness under CPU contention: scheduling options side by side."""

from __future__ import annotations

import os
import tempfile

from bench.nspair import NsPair
from testbed.engine.client import EngineProcess
from testbed.linkparams import DirectionParams as P

from .engine import SECONDS, _iperf

TITLE = "Link engine lateness: normal task vs CPU pinning vs SCHED_FIFO (TCP CUBIC, 5 ms each way)"
# (label, EngineProcess keyword arguments)
CONFIGS: list[tuple[str, dict]] = [
    ("normal, spin 150us", {"rt_priority": 0, "spin_us": 150}),
    ("pinned cpu1, spin 150us", {"rt_priority": 0, "cpus": "1", "spin_us": 150}),
    ("FIFO 10, spin 150us", {"rt_priority": 10, "spin_us": 150}),
    ("FIFO 10, spin 20us", {"rt_priority": 10, "spin_us": 20}),
    ("default (FIFO 10, spin 20us)", {}),
]


def _cpu_s(pid: int) -> float:
    """utime + stime of pid in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _one(label: str, kw: dict, mbit: int, work: str) -> dict:
    ep = EngineProcess(work, name=f"timing{mbit}", **kw)
    client = ep.start()
    pr = NsPair()
    try:
        pr.open_engine(client, P(rate_bps=mbit * 1e6, delay_s=0.005), P(delay_s=0.005), seed=1)
        cpu0 = _cpu_s(ep.pid)
        rep = _iperf(pr, ["-t", str(SECONDS), "-C", "cubic"])
        cpu = _cpu_s(ep.pid) - cpu0
        lat = client.stats(pr.link_id)[pr.link_id]["ab"]["lateness_s"]
        return {"rate": f"{mbit} Mbit/s", "engine": label,
                "Mbit_s": rep["end"]["sum_received"]["bits_per_second"] / 1e6,
                "engine_cpu_%": 100 * cpu / (SECONDS + 0.3),
                "lat_p50_ms": lat["p50"] * 1e3, "lat_p99_ms": lat["p99"] * 1e3, "lat_max_ms": lat["max"] * 1e3}
    finally:
        pr.close()
        ep.stop()


def run() -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="tbe-bench-") as work:
        for mbit in (10, 100):
            for label, kw in CONFIGS:
                rows.append(_one(label, kw, mbit, work))
    return rows

"""Link engine forwarding capacity per link configuration (unpaced iperf3 UDP through one link).

engine_fwd_per_s counts the frames the engine wrote (over the 5 s of sending); received_per_s what iperf3's
receiver got: the difference is lost in the receiving namespace (socket buffer, backlog), not in the engine.
user/sys_us_per_frame: the daemon's CPU time per frame written, in Python (user) and in the kernel (sys: the
TAP read and write, the write including the receiving namespace's IP/UDP path).

Set TESTBED_BENCH_BASELINE=<a checkout of an older testbed> to add rows of that engine in the same run
(its daemon is started from there): before/after in one table.
"""

from __future__ import annotations

import os
import tempfile
import time

from bench.nspair import NsPair
from testbed.engine.client import EngineProcess
from testbed.linkparams import Aqm
from testbed.linkparams import DirectionParams as P

from .engine import SECONDS, _udp_blast

TITLE = "Link engine capacity by link configuration (iperf3 UDP -b 0, 5 s)"
LINKS: list[tuple[str, P]] = [
    ("pass-through", P()),
    ("delay 5ms", P(delay_s=0.005)),
    ("delay 5ms + jitter 1ms + loss 0.1%", P(delay_s=0.005, jitter_s=0.001, loss_prob=0.001)),
    ("rate 2Gbit + delay 5ms", P(rate_bps=2e9, delay_s=0.005)),
    ("rate 2Gbit + delay 5ms + codel", P(rate_bps=2e9, delay_s=0.005, aqm=Aqm.defaults("codel"))),
    ("rate 2Gbit + delay 5ms + fq_codel", P(rate_bps=2e9, delay_s=0.005, aqm=Aqm.defaults("fq_codel"))),
]


def _cpu(pid: int) -> tuple[float, float]:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    tck = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tck, int(fields[12]) / tck


def _engine_rows(label: str, work: str, code_dir: str | None = None) -> list[dict]:
    rows = []
    ep = EngineProcess(work, name=f"cap-{label}")
    here = os.getcwd()
    if code_dir:
        os.chdir(code_dir)  # `python -m` puts the cwd first on sys.path: the daemon imports that code
    try:
        client = ep.start()
    finally:
        os.chdir(here)
    try:
        for link, params in LINKS:
            for frame in (1514, 64):
                pr = NsPair()
                try:
                    pr.open_engine(client, params, params, seed=1)
                    u0, s0 = _cpu(ep.pid)
                    t0 = time.monotonic()
                    fps, mbit, loss = _udp_blast(pr, frame)
                    wall = time.monotonic() - t0
                    u1, s1 = _cpu(ep.pid)
                    st = client.stats(pr.link_id)[pr.link_id]["ab"]
                    cpu = u1 - u0 + s1 - s0
                    rows.append({"engine": label, "link": link, "frame_B": frame,
                                 "engine_fwd_per_s": st["frames_out"] / SECONDS,
                                 "received_per_s": fps, "iperf_loss_%": loss,
                                 "engine_cpu_%": 100 * cpu / wall,
                                 "user_us_per_frame": 1e6 * (u1 - u0) / max(st["frames_out"], 1),
                                 "sys_us_per_frame": 1e6 * (s1 - s0) / max(st["frames_out"], 1),
                                 "lat_p99_ms": st["lateness_s"]["p99"] * 1e3})
                finally:
                    pr.close()
    finally:
        ep.stop()
    return rows


def run() -> list[dict]:
    rows = []
    baseline = os.environ.get("TESTBED_BENCH_BASELINE")
    with tempfile.TemporaryDirectory(prefix="tbe-bench-") as work:
        if baseline:
            rows += _engine_rows("before", work, baseline)
        rows += _engine_rows("after" if baseline else "current", work)
    return rows
